// fuse: groups nodes into kernels (TVM FuseOps style), so that values internal to a group live in
// registers and never go to memory. Decide, then rewrite: `decideFusion` computes the groups and the
// reasons candidates were rejected; `applyFusion` makes each group contiguous in graph order and
// attaches it to the graph (`graph.kernels`), which the printer shows as `kernel #N family { }`
// blocks and emit-plan turns into one kernel each.
//
// Families (kernels.ts):
//   contraction + epilogue   Conv/ConvTranspose/MatMul/Gemm/... then elementwise steps on its result
//   reduction + pro/epilogue Softmax/LayerNormalization/ReduceX/pooling/..., with elementwise steps
//                            computing its input 0 before it (prologue) and on its result after it
//   elementwise DAG          connected elementwise/broadcast ops -> one 'Elementwise' kernel
//   attention                an Attention node is always a kernel of its own
// Injective ops (Reshape, Flatten, Squeeze, Unsqueeze, Identity, Transpose, Gather, Concat...) and
// opaque ops stay kernels of their own: the metadata-only ones become views in the plan, the
// others move data in ways a step (one element in, one element out, same index) cannot express.
//
// Rules: a group computes exactly one value read outside it or a graph output (its result,
// produced by its last node), so a value is internal only if all its readers are in the group and
// it is not a graph output; at most one anchor (contraction, reduction or attention) per group; a
// contraction takes no prologue; a prologue computes only the anchor's input 0, and its values feed
// nothing else; every epilogue step has the anchor's output shape (the group's result shape when
// there is no anchor), every prologue step the anchor input 0's shape, and every operand of a step
// numpy-broadcasts to the step's shape. Dtype changes (Cast) are allowed as steps. Members have one
// output each; ops whose operands broadcast along an axis (QuantizeLinear, DequantizeLinear) and
// anchors with a variable number of inputs (Einsum) stay alone.
//
// Greedy order: the candidate merges are "group A's result is read only by group B"; they are
// tried by the bytes they keep out of memory (largest first, then in graph order), and after every
// merge the list is tried again from the top, since a merge can make a rejected candidate valid.
// Needs: types inferred (static shapes give exact byte counts; symbolic dims count as 1). Guarantees:
// the graph computes the same values (nodes only move within a topological order); `graph.kernels`
// passes `checkKernels`. Leaves to emit-plan: kernel operands, step lists and memory slots. Passes
// that change nodes must run before this one.

import { dtypeByteLength } from '../ir/dtype.js';
import type { Graph, Node, Value } from '../ir/graph.js';
import { isAnchor, kernelRoles, nodeFamily, VIEW_OPS, type KernelFamily } from '../ir/kernels.js';
import { getOp } from '../ir/ops.js';
import { formatShape, type Dim } from '../ir/types.js';
import { bumpStat, type Pass } from './pass.js';

export interface FusedKernel {
  /** Members in graph order. */
  nodes: Node[];
  family: KernelFamily;
  op: string;
  /** Bytes of the values that are internal to the kernel (no longer written to memory). */
  savedBytes: number;
}

export interface FusionRejection {
  /** The value that stays in memory. */
  value: string;
  /** Location of the node producing it. */
  producer: string;
  reason: string;
}

export interface FusionDecision {
  /** Groups of two or more nodes, in graph order of their last member. */
  kernels: FusedKernel[];
  /** Values that could have been kept in registers, with the last reason they were not. */
  rejected: FusionRejection[];
  savedBytes: number;
}

/** Ops that are elementwise but broadcast an operand along an attribute's axis, not numpy-style. */
const AXIS_BROADCAST_OPS = new Set(['QuantizeLinear', 'DequantizeLinear']);


export function valueBytes(v: Value): number {
  const n = v.type.shape.reduce<number>((acc, d) => acc * (typeof d === 'number' ? d : 1), 1);
  return dtypeByteLength(v.type.dtype, n);
}

