// Elementwise ops that convert or bound values: Cast, CastLike, Clip, Dropout (inference form) and
// linear (de)quantization with per-tensor, per-axis and blocked scales. Cast and (de)quantization
// also handle the low-precision storage types (float8, f8e8m0, f4e2m1, 4- and 2-bit integers).

import {
  ONNX_DTYPE_CODE, dtypeFromOnnx, isFloat, isFloat8, isInteger, isLowPrecision, isSubByteInt, lowPrecisionCode,
  onnxDtypeName, roundHalfEven, roundTo, type DType, type E8M0RoundMode,
} from '../ir/dtype.js';
import { packCodes } from '../ir/tensor.js';
import { attr } from '../ir/graph.js';
import { defineOp, UnsupportedError, type InferContext } from '../ir/ops.js';
import type { Dim, TensorType } from '../ir/types.js';
import { Attrs, OpError, TensorData, anyNumeric, normalizeAxis, requireInput, stridesOf } from './common.js';
import { checkDtype, describeDtypes, shapeValueMap } from './elementwise.js';

// Opset-1 Cast named its target type by TensorProto.DataType enum name.
const ONNX_TYPE_NAMES: Record<string, number> = {
  FLOAT: 1, UINT8: 2, INT8: 3, UINT16: 4, INT16: 5, INT32: 6, INT64: 7, STRING: 8, BOOL: 9, FLOAT16: 10, DOUBLE: 11,
  UINT32: 12, UINT64: 13, COMPLEX64: 14, COMPLEX128: 15, BFLOAT16: 16, FLOAT8E4M3FN: 17, FLOAT8E4M3FNUZ: 18,
  FLOAT8E5M2: 19, FLOAT8E5M2FNUZ: 20, UINT4: 21, INT4: 22, FLOAT4E2M1: 23, FLOAT8E8M0: 24, UINT2: 25, INT2: 26,
};

function onnxTypeAttr(op: string, name: string, code: number): DType {
  const d = dtypeFromOnnx(code);
  if (!d) throw new UnsupportedError(`${op} attribute '${name}' is ${onnxDtypeName(code)} (${code}), which is not supported`);
  return d;
}

interface CastMode {
  /** Out-of-range values and +-inf become +-max (float8, f8e8m0); otherwise inf or NaN. */
  saturate: boolean;
  /** How f8e8m0 rounds. */
  roundMode: E8M0RoundMode;
}

const DEFAULT_CAST: CastMode = { saturate: true, roundMode: 'up' };

function castMode(op: string, attrs: Attrs): CastMode {
  const roundMode = attrs.string('round_mode', 'up');
  if (roundMode !== 'up' && roundMode !== 'down' && roundMode !== 'nearest') {
    throw new OpError(`${op} attribute 'round_mode' must be 'up', 'down' or 'nearest', got '${roundMode}'`);
  }
  return { saturate: attrs.int('saturate', 1) !== 0, roundMode };
}

/**
 * Values of a cast: bool takes NaN to true (ONNX: only +-0 are false), which dtype rounding does not;
 * low-precision targets are encoded directly with the cast's saturate and round_mode, so a
 * non-saturating cast keeps the inf or NaN it produces.
 */
function castValues(src: TensorData, to: DType, mode: CastMode = DEFAULT_CAST): TensorData {
  if (src.dtype === to) return src;
  if (isLowPrecision(to)) {
    return TensorData.fromBytes(to, src.dims, packCodes(to, Array.from(src.values, (v) => lowPrecisionCode(to, v, mode.saturate, mode.roundMode))));
  }
  if (to !== 'bool') return TensorData.fromValues(to, src.dims, Float64Array.from(src.values));
  return TensorData.fromValues('bool', src.dims, Array.from(src.values, (v) => (v !== 0 ? 1 : 0)));
}

/** Known contents survive casts between integer types (symbols are assumed to fit). */
function castShapeValue(ctx: InferContext, out: TensorType): Dim[] | undefined {
  if (!isInteger(out.dtype)) return undefined;
  return shapeValueMap(ctx, [0], out, false, ([v]) => (typeof v === 'number' ? roundTo(out.dtype, v) : v));
}

