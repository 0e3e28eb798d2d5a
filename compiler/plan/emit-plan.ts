// emit-plan: turns an optimized graph with static shapes into a KernelPlan for a target: one slot
// per value (graph input/output, weight, or arena buffer placed by plan-memory) and one kernel per
// node, in graph order, keeping the ONNX node name as the kernel's source. Fusion (a later pass)
// replaces single-node kernels with super-operators; this step only lays out what is there.

import { toJsonFloat, type ArenaSummary, type ArtifactDType, type Kernel, type KernelPlan, type PlanAttr, type Target, type ValueSlot } from '../artifact/format.js';
import { diagnostic, q } from '../diagnostics.js';
import { dtypeByteLength } from '../ir/dtype.js';
import type { AttrValue, Graph, Value } from '../ir/graph.js';
import { getOp } from '../ir/ops.js';
import { elementCount } from '../ir/tensor.js';
import { isStaticShape } from '../ir/types.js';
import { ARENA_ALIGNMENT, planMemory, type MemoryPlan } from './plan-memory.js';

export interface EmittedPlan {
  plan: KernelPlan;
  memory: MemoryPlan;
  arena: ArenaSummary;
  /** Constants in weight-index order. */
  weights: Value[];
}

/** Reports the first symbolic dim left in the graph, naming the input to bind when there is one. */
export function requireStaticShapes(g: Graph): void {
  for (const input of g.inputs) {
    const sym = input.type.shape.find((d) => typeof d === 'string');
    if (sym !== undefined) {
      const example = input.type.shape.map((d) => (typeof d === 'number' ? d : 1)).join('x');
      throw diagnostic('unboundSymbol', { input: q(input.name), dim: String(sym), example });
    }
  }
  for (const n of g.nodes) {
    for (const o of n.outputs) {
      if (!isStaticShape(o.type.shape)) {
        throw diagnostic('invalidNode', { node: q(n.loc), op: n.op, reason: `output ${q(o.name)} has a data-dependent shape [${o.type.shape.join(',')}], which compiled plans do not support yet` });
      }
    }
  }
}

function planAttr(a: AttrValue): PlanAttr {
  switch (a.kind) {
    case 'int': return { i: a.value };
    case 'float': return { f: toJsonFloat(a.value) };
    case 'string': return { s: a.value };
    case 'ints': return { ints: [...a.value] };
    case 'floats': return { floats: a.value.map(toJsonFloat) };
    case 'strings': return { strings: [...a.value] };
    case 'tensor': return { tensor: { dtype: a.value.dtype as ArtifactDType, shape: [...a.value.dims], values: Array.from(a.value.values, toJsonFloat) } };
  }
}

export function emitPlan(g: Graph, target: Target): EmittedPlan {
  requireStaticShapes(g);
  const slots: ValueSlot[] = [];
  const slotOf = new Map<Value, number>();
  const weights: Value[] = [];
  const addSlot = (v: Value, kind: ValueSlot['kind'], index: number) => {
    const shape = v.type.shape as number[];
    const id = slots.length;
    slots.push({ id, name: v.name, dtype: v.type.dtype as ArtifactDType, shape: [...shape], byteLength: dtypeByteLength(v.type.dtype, elementCount(shape)), kind, index });
    slotOf.set(v, id);
    return id;
  };
  g.inputs.forEach((v, i) => addSlot(v, 'input', i));
  for (const c of g.constants) {
    addSlot(c, 'weight', weights.length);
    weights.push(c);
  }
  const outputIndex = new Map<Value, number>();
  g.outputs.forEach((v, i) => {
    if (!slotOf.has(v) && !outputIndex.has(v)) outputIndex.set(v, i);
  });
  // Lifetimes of arena values: from the producing kernel to the last reader.
  const first = new Map<Value, number>();
  const last = new Map<Value, number>();
  g.nodes.forEach((n, step) => {
    for (const o of n.outputs) {
      first.set(o, step);
      last.set(o, step);
    }
    for (const v of n.inputs) if (v && first.has(v)) last.set(v, step);
  });
  const arenaValues = g.nodes.flatMap((n) => n.outputs).filter((o) => !outputIndex.has(o));
  const memory = planMemory(arenaValues.map((v, i) => ({
    id: i, bytes: dtypeByteLength(v.type.dtype, elementCount(v.type.shape as number[])), first: first.get(v)!, last: last.get(v)!,
  })));
  arenaValues.forEach((v, i) => addSlot(v, 'arena', memory.offsets.get(i)!));
  for (const [v, i] of outputIndex) addSlot(v, 'output', i);

  const kernels: Kernel[] = g.nodes.map((n, id) => ({
    id,
    family: getOp(n.op)?.fusionClass === 'broadcast' ? 'elementwise' : (getOp(n.op)?.fusionClass ?? 'opaque') as Kernel['family'],
    op: n.op,
    attrs: Object.fromEntries(n.attrs.entries().map(([k, a]) => [k, planAttr(a)])),
    inputs: n.inputs.map((v) => (v ? slotOf.get(v)! : -1)),
    outputs: n.outputs.map((o) => slotOf.get(o)!),
    sources: [n.loc],
    module: 'm0',
  }));
  const plan: KernelPlan = {
    target,
    slots,
    kernels,
    outputSlots: g.outputs.map((v) => slotOf.get(v)!),
    inputSlots: g.inputs.map((v) => slotOf.get(v)!),
  };
  const arena: ArenaSummary = { size: memory.size, alignment: ARENA_ALIGNMENT, lowerBound: memory.lowerBound, naiveSize: memory.naiveSize };
  return { plan, memory, arena, weights };
}
