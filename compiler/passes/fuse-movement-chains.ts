// fuse-movement-chains: shortens the movement ops (Reshape, Flatten, Squeeze, Unsqueeze, Identity,
// Transpose) between compute ops, so that the fuse pass finds the compute ops next to each other.
//   collapse: a chain of movement ops, each result read only by the next, is one strided view of the
//     chain's input (pattern-views.ts); it becomes at most Reshape(x, s) -> Transpose(p), with s the
//     view's dims in memory order and p their order in the result. Exporters write the K^T of
//     attention as Reshape [1,H,S,D]->[H,S,D], Transpose(0,2,1), Reshape -> [1,H,D,S], which is
//     Transpose(0,1,3,2) of [1,H,S,D].
//   hoist: an elementwise op whose other operands are one-element constants (x * c, Cast, Relu)
//     moves above such a chain whose input a contraction, reduction or elementwise op computes:
//     Mul(Transpose(x), c) -> Transpose(Mul(x, c)), which fuses into x's producer's epilogue. Exact:
//     the op acts on every element alone and the movement ops only move elements.
// Needs: static shapes. Guarantees: the chain's result keeps its value (name, type, readers); a
// collapse happens only when it removes nodes. Leaves the movement ops themselves to the runtime.

import { attr, Attrs, type Graph, type Node, type Value } from '../ir/graph.js';
import { nodeFamily } from '../ir/kernels.js';
import { TensorData } from '../ir/tensor.js';
import { isStaticShape } from '../ir/types.js';
import { bumpStat, type Pass } from './pass.js';
import { GraphIndex, removeNodes } from './pattern-match.js';
import { contiguousView, movementView, type View } from './pattern-views.js';

/** Movement ops that keep every element (no Split, Slice or Gather). */
const BIJECTIVE_OPS = new Set(['Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Identity', 'Transpose']);

function staticDims(v: Value | null | undefined): number[] | undefined {
  return v && isStaticShape(v.type.shape) ? (v.type.shape as number[]) : undefined;
}

export interface ChainCollapse {
  /** The chain, input first; the last node's output is the result. */
  chain: Node[];
  /** Dims of the Reshape (undefined: none needed) and perm of the Transpose (undefined: none). */
  reshape?: number[];
  perm?: number[];
}

export interface ScalarHoist {
  op: Node;
  /** The movement ops it moves above, nearest first. */
  chain: Node[];
}

function isBijective(n: Node): boolean {
  return BIJECTIVE_OPS.has(n.op) && n.outputs.length === 1 && !!staticDims(n.inputs[0]) && !!staticDims(n.outputs[0]);
}

/** The movement op producing `v`, when its one reader is the node the caller walks up from. */
function chainLink(idx: GraphIndex, v: Value | null | undefined): Node | undefined {
  const p = v ? idx.producer(v) : undefined;
  return p && isBijective(p) && idx.readers(v!).length === 1 && !idx.isGraphOutput(v!) ? p : undefined;
}

/** Whether the result of movement op `n` is only carried on by another one. */
function continues(idx: GraphIndex, n: Node): boolean {
  const out = n.outputs[0]!;
  const next = idx.readers(out);
  return next.length === 1 && isBijective(next[0]!) && next[0]!.inputs[0] === out && !idx.isGraphOutput(out);
}

/** Reshape dims and Transpose perm producing view `v` of a contiguous tensor of dims `input`. */
function minimalForm(v: View, input: readonly number[]): { dims: number[]; perm: number[] } {
  const axes = v.dims.map((_, i) => i);
  const memory = axes.filter((i) => v.dims[i] !== 1).sort((a, b) => v.strides[b]! - v.strides[a]!);
  let order: number[];
  if (input.length === v.dims.length && memory.map((i) => v.dims[i]).join() === input.filter((d) => d !== 1).join()) {
    // A transpose of the input as it is: its size-1 dims take the view's size-1 axes in order.
    const units = axes.filter((i) => v.dims[i] === 1);
    let u = 0;
    let m = 0;
    order = input.map((d) => (d === 1 ? units[u++]! : memory[m++]!));
  } else {
    // Memory order (decreasing stride); a size-1 axis stays right after the axis before it.
    const key = axes.map((i) => {
      if (v.dims[i] !== 1) return v.strides[i]!;
      const before = axes.filter((j) => j < i && v.dims[j] !== 1).pop();
      return before === undefined ? Infinity : v.strides[before]!;
    });
    order = [...axes].sort((a, b) => key[b]! - key[a]! || a - b);
  }
  return { dims: order.map((i) => v.dims[i]!), perm: axes.map((j) => order.indexOf(j)) };
}

/** Decides: the chains of movement ops that a Reshape and/or a Transpose can replace. */
export function findChainCollapses(g: Graph): ChainCollapse[] {
  const idx = new GraphIndex(g);
  const collapses: ChainCollapse[] = [];
  // Walk up from the last node of each chain.
  for (const last of g.nodes) {
    if (!isBijective(last) || continues(idx, last)) continue;
    const chain = [last];
    for (let p = chainLink(idx, last.inputs[0]); p; p = chainLink(idx, p.inputs[0])) chain.unshift(p);
    // Longest suffix of the chain that is a strided view of its input.
    while (chain.length >= 2) {
      let view: View | undefined = contiguousView(staticDims(chain[0]!.inputs[0])!);
      for (const n of chain) view = view && movementView(n, 0, view);
      if (view && view.offset === 0) {
        const { dims, perm } = minimalForm(view, staticDims(chain[0]!.inputs[0])!);
        const reshape = dims.join() === staticDims(chain[0]!.inputs[0])!.join() ? undefined : dims;
        const transpose = perm.every((p, k) => p === k) ? undefined : perm;
        const count = (reshape ? 1 : 0) + (transpose ? 1 : 0);
        if (count > 0 && count < chain.length) {
          collapses.push({ chain, ...(reshape ? { reshape } : {}), ...(transpose ? { perm: transpose } : {}) });
        }
        break;
      }
      chain.shift();
    }
  }
  return collapses;
}

