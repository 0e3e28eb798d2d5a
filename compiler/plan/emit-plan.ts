// emit-plan: turns an optimized graph with static shapes into a KernelPlan for a target: one slot
// per value that goes to memory (graph input/output, weight, or arena buffer placed by plan-memory)
// and one kernel per kernel unit (but views, below), in graph order: each fused group of the fuse pass
// (graph.kernels) becomes one kernel with prologue/epilogue steps, every other node a kernel of its
// own. Values internal to a group get no slot (tier 'register'). `sources` lists every ONNX node a
// kernel computes (member locations and the `_sources` that pattern passes recorded).
//
// Operands of a fused kernel: `inputs` starts with the anchor's inputs in order, padded with -1 to
// the anchor op's largest input count, so inputs[0..max) are the anchor's exactly as in an unfused
// kernel; with a prologue, inputs[0] is -1 and the anchor's input 0 is the last prologue step's
// result. The values that steps read come after (or reuse an anchor input's index). An 'Elementwise'
// kernel's inputs are the values its steps read, in first-use order. Epilogue steps have the
// anchor's output shape (the kernel output's); prologue steps have the anchor input 0's shape, which
// is the numpy broadcast of the prologue's operands' shapes.
//
// Views: a Reshape, Flatten, Squeeze, Unsqueeze, Identity or (inference) Dropout of an arena value
// holds its input's bytes unchanged, so its output is a second slot on the input's arena bytes and
// no kernel runs for it; the shared buffer lives from the first writer to the last reader of any of
// them. Graph inputs, outputs and values with run-time dims keep their copy kernel. On the cuda
// target a Slice that selects one contiguous run of its input (the leading-axis slices of
// batch-sibling-matmuls' batched product) is a view too, at its offset into the input's bytes when
// that offset is a multiple of the arena alignment; the cpu plan keeps it a kernel, so the fp16 range
// check (cli/calibrate.ts), which scans kernel outputs, measures it.
//
// Values whose dims are known only at run time (dynamic-shapes.ts) get slots marked `dynamic`: in
// the arena at their bound, or 'heap' slots the executor allocates when they have none; graph
// outputs among them are never 'output' slots (the runtime copies them out at their actual size),
// and the kernels computing them say how their dims are found (`shapes`).

import { toJsonFloat, type ArenaSummary, type ArtifactDType, type FusedOperand, type FusedStep, type Kernel, type KernelPlan, type PlanAttr, type Target, type ValueSlot } from '../artifact/format.js';
import { diagnostic, q } from '../diagnostics.js';
import { dtypeByteLength } from '../ir/dtype.js';
import type { Attrs, AttrValue, Graph, Node, Value } from '../ir/graph.js';
import { checkKernels, kernelRoles, kernelUnits, nodeFamily, VIEW_OPS } from '../ir/kernels.js';
import { getOp } from '../ir/ops.js';
import { elementCount } from '../ir/tensor.js';
import { isStaticShape } from '../ir/types.js';
import { CUDA_L2_WINDOW_BYTES, planTieredMemory } from './plan-l2.js';
import { planDynamicShapes } from './dynamic-shapes.js';
import { ARENA_ALIGNMENT, freeRegions, planMemory, type ArenaRegion, type MemoryPlan } from './plan-memory.js';

export interface EmittedPlan {
  plan: KernelPlan;
  memory: MemoryPlan;
  arena: ArenaSummary;
  /** Constants in weight-index order. */
  weights: Value[];
  /** Values internal to fused kernels: never written to memory. */
  registers: Value[];
  /**
   * cuda, by kernel id: the largest arena region free while the kernel runs (256-byte aligned),
   * where a library call's workspace may go (empty for cpu, which has no use for it).
   */
  scratch: (ArenaRegion | undefined)[];
}

/** Alignment of scratch regions: what cuBLAS asks of a workspace. */
const SCRATCH_ALIGNMENT = 256;

/**
 * Reports the first symbolic dim of a graph input, naming the input to bind. Data-dependent dims
 * of node outputs are left to planDynamicShapes.
 */
export function requireStaticInputShapes(g: Graph): void {
  for (const input of g.inputs) {
    const sym = input.type.shape.find((d) => typeof d === 'string');
    if (sym !== undefined) {
      const example = input.type.shape.map((d) => (typeof d === 'number' ? d : 1)).join('x');
      throw diagnostic('unboundSymbol', { input: q(input.name), dim: String(sym), example });
    }
  }
}