defineOp({
  name: 'Cast',
  fusionClass: 'elementwise',
  inputs: [1, 1],
  outputs: [1, 1],
  onnxLower(ctx) {
    let attrs = ctx.attrs;
    const to = attrs.get('to');
    if (to?.kind === 'string') {
      const code = ONNX_TYPE_NAMES[to.value.toUpperCase()];
      if (code === undefined) throw new OpError(`Cast attribute 'to' names unknown type '${to.value}'`);
      attrs = attrs.with('to', { kind: 'int', value: code });
    }
    ctx.setOutputs(ctx.emit('Cast', [...ctx.inputs], attrs, ctx.outputCount));
  },
  infer(ctx) {
    const x = ctx.input(0);
    const type: TensorType = { dtype: onnxTypeAttr('Cast', 'to', ctx.attrs.int('to')), shape: x.shape };
    const sv = castShapeValue(ctx, type);
    return sv ? { types: [type], shapeValues: [sv] } : [type];
  },
  evaluate(inputs, attrs) {
    return [castValues(requireInput(inputs, 0, 'Cast'), onnxTypeAttr('Cast', 'to', attrs.int('to')), castMode('Cast', attrs))];
  },
});

// CastLike only carries the target type in input 1; the evaluate contract gives it the tensor.
defineOp({
  name: 'CastLike',
  fusionClass: 'elementwise',
  inputs: [2, 2],
  outputs: [1, 1],
  onnxSince: 15,
  infer(ctx) {
    const type: TensorType = { dtype: ctx.input(1).dtype, shape: ctx.input(0).shape };
    const sv = castShapeValue(ctx, type);
    return sv ? { types: [type], shapeValues: [sv] } : [type];
  },
  evaluate(inputs, attrs) {
    return [castValues(requireInput(inputs, 0, 'CastLike'), requireInput(inputs, 1, 'CastLike').dtype, castMode('CastLike', attrs))];
  },
});

function checkScalarBound(op: string, i: number, what: string, t: TensorType | undefined, dtype: DType): void {
  if (!t) return;
  if (t.dtype !== dtype) throw new OpError(`${op} ${what} (input ${i}) has dtype ${t.dtype}, input 0 has ${dtype}`);
  const n = t.shape.reduce<number>((p, d) => (typeof d === 'number' ? p * d : p), 1);
  if (t.shape.length > 1 || n !== 1) throw new OpError(`${op} ${what} (input ${i}) must be a scalar, got shape [${t.shape.join(',')}]`);
}

defineOp({
  name: 'Clip',
  fusionClass: 'broadcast',
  inputs: [1, 3],
  outputs: [1, 1],
  // Before opset 11 the bounds were float attributes; an absent one means no bound.
  onnxLower(ctx) {
    const inputs = [...ctx.inputs];
    let attrs = ctx.attrs.with('consumed_inputs', undefined);
    if (ctx.opset < 11) {
      const dtype = inputs[0]?.type.dtype ?? 'f32';
      inputs.length = 1;
      for (const [k, name] of [[1, 'min'], [2, 'max']] as const) {
        inputs[k] = attrs.has(name) ? ctx.constant(TensorData.scalar(dtype, attrs.float(name))) : null;
        attrs = attrs.with(name, undefined);
      }
      while (inputs.length > 1 && inputs[inputs.length - 1] === null) inputs.pop();
    }
    ctx.setOutputs(ctx.emit('Clip', inputs, attrs, ctx.outputCount));
  },
  infer(ctx) {
    const x = ctx.input(0);
    checkDtype('Clip', 0, x, anyNumeric, describeDtypes(anyNumeric));
    checkScalarBound('Clip', 1, 'min', ctx.optionalInput(1), x.dtype);
    checkScalarBound('Clip', 2, 'max', ctx.optionalInput(2), x.dtype);
    return [x];
  },
  evaluate(inputs) {
    const x = requireInput(inputs, 0, 'Clip');
    const lo = inputs[1] ? inputs[1].values[0]! : -Infinity;
    const hi = inputs[2] ? inputs[2].values[0]! : Infinity;
    // Min(max, Max(x, min)): when min > max every element becomes max, as ONNX specifies.
    return [TensorData.fromValues(x.dtype, x.dims, Array.from(x.values, (v) => Math.min(hi, Math.max(v, lo))))];
  },
});

function trainingDropout(ratio: number | undefined): never {
  throw new UnsupportedError(`Dropout with training_mode=true and ratio ${ratio ?? 0.5} is random; only inference is supported`);
}

