// Quantized operators on 8-bit integers: QLinearMatMul and QLinearConv (integer accumulation, then
// requantization with the scales' ratio) and DynamicQuantizeLinear (u8 quantization whose scale
// and zero point come from the input's range). The integer products reuse MatMulInteger/ConvInteger.

import { isFloat, roundHalfEven, roundTo, type DType } from '../ir/dtype.js';
import { defineOp, getOp, type InferContext } from '../ir/ops.js';
import type { TensorType } from '../ir/types.js';
import { Attrs, OpError, TensorData, requireInput } from './common.js';

const int8ish = (d: DType) => d === 'i8' || d === 'u8';
const RANGE: Partial<Record<DType, [number, number]>> = { i8: [-128, 127], u8: [0, 255] };

/** An InferContext that shows another op the inputs `map` picks from this node's inputs. */
function remap(ctx: InferContext, map: readonly number[]): InferContext {
  const at = (i: number) => map[i] ?? -1;
  let count = map.length;
  while (count > 0 && !ctx.optionalInput(at(count - 1))) count--;
  return {
    node: ctx.node,
    attrs: ctx.attrs,
    inputCount: count,
    input: (i) => ctx.input(at(i)),
    optionalInput: (i) => ctx.optionalInput(at(i)),
    constant: (i) => ctx.constant(at(i)),
    shapeValue: (i) => ctx.shapeValue(at(i)),
    freshDim: (h) => ctx.freshDim(h),
  };
}

/** Checks the scale/zero-point inputs of a quantized op and returns the output dtype. */
function checkQuantParams(ctx: InferContext, op: string, scales: readonly [number, string][], zps: readonly [number, string, number][]): DType {
  for (const [i, what] of scales) {
    const t = ctx.input(i);
    if (!isFloat(t.dtype)) throw new OpError(`${op} input ${what} must be float, got ${t.dtype}`);
  }
  for (const [i, what, of] of zps) {
    const t = ctx.optionalInput(i);
    if (t && t.dtype !== ctx.input(of).dtype) throw new OpError(`${op} input ${what} has dtype ${t.dtype}, expected ${ctx.input(of).dtype}`);
  }
  const y = ctx.optionalInput(7);
  const out = y ? y.dtype : ctx.input(0).dtype;
  if (!int8ish(out)) throw new OpError(`${op} output type must be i8 or u8, got ${out}`);
  return out;
}

/**
 * Requantizes an i32 accumulation: y = clamp(round(acc * (sx * sw / sy)) + zy). The scale ratio is
 * formed in the scales' own dtype, as the ONNX reference does, so float16 scales round alike.
 */
function requantize(acc: TensorData, dtype: DType, scaleDtype: DType, sx: (i: number) => number, sw: (i: number) => number, sy: number, zy: number): TensorData {
  const [lo, hi] = RANGE[dtype]!;
  const v = acc.values;
  const out = new Float64Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const m = roundTo(scaleDtype, roundTo(scaleDtype, sx(i) * sw(i)) / sy);
    out[i] = Math.min(hi, Math.max(lo, roundHalfEven(v[i]! * m + zy)));
  }
  return TensorData.fromValues(dtype, acc.dims, out);
}

const first = (t: TensorData | undefined, fallback = 0) => (t && t.size > 0 ? t.values[0]! : fallback);

/** Per-index lookup of a scalar or 1-D parameter along the index computed by `pick`. */
function param(t: TensorData, what: string, extent: number, pick: (i: number) => number): (i: number) => number {
  const v = t.values;
  if (t.size === 1) return () => v[0]!;
  if (t.rank !== 1 || t.size !== extent) throw new OpError(`${what} must be a scalar or have ${extent} elements, got shape [${t.dims.join(',')}]`);
  return (i) => v[pick(i)]!;
}

