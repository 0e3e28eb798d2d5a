// Test harness for single ops: builds a one-node graph, runs the op's shape/type rule and its
// reference implementation, and checks that the two agree on every output's dtype and shape.

import '../../compiler/ops/index.js';
import { Attrs, Graph, type AttrValue, type Value } from '../../compiler/ir/graph.js';
import { inferAndSet } from '../../compiler/ir/infer.js';
import { getOp } from '../../compiler/ir/ops.js';
import { TensorData } from '../../compiler/ir/tensor.js';
import type { TensorType } from '../../compiler/ir/types.js';

export interface OpInput {
  data?: TensorData;
  /** Type only (for shape-rule tests with symbolic dims). */
  type?: TensorType;
  /** Make the input a compile-time constant (value-dependent shape rules read it). */
  constant?: boolean;
}

function buildNode(op: string, inputs: (OpInput | TensorData | null)[], attrs: Record<string, AttrValue>, outputCount: number) {
  const g = new Graph('test');
  const values: (Value | null)[] = inputs.map((inp, i) => {
    if (inp === null) return null;
    const spec: OpInput = inp instanceof TensorData ? { data: inp } : inp;
    if (spec.constant && spec.data) return g.addConstant(`in${i}`, spec.data);
    const type = spec.type ?? { dtype: spec.data!.dtype, shape: [...spec.data!.dims] };
    return g.addInput(`in${i}`, type);
  });
  const placeholder: TensorType = { dtype: 'f32', shape: [] };
  const node = g.addNode({ op, inputs: values, attrs: Attrs.from(attrs), outputTypes: new Array(outputCount).fill(placeholder), loc: 'test' });
  inferAndSet(g, node, new Map());
  return { g, node };
}

/** Output types the op's shape rule gives for these inputs. */
export function inferOp(op: string, inputs: (OpInput | TensorData | null)[], attrs: Record<string, AttrValue> = {}, outputCount = 1): TensorType[] {
  return buildNode(op, inputs, attrs, outputCount).node.outputs.map((o) => o.type);
}

/** Runs the op's reference implementation and checks its outputs against the shape rule. */
export function runOp(op: string, inputs: (TensorData | null)[], attrs: Record<string, AttrValue> = {}, outputCount = 1, constantInputs: number[] = []): TensorData[] {
  const specs = inputs.map((d, i) => (d === null ? null : { data: d, constant: constantInputs.includes(i) }));
  const { node } = buildNode(op, specs, attrs, outputCount);
  const out = getOp(op)!.evaluate(inputs.map((d) => d ?? undefined), Attrs.from(attrs), outputCount);
  node.outputs.forEach((o, i) => {
    const t = out[i]!;
    if (t.dtype !== o.type.dtype) throw new Error(`${op} output ${i}: evaluate gives ${t.dtype}, infer gives ${o.type.dtype}`);
    const inferred = o.type.shape;
    const ok = inferred.length === t.dims.length && inferred.every((d, k) => typeof d !== 'number' || d === t.dims[k]);
    if (!ok) throw new Error(`${op} output ${i}: evaluate gives [${t.dims}], infer gives [${inferred}]`);
  });
  return out;
}

export const f32 = (dims: number[], values: number[]) => TensorData.fromValues('f32', dims, values);
export const i64 = (dims: number[], values: number[]) => TensorData.fromValues('i64', dims, values);