defineOp({
  name: 'Dropout',
  fusionClass: 'elementwise',
  inputs: [1, 3],
  outputs: [1, 2],
  // Before opset 12 the ratio was an attribute and before 7 `is_test` chose the mode; the IR is the
  // inference form either way. Before opset 10 the mask had the data's dtype instead of bool.
  onnxLower(ctx) {
    let attrs = ctx.attrs;
    if (ctx.opset < 12) {
      for (const n of ['ratio', 'is_test', 'consumed_inputs']) attrs = attrs.with(n, undefined);
    }
    const inputs = ctx.opset < 12 ? ctx.inputs.slice(0, 1) : [...ctx.inputs];
    const outs = ctx.emit('Dropout', inputs, attrs, ctx.outputCount);
    const data = inputs[0];
    if (ctx.opset < 10 && outs.length > 1 && data && data.type.dtype !== 'bool') {
      outs[1] = ctx.emit('Cast', [outs[1]!], Attrs.from({ to: attr.int(ONNX_DTYPE_CODE[data.type.dtype]) }))[0]!;
    }
    ctx.setOutputs(outs);
  },
  infer(ctx) {
    const x = ctx.input(0);
    checkDtype('Dropout', 0, x, isFloat, describeDtypes(isFloat));
    const ratio = ctx.optionalInput(1);
    if (ratio && !isFloat(ratio.dtype)) throw new OpError(`Dropout ratio (input 1) has dtype ${ratio.dtype}; it needs a float type`);
    const mode = ctx.optionalInput(2);
    if (mode && mode.dtype !== 'bool') throw new OpError(`Dropout training_mode (input 2) has dtype ${mode.dtype}; it needs bool`);
    // A training_mode only known at run time is taken as false: compiled models run inference.
    const training = ctx.constant(2);
    if (training && training.values[0]) {
      const r = ctx.constant(1);
      if (!r && ratio) trainingDropout(undefined);
      const rv = r ? r.values[0]! : 0.5;
      if (rv !== 0) trainingDropout(rv);
    }
    return [x, { dtype: 'bool', shape: x.shape }];
  },
  evaluate(inputs, _attrs, outputCount) {
    const x = requireInput(inputs, 0, 'Dropout');
    if (inputs[2]?.values[0]) {
      const rv = inputs[1] ? inputs[1].values[0]! : 0.5;
      if (rv !== 0) trainingDropout(rv);
    }
    const out = [x];
    if (outputCount > 1) out.push(TensorData.fromValues('bool', x.dims, new Float64Array(x.size).fill(1)));
    return out;
  },
});

// Linear quantization ---------------------------------------------------------------------------

const QUANT_RANGE: Partial<Record<DType, [number, number]>> = {
  i8: [-128, 127], u8: [0, 255], i16: [-32768, 32767], u16: [0, 65535], i4: [-8, 7], u4: [0, 15], i2: [-2, 1], u2: [0, 3],
};

/** Float types QuantizeLinear may produce: x / scale (+ zero point) is cast to them, not clamped. */
const quantFloatOutput = (d: DType) => isFloat8(d) || d === 'f4e2m1';

type Granularity = { kind: 'tensor' } | { kind: 'axis'; axis: number } | { kind: 'blocked'; axis: number; block: number };

/** Which scale layout (x shape vs scale shape, axis, block_size) a (de)quantization uses. */
function granularity(op: string, x: readonly Dim[], scale: readonly Dim[], attrs: Attrs): Granularity {
  const block = attrs.int('block_size', 0);
  const scaleSize = scale.reduce<number>((p, d) => (typeof d === 'number' ? p * d : NaN), 1);
  if (block < 0) throw new OpError(`${op} attribute 'block_size' must be positive, got ${block}`);
  if (block === 0 && (scale.length === 0 || (scale.length === 1 && scaleSize === 1))) return { kind: 'tensor' };
  const axis = normalizeAxis(attrs.int('axis', 1), x.length, `${op} axis`);
  if (block === 0) {
    if (scale.length !== 1) throw new OpError(`${op} per-axis scale must be 1-D, got shape [${scale.join(',')}]`);
    if (typeof scale[0] === 'number' && typeof x[axis] === 'number' && scale[0] !== x[axis]) {
      throw new OpError(`${op} scale has ${scale[0]} elements, input dim ${axis} is ${x[axis]}`);
    }
    return { kind: 'axis', axis };
  }
  if (scale.length !== x.length) throw new OpError(`${op} blocked scale must have rank ${x.length}, got shape [${scale.join(',')}]`);
  scale.forEach((s, k) => {
    const d = x[k];
    if (typeof s !== 'number' || typeof d !== 'number') return;
    const ok = k === axis ? s === Math.ceil(d / block) : s === d;
    if (!ok) throw new OpError(`${op} blocked scale shape [${scale.join(',')}] does not match input [${x.join(',')}] with block_size ${block} on axis ${axis}`);
  });
  return { kind: 'blocked', axis, block };
}