function sameShape(a: readonly Dim[], b: readonly Dim[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Unidirectional numpy broadcasting: can `from` be broadcast to `to`? */
function broadcastsTo(from: readonly Dim[], to: readonly Dim[]): boolean {
  if (from.length > to.length) return false;
  const off = to.length - from.length;
  return from.every((d, i) => d === 1 || d === to[off + i]);
}

/** Why `n` can never be part of a group, or undefined. */
function reasonAlone(n: Node): string | undefined {
  const what = `${n.op} ${n.loc}`;
  if (n.outputs.length !== 1) return `${what} has ${n.outputs.length} outputs`;
  const family = nodeFamily(n);
  if (family === 'attention') return `${what} is an attention kernel of its own`;
  if (family === 'injective') {
    return VIEW_OPS.has(n.op) ? `${what} only changes metadata: kept as its own node, a view slot of its input in the plan` : `${what} is injective: kept as its own kernel`;
  }
  if (family === 'opaque') return `${what} is opaque`;
  if (isAnchor(n)) {
    const def = getOp(n.op);
    if (!def || !Number.isFinite(def.inputs[1])) return `${what} takes a variable number of inputs`;
    return undefined;
  }
  if (AXIS_BROADCAST_OPS.has(n.op)) return `${what} broadcasts along an axis, not numpy-style`;
  const out = n.outputs[0]!.type.shape;
  for (const u of n.inputs) {
    if (u && !broadcastsTo(u.type.shape, out)) return `operand %${u.name} ${formatShape(u.type.shape)} of ${what} does not broadcast to its result ${formatShape(out)}`;
  }
  return undefined;
}

/** Why the nodes (in graph order, with one escaping value) cannot form one kernel, or undefined. */
export function groupProblem(nodes: readonly Node[]): string | undefined {
  const anchors = nodes.filter(isAnchor);
  if (anchors.length > 1) return `two anchors: ${anchors[0]!.op} ${anchors[0]!.loc} and ${anchors[1]!.op} ${anchors[1]!.loc}`;
  const roles = kernelRoles(nodes);
  const anchor = roles.anchor;
  if (!anchor) {
    const out = roles.result.type.shape;
    for (const n of nodes) {
      const s = n.outputs[0]!.type.shape;
      if (!sameShape(s, out)) return `shape ${formatShape(s)} of %${n.outputs[0]!.name} differs from the output ${formatShape(out)}`;
    }
    return undefined;
  }
  const out = anchor.outputs[0]!.type.shape;
  if (roles.prologue.length) {
    const p0 = roles.prologue[roles.prologue.length - 1]!;
    if (roles.family !== 'reduction') return `${anchor.op} ${anchor.loc} takes no prologue (%${p0.outputs[0]!.name} would be computed inside it)`;
    const pro = new Set(roles.prologue);
    const x = anchor.inputs[0];
    if (!x?.producer || !pro.has(x.producer)) return `the prologue of ${anchor.op} ${anchor.loc} must compute its input 0`;
    for (let i = 1; i < anchor.inputs.length; i++) {
      const p = anchor.inputs[i]?.producer;
      if (p && pro.has(p)) return `the prologue of ${anchor.op} ${anchor.loc} may compute only its input 0, not input ${i}`;
    }
    const members = new Set(nodes);
    for (const e of roles.epilogue) {
      for (const u of e.inputs) {
        if (u?.producer && pro.has(u.producer) && members.has(u.producer)) return `%${u.name} feeds both the prologue and the epilogue`;
      }
    }
    const inShape = x.type.shape;
    for (const p of roles.prologue) {
      const s = p.outputs[0]!.type.shape;
      if (!sameShape(s, inShape)) return `shape ${formatShape(s)} of %${p.outputs[0]!.name} differs from the input ${formatShape(inShape)} of ${anchor.op}`;
    }
  }
  for (const e of roles.epilogue) {
    const s = e.outputs[0]!.type.shape;
    if (!sameShape(s, out)) return `shape ${formatShape(s)} of %${e.outputs[0]!.name} differs from the output ${formatShape(out)} of ${anchor.op}`;
    // A library contraction (cuBLASLt, cuDNN) writes its result where the epilogue then runs in
    // place, so the epilogue keeps the anchor's dtype.
    const dtype = e.outputs[0]!.type.dtype;
    if (roles.family === 'contraction' && dtype !== anchor.outputs[0]!.type.dtype) {
      return `%${e.outputs[0]!.name} is ${dtype}, not the ${anchor.outputs[0]!.type.dtype} of ${anchor.op} ${anchor.loc}: a contraction's epilogue keeps its dtype`;
    }
  }
  return undefined;
}

interface Group {
  id: number;
  nodes: Node[];
  version: number;
  alive: boolean;
}

export function decideFusion(g: Graph): FusionDecision {
  const position = new Map(g.nodes.map((n, i) => [n, i]));
  const users = g.users();
  const outputs = new Set(g.outputs);
  const groupOf = new Map<Node, Group>();
  const groups: Group[] = g.nodes.map((n, id) => {
    const grp = { id, nodes: [n], version: 0, alive: true };
    groupOf.set(n, grp);
    return grp;
  });
  const alone = new Map<Node, string | undefined>(g.nodes.map((n) => [n, reasonAlone(n)]));
  const resultOf = (grp: Group) => grp.nodes[grp.nodes.length - 1]!.outputs[0]!;
  // Candidate values: every node's first output that something reads; once internal, never again.
  const candidates = g.nodes
    .filter((n) => n.outputs.length >= 1 && (users.get(n.outputs[0]!)?.length ?? 0) > 0)
    .map((n) => ({ value: n.outputs[0]!, producer: n, bytes: valueBytes(n.outputs[0]!) }))
    .sort((a, b) => b.bytes - a.bytes || position.get(a.producer)! - position.get(b.producer)!);
  const internal = new Set<Value>();
  const lastReason = new Map<Value, { signature: string; reason: string }>();

  const tryMerge = (value: Value, producer: Node): { reason: string; signature: string } | undefined => {
    if (outputs.has(value)) return { reason: `%${value.name} is a graph output`, signature: 'output' };
    const a = groupOf.get(producer)!;
    const readers = users.get(value)!;
    const b = groupOf.get(readers[0]!)!;
    const signature = `${a.id}.${a.version}:${[...new Set(readers.map((r) => groupOf.get(r)!))].map((x) => `${x.id}.${x.version}`).join(',')}`;
    const cached = lastReason.get(value);
    if (cached?.signature === signature) return cached;
    const outside = readers.filter((r) => groupOf.get(r) !== b);
    if (outside.length) return { reason: `value %${value.name} has ${outside.length} reader${outside.length > 1 ? 's' : ''} outside the group of ${readers[0]!.op} ${readers[0]!.loc}`, signature };
    for (const n of [...a.nodes, ...b.nodes]) {
      const r = alone.get(n);
      if (r) return { reason: r, signature };
    }
    const merged = [...a.nodes, ...b.nodes].sort((x, y) => position.get(x)! - position.get(y)!);
    const problem = groupProblem(merged);
    if (problem) return { reason: problem, signature };
    b.nodes = merged;
    b.version++;
    a.alive = false;
    for (const n of a.nodes) groupOf.set(n, b);
    return undefined;
  };

  for (let merged = true; merged; ) {
    merged = false;
    for (const c of candidates) {
      if (internal.has(c.value)) continue;
      // Only a group's result can become internal (other values of a group already are or escape).
      if (resultOf(groupOf.get(c.producer)!) !== c.value) continue;
      const rejected = tryMerge(c.value, c.producer);
      if (rejected) {
        lastReason.set(c.value, rejected);
        continue;
      }
      internal.add(c.value);
      lastReason.delete(c.value);
      merged = true;
      break;
    }
  }

  const kernels: FusedKernel[] = groups
    .filter((grp) => grp.alive && grp.nodes.length > 1)
    .sort((x, y) => position.get(x.nodes[x.nodes.length - 1]!)! - position.get(y.nodes[y.nodes.length - 1]!)!)
    .map((grp) => {
      const roles = kernelRoles(grp.nodes);
      const savedBytes = grp.nodes.slice(0, -1).reduce((acc, n) => acc + valueBytes(n.outputs[0]!), 0);
      return { nodes: grp.nodes, family: roles.family, op: roles.op, savedBytes };
    });
  const rejected = candidates
    .filter((c) => lastReason.has(c.value))
    .sort((a, b) => position.get(a.producer)! - position.get(b.producer)!)
    .map((c) => ({ value: c.value.name, producer: c.producer.loc, reason: lastReason.get(c.value)!.reason }));
  return { kernels, rejected, savedBytes: kernels.reduce((acc, k) => acc + k.savedBytes, 0) };
}

/** Makes every group contiguous (members move down to their last member) and attaches the groups. */
export function applyFusion(g: Graph, d: FusionDecision): void {
  const groupOf = new Map<Node, FusedKernel>();
  for (const k of d.kernels) for (const n of k.nodes) groupOf.set(n, k);
  const order: Node[] = [];
  for (const n of g.nodes) {
    const k = groupOf.get(n);
    if (!k) order.push(n);
    else if (n === k.nodes[k.nodes.length - 1]) order.push(...k.nodes);
  }
  g.nodes = order;
  g.kernels = d.kernels.map((k) => ({ nodes: [...k.nodes] }));
}

export const fusePass: Pass = {
  name: 'fuse',
  summary: 'group nodes into kernels: contraction/reduction with elementwise prologue and epilogue, elementwise DAGs',
  run(g, ctx) {
    const previous = g.kernels?.length ?? 0;
    g.kernels = undefined;
    const d = decideFusion(g);
    applyFusion(g, d);
    const fusedNodes = d.kernels.reduce((acc, k) => acc + k.nodes.length, 0);
    bumpStat(ctx, 'fuse', 'kernels', g.nodes.length - fusedNodes + d.kernels.length);
    bumpStat(ctx, 'fuse', 'fusedKernels', d.kernels.length);
    bumpStat(ctx, 'fuse', 'fusedNodes', fusedNodes);
    bumpStat(ctx, 'fuse', 'savedBytes', d.savedBytes);
    bumpStat(ctx, 'fuse', 'rejected', d.rejected.length);
    return d.kernels.length > 0 || previous > 0;
  },
};
