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
      v = g.addConstant(`${c.name}_${low}`, TensorData.fromValues(low, c.constant!.dims, c.constant!.values));
      lowered.set(c, v);
      constants += 1;
    }
    return v;
  };
  const graphInputs = new Set(g.inputs);
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
      if (t?.dtype === 'f32') n.attrs = n.attrs.with('value', attr.tensor(TensorData.fromValues(low, t.dims, t.values)));
    }
    for (const o of n.outputs) {
      if (o.type.dtype !== 'f32') continue;
      o.type = { dtype: low, shape: o.type.shape };
      values += 1;
    }
  }
  // Outputs: the producer's value becomes an internal low one; a Cast back to float32 produces
  // the original value (its name is the output's name).
  const outputs = new Set(g.outputs);
  for (const v of outputs) {
    if (v.type.dtype !== low || !v.producer) continue;
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