/** For each element of x, the flat index of its scale/zero point. */
function scaleIndex(xDims: readonly number[], sDims: readonly number[], g: Granularity): Int32Array {
  const n = xDims.reduce((p, d) => p * d, 1);
  const idx = new Int32Array(n);
  if (g.kind === 'tensor') return idx;
  const xs = stridesOf(xDims);
  if (g.kind === 'axis') {
    for (let i = 0; i < n; i++) idx[i] = Math.floor(i / xs[g.axis]!) % xDims[g.axis]!;
    return idx;
  }
  const ss = stridesOf(sDims);
  for (let i = 0; i < n; i++) {
    let rem = i;
    let j = 0;
    for (let k = 0; k < xDims.length; k++) {
      const c = Math.floor(rem / xs[k]!);
      rem -= c * xs[k]!;
      j += (k === g.axis ? Math.floor(c / g.block) : c) * ss[k]!;
    }
    idx[i] = j;
  }
  return idx;
}

function checkZeroPoint(op: string, zp: TensorType | undefined, scale: TensorType): void {
  if (!zp) return;
  // A scalar and a one-element 1-D tensor are both per-tensor (ONNX's reference accepts the mix).
  const single = (t: TensorType) => t.shape.length === 0 || (t.shape.length === 1 && t.shape[0] === 1);
  if (single(zp) && single(scale)) return;
  const same = zp.shape.length === scale.shape.length && zp.shape.every((d, k) => d === scale.shape[k]);
  if (!same) throw new OpError(`${op} zero point shape [${zp.shape.join(',')}] differs from scale shape [${scale.shape.join(',')}]`);
}

function quantizeOutput(attrs: Attrs, zp: DType | undefined): DType {
  const code = attrs.int('output_dtype', 0);
  const d = code !== 0 ? onnxTypeAttr('QuantizeLinear', 'output_dtype', code) : (zp ?? 'u8');
  if (zp && d !== zp) throw new OpError(`QuantizeLinear output_dtype ${d} differs from the zero point's dtype ${zp}`);
  if (!QUANT_RANGE[d] && !quantFloatOutput(d)) {
    throw new OpError(`QuantizeLinear output dtype ${d} is not supported (8-, 16-, 4- and 2-bit integers, float8, float4e2m1)`);
  }
  return d;
}

const quantInput = (d: DType) => isFloat(d) || d === 'i32';
// Scales may also be f8e8m0 (opset 25), the power-of-two scales of the MX formats.
const quantScale = (d: DType) => quantInput(d) || d === 'f8e8m0';

/** The type x / scale is computed in: `precision`, else the scale's; f8e8m0 scales divide in float. */
function divisionType(attrs: Attrs, scale: DType): DType {
  const code = attrs.int('precision', 0);
  const d = code !== 0 ? onnxTypeAttr('QuantizeLinear', 'precision', code) : scale;
  return isLowPrecision(d) ? 'f32' : d;
}

