// lower-precision: stores every float32 activation and weight of the graph in float16 or bfloat16
// (--precision fp16|bf16 on the cuda target), keeping the model's signature in float32.
//   x (f32 input)  ->  Cast(to=low)  ->  ...the graph, in low...  ->  Cast(to=f32)  ->  y (f32 output)
// Needs: types inferred. Guarantees: every f32 value a node produces or reads becomes `low`
// (constants are rounded once, here), except inputs that ONNX fixes to float32 (Resize scales);
// Cast to float32 becomes Cast to `low`, and ConstantOfShape/EyeLike/Random* that make float32
// make `low`; graph inputs and outputs keep their names and float32 types. Kernels compute in
// float32 and only store in `low`, so this changes rounding at tensor boundaries, not arithmetic.
// A no-op when ctx.floatStorage is 'f32'.

import { ONNX_DTYPE_CODE, type DType } from '../ir/dtype.js';
import { attr, Attrs, type Graph, type Node, type Value } from '../ir/graph.js';
import { TensorData } from '../ir/tensor.js';
import { bumpStat, type Pass, type PassContext } from './pass.js';

/** Inputs that ONNX types as float32 whatever the data's type: they stay float32. */
const FLOAT32_INPUTS: Readonly<Record<string, readonly number[]>> = { Resize: [2], Upsample: [1] };

/** Ops whose output dtype is an attribute ('to' or 'dtype' as an ONNX type code). */
const DTYPE_ATTR: Readonly<Record<string, string>> = {
  Cast: 'to', EyeLike: 'dtype', RandomNormal: 'dtype', RandomUniform: 'dtype', RandomNormalLike: 'dtype', RandomUniformLike: 'dtype',
};

/** IEEE binary16 bits of the float32 with bits `u`, rounded to nearest-even. */
export function f32BitsToF16Bits(u: number): number {
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  let mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && (half & 1) !== 0)) half += 1;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1) !== 0)) half += 1; // a carry rounds up to the next binade or to infinity
  return sign | half;
}

/** bfloat16 bits of the float32 with bits `u`, rounded to nearest-even (NaN stays NaN). */
export function f32BitsToBf16Bits(u: number): number {
  if ((u & 0x7f800000) === 0x7f800000 && (u & 0x7fffff) !== 0) return ((u >>> 16) | 0x40) & 0xffff;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

/** A float32 tensor stored as `low`, converted bit by bit (weights of 100M+ elements stay fast). */
function lowTensor(t: TensorData, low: 'f16' | 'bf16'): TensorData {
  const src = t.bytes;
  const words = src.byteOffset % 4 === 0 ? new Uint32Array(src.buffer, src.byteOffset, t.size) : new Uint32Array(new Uint8Array(src).buffer, 0, t.size);
  const out = new Uint16Array(t.size);
  const convert = low === 'f16' ? f32BitsToF16Bits : f32BitsToBf16Bits;
  for (let i = 0; i < out.length; i++) out[i] = convert(words[i]!);
  return TensorData.fromBytes(low, t.dims, new Uint8Array(out.buffer));
}

function keepsFloat32(n: Node, i: number): boolean {
  return FLOAT32_INPUTS[n.op]?.includes(i) ?? false;
}

function castNode(g: Graph, from: Value, to: DType, loc: string, at?: number): Node {
  return g.addNode(
    { op: 'Cast', inputs: [from], attrs: new Attrs([['to', attr.int(ONNX_DTYPE_CODE[to])]]), outputTypes: [{ dtype: to, shape: [...from.type.shape] }], outputNames: [`${from.name}_${to}`], loc },
    at,
  );
}

export function lowerPrecision(g: Graph, low: 'f16' | 'bf16'): { values: number; constants: number } {
  let values = 0;
  let constants = 0;
  const f32Code = ONNX_DTYPE_CODE.f32;
  // Constants read by nodes: rounded once. A constant that must stay float32 for one reader and
  // is low for another gets its own low copy.
  const lowered = new Map<Value, Value>();
  const lowConstant = (c: Value): Value => {
    let v = lowered.get(c);
    if (!v) {
      v = g.addConstant(`${c.name}_${low}`, lowTensor(c.constant!, low));
      lowered.set(c, v);
      constants += 1;
    }
    return v;
  };
  const graphInputs = new Set(g.inputs);
  // Outputs the model gives in float32 (before any type changes here): they stay float32.
  const float32Outputs = new Set(g.outputs.filter((v) => v.type.dtype === 'f32'));
  const inputCasts = new Map<Value, Value>();
  const body = [...g.nodes];
  for (const n of body) {
    n.inputs.forEach((v, i) => {
      if (!v || v.type.dtype !== 'f32' || keepsFloat32(n, i)) return;
      if (v.constant) n.inputs[i] = lowConstant(v);
      else if (graphInputs.has(v) || g.boundValues.has(v)) {
        let c = inputCasts.get(v);
        if (!c) {
          c = castNode(g, v, low, `${v.name}_to_${low}`, inputCasts.size).outputs[0]!;
          inputCasts.set(v, c);
        }
        n.inputs[i] = c;
      }
    });
    const dtypeAttr = DTYPE_ATTR[n.op];
    if (dtypeAttr && n.attrs.has(dtypeAttr) && n.attrs.int(dtypeAttr) === f32Code) n.attrs = n.attrs.with(dtypeAttr, attr.int(ONNX_DTYPE_CODE[low]));
    if (n.op === 'ConstantOfShape') {
      const t = n.attrs.tensor('value');
      if (t?.dtype === 'f32') n.attrs = n.attrs.with('value', attr.tensor(lowTensor(t, low)));
    }
    for (const o of n.outputs) {
      if (o.type.dtype !== 'f32') continue;
      o.type = { dtype: low, shape: o.type.shape };
      values += 1;
    }
  }
  // Outputs: the producer's value becomes an internal low one; a Cast back to float32 produces
  // the original value (its name is the output's name).
  for (const v of float32Outputs) {
    if (!v.producer) continue;
    const n = v.producer;
    const inner = g.newValue(`${v.name}_${low}`, { dtype: low, shape: [...v.type.shape] });
    inner.producer = n;
    n.outputs[n.outputs.indexOf(v)] = inner;
    for (const m of g.nodes) for (let i = 0; i < m.inputs.length; i++) if (m.inputs[i] === v) m.inputs[i] = inner;
    const back = castNode(g, inner, 'f32', `${v.name}_to_f32`);
    // The cast produces `v` itself, so the graph output keeps its name and identity.
    back.outputs[0] = v;
    v.producer = back;
    v.type = { dtype: 'f32', shape: v.type.shape };
  }
  // A float32 constant that is a graph output is left as it is (no node computes it).
  g.pruneConstants();
  return { values, constants };
}

export const lowerPrecisionPass: Pass = {
  name: 'lower-precision',
  summary: 'store float32 activations and weights as float16/bfloat16 (--precision fp16|bf16)',
  run(g: Graph, ctx: PassContext): boolean {
    if (ctx.floatStorage === 'f32') return false;
    const r = lowerPrecision(g, ctx.floatStorage);
    bumpStat(ctx, 'lower-precision', 'values', r.values);
    bumpStat(ctx, 'lower-precision', 'constants', r.constants);
    return r.values + r.constants > 0;
  },
};