/** Reports the first symbolic dim left in the graph, naming the input to bind when there is one. */
export function requireStaticShapes(g: Graph): void {
  requireStaticInputShapes(g);
  for (const n of g.nodes) {
    for (const o of n.outputs) {
      if (!isStaticShape(o.type.shape)) {
        throw diagnostic('dynamicShape', { node: q(n.loc), op: n.op, value: q(o.name), shape: o.type.shape.join(',') });
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

/**
 * Elements before the first one a Slice selects, when it selects one contiguous run of its input
 * (constant starts/ends/axes, steps of 1, every axis after the first cut one whole, the dims before
 * it all 1); undefined otherwise.
 */
export function contiguousSliceOffset(n: Node): number | undefined {
  const [x, starts, ends, axes, steps] = n.inputs;
  const inShape = x?.type.shape;
  if (!x || !inShape || !isStaticShape(inShape) || !starts?.constant || !ends?.constant) return undefined;
  if ((axes && !axes.constant) || (steps && !steps.constant)) return undefined;
  const rank = inShape.length;
  const s = Array.from(starts.constant.values);
  const e = Array.from(ends.constant.values);
  const ax = axes ? Array.from(axes.constant!.values).map((a) => (a < 0 ? a + rank : a)) : s.map((_, i) => i);
  if (steps && Array.from(steps.constant!.values).some((t) => t !== 1)) return undefined;
  const begin = new Array<number>(rank).fill(0);
  const count = [...inShape] as number[];
  for (let i = 0; i < ax.length; i++) {
    const a = ax[i]!;
    const dim = inShape[a] as number;
    const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + dim : v, 0), dim);
    begin[a] = clamp(s[i]!);
    count[a] = Math.max(0, clamp(e[i]!) - begin[a]!);
  }
  const cut = count.findIndex((c, a) => c !== inShape[a]);
  if (cut < 0) return 0;
  if (count.some((c, a) => a > cut && c !== inShape[a]) || (inShape as number[]).slice(0, cut).some((d) => d !== 1)) return undefined;
  return begin[cut]! * (inShape as number[]).slice(cut + 1).reduce((p, d) => p * d, 1);
}

export function emitPlan(g: Graph, target: Target): EmittedPlan {
  requireStaticInputShapes(g);
  const kernelIssues = checkKernels(g);
  if (kernelIssues.length) throw new Error(`emit-plan: invalid kernel groups: ${kernelIssues.slice(0, 3).join('; ')}`);
  const units = kernelUnits(g);
  // Values with dims known only at run time: slots sized by their bound, or heap slots when unbounded.
  const dynamic = planDynamicShapes(g, units);
  const slots: ValueSlot[] = [];
  const slotOf = new Map<Value, number>();
  const weights: Value[] = [];
  const addSlot = (v: Value, kind: ValueSlot['kind'], index: number, view?: ValueSlot['view']) => {
    const id = slots.length;
    if (dynamic.values.has(v)) {
      const bound = dynamic.values.get(v);
      const shape = bound ?? v.type.shape.map(() => 0);
      const byteLength = bound ? dtypeByteLength(v.type.dtype, elementCount(bound)) : 0;
      slots.push({ id, name: v.name, dtype: v.type.dtype as ArtifactDType, shape, byteLength, kind: bound ? kind : 'heap', index: bound ? index : 0, dynamic: bound ? 'bounded' : 'unbounded' });
    } else {
      const shape = v.type.shape as number[];
      slots.push({ id, name: v.name, dtype: v.type.dtype as ArtifactDType, shape: [...shape], byteLength: dtypeByteLength(v.type.dtype, elementCount(shape)), kind, index, ...(view ? { view } : {}) });
    }
    slotOf.set(v, id);
    return id;
  };
  g.inputs.forEach((v, i) => addSlot(v, 'input', i));
  for (const c of g.constants) {
    addSlot(c, 'weight', weights.length);
    weights.push(c);
  }
  const outputIndex = new Map<Value, number>();
  // Outputs with dynamic dims stay in executor memory: the runtime copies them out at their run-time size.
  g.outputs.forEach((v, i) => {
    if (!slotOf.has(v) && !outputIndex.has(v) && !dynamic.values.has(v)) outputIndex.set(v, i);
  });
  // Lifetimes of arena values, in kernel steps: from the producing kernel to the last reader.
  const first = new Map<Value, number>();
  const last = new Map<Value, number>();
  const registers: Value[] = [];
  const reads = new Map<Value, number>();
  units.forEach((nodes, step) => {
    const result = nodes[nodes.length - 1]!.outputs;
    const read = new Set<Value>();
    for (const n of nodes) {
      for (const v of n.inputs) if (v && first.has(v)) (last.set(v, step), read.add(v));
    }
    for (const v of read) reads.set(v, (reads.get(v) ?? 0) + 1);
    for (const o of nodes.length > 1 ? [result[0]!] : result) {
      first.set(o, step);
      last.set(o, step);
    }
    if (nodes.length > 1) registers.push(...nodes.slice(0, -1).map((n) => n.outputs[0]!));
  });
  const unbounded = (v: Value) => dynamic.values.has(v) && dynamic.values.get(v) === undefined;
  const inArena = (v: Value) => first.has(v) && !outputIndex.has(v) && !dynamic.values.has(v);
  // View outputs share their input's buffer (its root: views of views share the first one's); a
  // Slice that selects one contiguous run of its input is a view at an offset into it (kept only
  // where that offset keeps the arena's alignment, which kernels' vector accesses rely on).
  const viewOf = new Map<Value, Value>();
  const viewOffset = new Map<Value, number>();
  const viewSources = new Map<Value, string[]>();
  const viewUnits = new Set<number>();
  units.forEach((nodes, step) => {
    const n = nodes[0]!;
    const [x, y] = [n.inputs[0], n.outputs[0]!];
    if (nodes.length !== 1 || n.outputs.length !== 1 || !x || !inArena(x) || !inArena(y)) return;
    let offset = 0;
    if (n.op === 'Slice') {
      if (target !== 'cuda') return;
      const elements = contiguousSliceOffset(n);
      if (elements === undefined) return;
      offset = (viewOffset.get(x) ?? 0) + dtypeByteLength(x.type.dtype, elements);
      if (offset % ARENA_ALIGNMENT !== 0) return;
    } else if (VIEW_OPS.has(n.op)) {
      offset = viewOffset.get(x) ?? 0;
    } else return;
    const root = viewOf.get(x) ?? x;
    viewOf.set(y, root);
    viewOffset.set(y, offset);
    viewSources.set(y, nodeSources(n));
    last.set(root, Math.max(last.get(root)!, last.get(y)!));
    // The view's own step reads nothing at run time: its readers read the root.
    reads.set(root, (reads.get(root) ?? 0) - 1 + (reads.get(y) ?? 0));
    viewUnits.add(step);
  });
  const arenaValues = [...first.keys()].filter((o) => !outputIndex.has(o) && !unbounded(o) && !viewOf.has(o));
  const boundShape = (v: Value) => (dynamic.values.get(v) ?? v.type.shape) as number[];
  const requests = arenaValues.map((v, i) => ({
    id: i, bytes: dtypeByteLength(v.type.dtype, elementCount(boundShape(v))), first: first.get(v)!, last: last.get(v)!, reads: reads.get(v) ?? 0,
  }));
  // GPU plans get an L2 tier: a window at the arena's start that the runtime keeps in L2.
  const memory: MemoryPlan & { l2Window?: number } = target === 'cuda' ? planTieredMemory(requests, CUDA_L2_WINDOW_BYTES) : planMemory(requests);
  const arenaOffset = new Map(arenaValues.map((v, i) => [v, memory.offsets.get(i)!]));
  arenaValues.forEach((v) => addSlot(v, 'arena', arenaOffset.get(v)!));
  for (const [view, root] of viewOf) addSlot(view, 'arena', arenaOffset.get(root)! + viewOffset.get(view)!, { of: slotOf.get(root)!, sources: viewSources.get(view)! });
  for (const v of first.keys()) if (unbounded(v)) addSlot(v, 'heap', 0);
  for (const [v, i] of outputIndex) addSlot(v, 'output', i);

  const kernels: Kernel[] = [];
  const kernelSteps: number[] = [];
  units.forEach((nodes, step) => {
    if (viewUnits.has(step)) return;
    const id = kernels.length;
    kernelSteps.push(step);
    const k = nodes.length === 1 ? singleKernel(nodes[0]!, id, slotOf) : fusedKernel(nodes, id, slotOf);
    const rule = dynamic.rules.get(step);
    kernels.push(rule ? { ...k, shapes: rule } : k);
  });
  const plan: KernelPlan = {
    target,
    slots,
    kernels,
    outputSlots: g.outputs.map((v) => slotOf.get(v)!),
    inputSlots: g.inputs.map((v) => slotOf.get(v)!),
    ...(memory.l2Window ? { l2WindowBytes: memory.l2Window } : {}),
  };
  const arena: ArenaSummary = {
    size: memory.size, alignment: ARENA_ALIGNMENT, lowerBound: memory.lowerBound, naiveSize: memory.naiveSize,
    ...(memory.l2Window ? { l2Window: memory.l2Window } : {}),
  };
  const scratch = target === 'cuda' ? freeRegions(requests, memory, kernelSteps, SCRATCH_ALIGNMENT) : [];
  return { plan, memory, arena, weights, registers, scratch };
}

function planAttrs(attrs: Attrs): Record<string, PlanAttr> {
  return Object.fromEntries(attrs.entries().filter(([k]) => k !== '_sources').map(([k, a]) => [k, planAttr(a)]));
}

/** ONNX nodes a node computes: those a pattern pass folded into it, then its own. */
function nodeSources(n: Node): string[] {
  return [...(n.attrs.has('_sources') ? n.attrs.strings('_sources') : []), n.loc];
}

function singleKernel(n: Node, id: number, slotOf: ReadonlyMap<Value, number>): Kernel {
  const family = nodeFamily(n);
  return {
    id,
    family,
    op: n.op,
    attrs: planAttrs(n.attrs),
    inputs: n.inputs.map((v) => (v ? slotOf.get(v)! : -1)),
    outputs: n.outputs.map((o) => slotOf.get(o)!),
    sources: nodeSources(n),
    module: 'm0',
  };
}

function fusedKernel(nodes: readonly Node[], id: number, slotOf: ReadonlyMap<Value, number>): Kernel {
  const roles = kernelRoles(nodes);
  const anchor = roles.anchor;
  const inputs: number[] = [];
  const inputIndex = new Map<Value, number>();
  const useInput = (v: Value): number => {
    let i = inputIndex.get(v);
    if (i === undefined) {
      i = inputs.length;
      inputs.push(slotOf.get(v)!);
      inputIndex.set(v, i);
    }
    return i;
  };
  if (anchor) {
    const arity = Math.max(anchor.inputs.length, getOp(anchor.op)!.inputs[1]);
    for (let i = 0; i < arity; i++) {
      const v = anchor.inputs[i];
      if (!v || (i === 0 && roles.prologue.length)) inputs.push(-1);
      else if (!inputIndex.has(v)) useInput(v);
      else inputs.push(slotOf.get(v)!);
    }
  }
  const steps = (members: readonly Node[]): FusedStep[] => {
    const stepOf = new Map<Value, number>();
    return members.map((n, k) => {
      const args = n.inputs.map((v): FusedOperand => {
        if (!v) throw new Error(`emit-plan: ${n.op} ${n.loc} has an omitted input inside a fused kernel`);
        if (anchor && v === anchor.outputs[0]) return { acc: true };
        const s = stepOf.get(v);
        return s !== undefined ? { step: s } : { input: useInput(v) };
      });
      stepOf.set(n.outputs[0]!, k);
      return { op: n.op, attrs: planAttrs(n.attrs), args, dtype: n.outputs[0]!.type.dtype as ArtifactDType, source: n.loc };
    });
  };
  const prologue = steps(roles.prologue);
  const epilogue = steps(roles.epilogue);
  return {
    id,
    family: roles.family,
    op: roles.op,
    ...(epilogue.length ? { epilogue } : {}),
    ...(prologue.length ? { prologue } : {}),
    attrs: anchor ? planAttrs(anchor.attrs) : {},
    inputs,
    outputs: [slotOf.get(roles.result)!],
    sources: nodes.flatMap(nodeSources),
    module: 'm0',
  };
}