defineOp({
  name: 'QuantizeLinear',
  fusionClass: 'broadcast',
  inputs: [2, 3],
  outputs: [1, 1],
  onnxSince: 10,
  infer(ctx) {
    const x = ctx.input(0);
    const scale = ctx.input(1);
    const zp = ctx.optionalInput(2);
    checkDtype('QuantizeLinear', 0, x, quantInput, 'a float type or int32');
    checkDtype('QuantizeLinear', 1, scale, quantScale, 'a float type, float8e8m0 or int32');
    checkZeroPoint('QuantizeLinear', zp, scale);
    granularity('QuantizeLinear', x.shape, scale.shape, ctx.attrs);
    return [{ dtype: quantizeOutput(ctx.attrs, zp?.dtype), shape: x.shape }];
  },
  evaluate(inputs, attrs) {
    const x = requireInput(inputs, 0, 'QuantizeLinear');
    const scale = requireInput(inputs, 1, 'QuantizeLinear');
    const zp = inputs[2];
    const out = quantizeOutput(attrs, zp?.dtype);
    const prec = divisionType(attrs, scale.dtype);
    const idx = scaleIndex(x.dims, scale.dims, granularity('QuantizeLinear', x.dims, scale.dims, attrs));
    const xv = x.values;
    const sv = scale.values;
    const zv = zp?.values;
    const r = new Float64Array(xv.length);
    const range = QUANT_RANGE[out];
    for (let i = 0; i < xv.length; i++) {
      const j = idx[i]!;
      // The division happens in the scale's (or `precision`'s) float type before rounding to even.
      const q = isFloat(prec) ? roundTo(prec, xv[i]! / sv[j]!) : xv[i]! / sv[j]!;
      // Integer types round to even and clamp; float8/float4 cast (x / scale + zero point), which
      // rounds to nearest even and saturates unless `saturate` is 0.
      r[i] = range ? Math.min(range[1], Math.max(range[0], roundHalfEven(q) + (zv ? zv[j]! : 0))) : q + (zv ? zv[j]! : 0);
    }
    if (range) return [TensorData.fromValues(out, x.dims, r)];
    const saturate = attrs.int('saturate', 1) !== 0;
    return [TensorData.fromBytes(out, x.dims, packCodes(out, Array.from(r, (v) => lowPrecisionCode(out, v, saturate))))];
  },
});

const dequantInput = (d: DType) =>
  d === 'i8' || d === 'u8' || d === 'i16' || d === 'u16' || d === 'i32' || isSubByteInt(d) || isFloat8(d) || d === 'f4e2m1';

function dequantizeOutput(attrs: Attrs, scale: DType): DType {
  const code = attrs.int('output_dtype', 0);
  const d = code !== 0 ? onnxTypeAttr('DequantizeLinear', 'output_dtype', code) : scale;
  if (!isFloat(d) || d === 'f64') {
    const hint = code === 0 ? ' (an f8e8m0 scale needs output_dtype)' : '';
    throw new OpError(`DequantizeLinear output dtype ${d} is not supported (float, float16, bfloat16)${hint}`);
  }
  return d;
}

defineOp({
  name: 'DequantizeLinear',
  fusionClass: 'broadcast',
  inputs: [2, 3],
  outputs: [1, 1],
  onnxSince: 10,
  infer(ctx) {
    const x = ctx.input(0);
    const scale = ctx.input(1);
    const zp = ctx.optionalInput(2);
    checkDtype('DequantizeLinear', 0, x, dequantInput, 'an 8-, 16-, 4- or 2-bit integer, int32, float8 or float4e2m1');
    checkDtype('DequantizeLinear', 1, scale, (d) => isFloat(d) || d === 'f8e8m0', 'a float type or float8e8m0');
    if (zp && zp.dtype !== x.dtype) throw new OpError(`DequantizeLinear zero point has dtype ${zp.dtype}, x has ${x.dtype}`);
    checkZeroPoint('DequantizeLinear', zp, scale);
    granularity('DequantizeLinear', x.shape, scale.shape, ctx.attrs);
    return [{ dtype: dequantizeOutput(ctx.attrs, scale.dtype), shape: x.shape }];
  },
  evaluate(inputs, attrs) {
    const x = requireInput(inputs, 0, 'DequantizeLinear');
    const scale = requireInput(inputs, 1, 'DequantizeLinear');
    const zp = inputs[2];
    const out = dequantizeOutput(attrs, scale.dtype);
    const idx = scaleIndex(x.dims, scale.dims, granularity('DequantizeLinear', x.dims, scale.dims, attrs));
    const xv = x.values;
    const sv = scale.values;
    const zv = zp?.values;
    const r = new Float64Array(xv.length);
    for (let i = 0; i < xv.length; i++) r[i] = (xv[i]! - (zv ? zv[idx[i]!]! : 0)) * sv[idx[i]!]!;
    return [TensorData.fromValues(out, x.dims, r)];
  },
});
