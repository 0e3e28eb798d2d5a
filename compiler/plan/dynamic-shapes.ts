// dynamic-shapes: decides which values of a graph with data-dependent shapes have dims known only
// at run time, how each kernel gets its outputs' dims, and how large such a value can be.
//
// A data-dependent op (NonZero, Compress, Unique, NonMaxSuppression, Range) whose inputs have
// static dims computes its outputs' dims itself ('computed'). A kernel unit that reads such a value
// must consist of elementwise/broadcast ops only: its outputs' dims are then the numpy broadcast of
// its inputs' ('broadcast'), and the executor prepares it again when those change. Anything else
// reading a dynamic value is refused here (MCPC2014, naming the node); a dynamic dim from any other
// producer stays MCPC2013.
//
// Bounds: NonZero [rank, numel], Compress and Unique the selected axis (numel when flattened),
// NonMaxSuppression batches * classes * min(max_output_boxes_per_class, boxes); a broadcast
// kernel's bound is the largest of its inputs' bounds per (right-aligned) dim. Range has no bound:
// its value is allocated at run time, outside the arena, and so is everything computed from it.

import { diagnostic, q } from '../diagnostics.js';
import type { Graph, Node, Value } from '../ir/graph.js';
import { nodeFamily } from '../ir/kernels.js';
import { elementCount } from '../ir/tensor.js';
import { isStaticShape } from '../ir/types.js';

/** Ops whose outputs' dims depend on their inputs' values, with a native kernel that resolves them. */
export const DATA_DEPENDENT_OPS: ReadonlySet<string> = new Set(['NonZero', 'Compress', 'Unique', 'NonMaxSuppression', 'Range']);

/** Elementwise ops whose output is not the plain broadcast of their inputs (per-axis parameters). */
const NOT_BROADCAST = new Set(['QuantizeLinear', 'DequantizeLinear', 'DynamicQuantizeLinear', 'Dropout']);

export type ShapeRule = 'computed' | 'broadcast';

export interface DynamicShapePlan {
  /** Values whose dims are known only at run time: the bound shape, or undefined when unbounded. */
  values: Map<Value, number[] | undefined>;
  /** Kernel unit index -> how its outputs get their dims (absent: static). */
  rules: Map<number, ShapeRule>;
}

function staticDims(v: Value): number[] {
  return v.type.shape as number[];
}

/** Largest count a data-dependent dim of `n`'s outputs can reach, or undefined when unbounded. */
function producerBound(n: Node): number | undefined {
  const x = n.inputs[0];
  const axisLength = (): number => {
    const dims = staticDims(x!);
    if (!n.attrs.has('axis')) return elementCount(dims);
    const a = n.attrs.int('axis');
    return dims[a < 0 ? a + dims.length : a]!;
  };
  switch (n.op) {
    case 'NonZero': return elementCount(staticDims(x!));
    case 'Unique': return axisLength();
    case 'Compress': return Math.min(axisLength(), staticDims(n.inputs[1]!)[0]!);
    case 'NonMaxSuppression': {
      const [batches, boxes] = staticDims(n.inputs[0]!);
      const classes = staticDims(n.inputs[1]!)[1]!;
      const max = n.inputs[2]?.constant;
      const perClass = max && max.size > 0 ? Math.max(0, Math.min(Number(max.values[0]), boxes!)) : boxes!;
      return batches! * classes * perClass;
    }
    default: return undefined;
  }
}

export function planDynamicShapes(g: Graph, units: readonly Node[][]): DynamicShapePlan {
  const values = new Map<Value, number[] | undefined>();
  const rules = new Map<number, ShapeRule>();
  units.forEach((nodes, unit) => {
    const members = new Set(nodes);
    const outputs = nodes.length > 1 ? [nodes[nodes.length - 1]!.outputs[0]!] : nodes[0]!.outputs;
    const reads = nodes.flatMap((n) => n.inputs.filter((v): v is Value => !!v && values.has(v) && !members.has(v.producer!)).map((v) => ({ n, v })));
    const dynamicOut = outputs.filter((o) => !isStaticShape(o.type.shape));
    if (reads.length === 0 && dynamicOut.length === 0) return;
    const n0 = nodes[0]!;
    if (nodes.length === 1 && DATA_DEPENDENT_OPS.has(n0.op) && reads.length === 0) {
      const bound = producerBound(n0);
      for (const o of dynamicOut) values.set(o, bound === undefined ? undefined : o.type.shape.map((d) => (typeof d === 'number' ? d : bound)));
      rules.set(unit, 'computed');
      return;
    }
    if (reads.length === 0) {
      const o = dynamicOut[0]!;
      const producer = nodes.find((n) => n.outputs.includes(o)) ?? nodes[nodes.length - 1]!;
      throw diagnostic('dynamicShape', { node: q(producer.loc), op: producer.op, value: q(o.name), shape: o.type.shape.join(',') });
    }
    const refused = nodes.find((n) => nodeFamily(n) !== 'elementwise' || NOT_BROADCAST.has(n.op));
    if (refused) {
      const read = reads.find((r) => r.n === refused) ?? reads[0]!;
      throw diagnostic('dynamicShapeReader', { node: q(refused.loc), op: refused.op, value: q(read.v.name) });
    }
    // The broadcast of the inputs' bounds, per right-aligned dim; unbounded if any input is.
    const inputs = [...new Set(nodes.flatMap((n) => n.inputs.filter((v): v is Value => !!v && !members.has(v.producer!))))];
    let bound: number[] | undefined = [];
    for (const v of inputs) {
      const b = values.has(v) ? values.get(v) : staticDims(v);
      if (!b || !bound) {
        bound = undefined;
        continue;
      }
      const rank = Math.max(bound.length, b.length);
      const pad = (s: number[]) => [...Array<number>(rank - s.length).fill(1), ...s];
      const x: number[] = pad(bound);
      const y: number[] = pad(b);
      bound = x.map((d: number, i: number) => Math.max(d, y[i]!));
    }
    for (const o of outputs) {
      const rank = o.type.shape.length;
      values.set(o, bound && bound.length === rank ? bound : bound ? [...Array<number>(Math.max(0, rank - bound.length)).fill(1), ...bound].slice(-rank) : undefined);
    }
    rules.set(unit, 'broadcast');
  });
  return { values, rules };
}