/** Whether `n` is an elementwise op reading one non-scalar value (returned) and scalar constants. */
function scalarOperand(n: Node): Value | undefined {
  if (nodeFamily(n) !== 'elementwise' || n.outputs.length !== 1) return undefined;
  const others = n.inputs.filter((v) => v && !(v.constant && v.constant.size === 1));
  if (others.length !== 1 || n.inputs.filter((v) => v === others[0]).length !== 1) return undefined;
  const x = others[0]!;
  const out = staticDims(n.outputs[0]);
  return out && out.join() === staticDims(x)?.join() ? x : undefined;
}

/** Decides: the scalar elementwise ops to move above the movement chain they read. */
export function findScalarHoists(g: Graph): ScalarHoist[] {
  const idx = new GraphIndex(g);
  const hoists: ScalarHoist[] = [];
  for (const op of g.nodes) {
    const t = scalarOperand(op);
    const chain: Node[] = [];
    for (let p = chainLink(idx, t); p; p = chainLink(idx, p.inputs[0])) chain.push(p);
    if (!chain.length) continue;
    const x = chain[chain.length - 1]!.inputs[0]!;
    const producer = idx.producer(x);
    const family = producer && nodeFamily(producer);
    if (!producer || producer.outputs.length !== 1 || idx.readers(x).length !== 1 || idx.isGraphOutput(x)) continue;
    if (family !== 'contraction' && family !== 'reduction' && family !== 'elementwise') continue;
    // A scalar operand of higher rank than x would change the hoisted result's rank.
    const rank = x.type.shape.length;
    if (op.inputs.some((v) => v && v !== t && v.type.shape.length > rank)) continue;
    hoists.push({ op, chain });
  }
  return hoists;
}

/** Rewrites: each chain becomes its Reshape and/or Transpose, which take over its result. */
export function applyChainCollapses(g: Graph, collapses: readonly ChainCollapse[]): void {
  const dead = new Set<Node>();
  for (const c of collapses) {
    const last = c.chain[c.chain.length - 1]!;
    const result = last.outputs[0]!;
    let x = c.chain[0]!.inputs[0]!;
    const at = g.nodes.indexOf(last);
    const made: Node[] = [];
    if (c.reshape) {
      const shape = g.addConstant(`${result.name}.shape`, TensorData.fromValues('i64', [c.reshape.length], c.reshape));
      made.push(g.addNode({ op: 'Reshape', inputs: [x, shape], outputTypes: [{ dtype: x.type.dtype, shape: c.reshape }], outputNames: [`${result.name}.reshaped`], loc: c.chain[0]!.loc }, at));
      x = made[0]!.outputs[0]!;
    }
    if (c.perm) made.push(g.addNode({ op: 'Transpose', inputs: [x], attrs: new Attrs([['perm', attr.ints(c.perm)]]), outputTypes: [result.type], loc: last.loc }, at + made.length));
    const sources = c.chain.map((n) => n.loc).filter((l) => !made.some((m) => m.loc === l));
    const tail = made[made.length - 1]!;
    if (sources.length) tail.attrs = tail.attrs.with('_sources', attr.strings(sources));
    tail.outputs = [result];
    result.producer = tail;
    for (const n of c.chain) dead.add(n);
  }
  removeNodes(g, dead);
}

/** Rewrites: the op reads the chain's input, and the chain carries the op's result. */
export function applyScalarHoist(g: Graph, h: ScalarHoist): void {
  const { op, chain } = h;
  const top = chain[chain.length - 1]!;
  const x = top.inputs[0]!;
  const t = chain[0]!.outputs[0]!;
  const e = op.outputs[0]!;
  const u = g.newValue(`${e.name}.hoisted`, { dtype: e.type.dtype, shape: [...x.type.shape] });
  op.inputs = op.inputs.map((v) => (v === t ? x : v));
  op.outputs = [u];
  u.producer = op;
  top.inputs[0] = u;
  // The values between the movement ops keep their shapes and take the op's dtype (a Cast's).
  for (const n of chain.slice(1)) n.outputs[0]!.type = { dtype: e.type.dtype, shape: n.outputs[0]!.type.shape };
  chain[0]!.outputs = [e];
  e.producer = chain[0];
  g.nodes = g.nodes.filter((n) => n !== op);
  g.nodes.splice(g.nodes.indexOf(top), 0, op);
}

export interface MovementResult {
  collapses: ChainCollapse[];
  hoists: ScalarHoist[];
}

export function fuseMovementChains(g: Graph): MovementResult {
  const collapses = findChainCollapses(g);
  applyChainCollapses(g, collapses);
  // A hoisted op may leave another scalar op reading the chain (x * c then Cast): look again.
  const hoists: ScalarHoist[] = [];
  for (let round = findScalarHoists(g); round.length; round = findScalarHoists(g)) {
    for (const h of round) applyScalarHoist(g, h);
    hoists.push(...round);
  }
  return { collapses, hoists };
}

export const fuseMovementChainsPass: Pass = {
  name: 'fuse-movement-chains',
  summary: 'collapse reshape/transpose chains and move scalar elementwise ops above them, next to their producer',
  run(g, ctx) {
    const r = fuseMovementChains(g);
    bumpStat(ctx, 'fuse-movement-chains', 'collapsed', r.collapses.length);
    bumpStat(ctx, 'fuse-movement-chains', 'hoisted', r.hoists.length);
    return r.collapses.length + r.hoists.length > 0;
  },
};