defineOp({
  name: 'QLinearMatMul',
  fusionClass: 'contraction',
  inputs: [8, 8],
  outputs: [1, 1],
  onnxSince: 10,
  infer(ctx) {
    const out = checkQuantParams(ctx, 'QLinearMatMul', [[1, 'a_scale'], [4, 'b_scale'], [6, 'y_scale']], [[2, 'a_zero_point', 0], [5, 'b_zero_point', 3]]);
    const [t] = getOp('MatMulInteger')!.infer(remap(ctx, [0, 3, 2, 5])) as TensorType[];
    return [{ dtype: out, shape: t!.shape }];
  },
  evaluate(inputs) {
    const [a, as, az, b, , bz, ys, yz] = inputs;
    const acc = getOp('MatMulInteger')!.evaluate([a, b, az, bz], new Attrs(), 1)[0]!;
    const [M, N] = [acc.dims[acc.rank - 2]!, acc.dims[acc.rank - 1]!];
    const sa = param(requireInput(inputs, 1, 'QLinearMatMul'), 'a_scale', M, (i) => Math.floor(i / N) % M);
    const sb = param(requireInput(inputs, 4, 'QLinearMatMul'), 'b_scale', N, (i) => i % N);
    const dtype = yz?.dtype ?? requireInput(inputs, 0, 'QLinearMatMul').dtype;
    return [requantize(acc, dtype, as!.dtype, sa, sb, first(ys), first(yz))];
  },
});

defineOp({
  name: 'QLinearConv',
  fusionClass: 'contraction',
  inputs: [8, 9],
  outputs: [1, 1],
  onnxSince: 10,
  infer(ctx) {
    const out = checkQuantParams(ctx, 'QLinearConv', [[1, 'x_scale'], [4, 'w_scale'], [6, 'y_scale']], [[2, 'x_zero_point', 0], [5, 'w_zero_point', 3]]);
    const b = ctx.optionalInput(8);
    if (b && b.dtype !== 'i32') throw new OpError(`QLinearConv input B must be i32, got ${b.dtype}`);
    const [t] = getOp('ConvInteger')!.infer(remap(ctx, [0, 3, 2, 5])) as TensorType[];
    return [{ dtype: out, shape: t!.shape }];
  },
  evaluate(inputs, attrs) {
    const [x, xs, xz, w, , wz, ys, yz, B] = inputs;
    let acc = getOp('ConvInteger')!.evaluate([x, w, xz, wz], attrs, 1)[0]!;
    const [M, inner] = [acc.dims[1]!, acc.size / (acc.dims[0]! * acc.dims[1]!)];
    const channel = (i: number) => Math.floor(i / inner) % M;
    if (B) {
      const bv = B.values;
      acc = TensorData.fromValues('i32', acc.dims, acc.values.map((v, i) => v + bv[channel(i)]!));
    }
    const sw = param(requireInput(inputs, 4, 'QLinearConv'), 'w_scale', M, channel);
    const dtype = yz?.dtype ?? requireInput(inputs, 0, 'QLinearConv').dtype;
    return [requantize(acc, dtype, xs!.dtype, () => first(xs), sw, first(ys), first(yz))];
  },
});

defineOp({
  name: 'DynamicQuantizeLinear',
  fusionClass: 'reduction',
  inputs: [1, 1],
  outputs: [1, 3],
  onnxSince: 11,
  infer(ctx) {
    const x = ctx.input(0);
    if (x.dtype !== 'f32') throw new OpError(`DynamicQuantizeLinear input x must be f32, got ${x.dtype}`);
    return [{ dtype: 'u8', shape: [...x.shape] }, { dtype: 'f32', shape: [] }, { dtype: 'u8', shape: [] }];
  },
  evaluate(inputs) {
    const x = requireInput(inputs, 0, 'DynamicQuantizeLinear');
    const v = x.values;
    let max = 0;
    let min = 0;
    for (const e of v) { max = Math.max(max, e); min = Math.min(min, e); }
    // The range always includes 0 so that 0 is exact; arithmetic is in float32 like the spec's.
    const f = Math.fround;
    const scale = f(f(max === min ? 1 : f(max - min)) / 255);
    const zp = roundHalfEven(Math.min(255, Math.max(0, f(0 - f(min / scale)))));
    const y = new Float64Array(v.length);
    for (let i = 0; i < v.length; i++) y[i] = Math.min(255, Math.max(0, roundHalfEven(f(v[i]! / scale)) + zp));
    return [TensorData.fromValues('u8', x.dims, y), TensorData.scalar('f32', scale), TensorData.scalar('u8', zp)];
  },
});
