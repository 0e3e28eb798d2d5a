// fuse-attention: recognizes scaled dot-product attention as torch exports it for BERT and GPT-2
// and replaces it by one Attention node (opset-23 semantics, 4-D inputs).
//   S = MatMul(Q * cq, Kt * ck)  [/ c or * c]  [+ mask];   P = Softmax(S, axis = -1)
//   [P = Where(IsNaN(P), 0, P)];   Y = MatMul(P, V)
//   -> Attention(Q, K, V, mask) {scale = cq * ck * (1/c or c)}
// with Q [B,H,Sq,D], V [B,H,T,Dv], Kt = K^T over the last two dims of K [B,H,T,D]; cq, ck, c
// one-element constants (each optional, default 1). torch's SDPA export scales Q and Kt by
// sqrt(scale) each, and guards fully masked rows with Where(IsNaN); Attention gives those rows
// zeros, so the guard is dropped. Kt is found as Transpose(y, p) (K becomes Transpose(y, p with the
// last two entries swapped), or y itself), as dynamo's Reshape([B*H,T,D]) -> Transpose(0,2,1) ->
// Reshape([B,H,D,T]) of K, or otherwise transposed back by a new Transpose.
// The mask must be float of Q's dtype, broadcast to [B,H,Sq,T] with its last dim exactly T.
// Head splits fold in when all of them are the usual ones: Q, K and V each Transpose(Reshape(x,
// [B,S,H,D]), [0,2,1,3]) of a 3-D x [B,S,H*D], and Y read only by Transpose(Y, [0,2,1,3]) then a
// Reshape; the Attention then takes the x's and makes [B,Sq,H*Dv] (its 3-D form with q_num_heads =
// kv_num_heads = H), and the splits around it become dead. A Reshape keeps the row-major order, so
// the merging Reshape may have any shape: to [B,Sq,H*Dv] the Attention makes its output; to another
// one (GPT-2's Conv1D views the merge as [B*Sq, H*Dv], and canonicalize joins the two Reshapes) it
// stays, reading the Attention's output instead (with a constant shape free of 0 entries, since
// its input's rank changes).
// Needs: types inferred. Guarantees: intermediates were read only inside the pattern; B and H are
// the same in Q, K and V (no MatMul broadcasting); the Attention takes over Y and the last MatMul's
// location (with folded head splits: the merging Reshape's output and location, or, where that
// Reshape stays, the merging Transpose's output, retyped to [B,Sq,H*Dv], and location) and lists
// the other nodes in `_sources`.

import { Attrs, attr, type Graph, type Node, type Value } from '../ir/graph.js';
import { isFloat } from '../ir/dtype.js';
import { TensorData } from '../ir/tensor.js';
import { isStaticShape, type Dim } from '../ir/types.js';
import { bumpStat, type Pass } from './pass.js';
import { GraphIndex, otherOperand, removeNodes, replaceMatched, scalarOf } from './pattern-match.js';

/** How K [B,H,T,D] is obtained from what the pattern multiplies by. */
type KeySource =
  | { kind: 'value'; k: Value } // K exists as a value
  | { kind: 'transpose'; input: Value; perm: number[]; loc: string }; // K = Transpose(input, perm), made by the rewrite

/** The head splits of a match, folded. */
export interface PackedHeads {
  /** The 3-D inputs [B,S,H*D]. */
  q: Value;
  k: Value;
  v: Value;
  heads: number;
  /**
   * The merging Reshape when its shape is not [B,Sq,H*Dv]: it stays and reads the Attention's
   * output, with `shape` as its shape input (then `last` is the merging Transpose).
   */
  merge?: { reshape: Node; shape: Value | number[] };
}

export interface AttentionMatch {
  q: Value;
  key: KeySource;
  v: Value;
  mask: Value | undefined;
  scale: number;
  nodes: Node[];
  last: Node;
  /** Set when the head splits fold in (then `last` is the merging Reshape, or see `merge`). */
  packed?: PackedHeads;
}

export interface AttentionPlan {
  matches: AttentionMatch[];
  rejected: { loc: string; reason: string }[];
}

const eqDim = (a: Dim | undefined, b: Dim | undefined) => a !== undefined && a === b;

/** Strips a Mul by a one-element constant off `v`: the scaled value, the factor and the Mul. */
function unscale(idx: GraphIndex, v: Value): [Value, number, Node | undefined] {
  const mul = idx.producer(v, 'Mul');
  if (mul) {
    for (const [x, c] of [[mul.inputs[0], mul.inputs[1]], [mul.inputs[1], mul.inputs[0]]] as const) {
      const s = scalarOf(c);
      if (x && s !== undefined && !x.constant) return [x, s, mul];
    }
  }
  return [v, 1, undefined];
}

/** `v` is MatMul(.,.) or such a product divided or multiplied by a constant. */
function isScores(idx: GraphIndex, v: Value): boolean {
  if (idx.producer(v, 'MatMul')) return true;
  const d = idx.producer(v, 'Div');
  if (d) return !!idx.producer(d.inputs[0], 'MatMul');
  const [x, , mul] = unscale(idx, v);
  return !!mul && !!idx.producer(x, 'MatMul');
}

/** K from Kt = K^T (last two dims): the source and the nodes of Kt's computation it replaces. */
function keyOf(idx: GraphIndex, kt: Value): [KeySource, Node[]] {
  const t = idx.producer(kt, 'Transpose');
  if (t && t.attrs.has('perm')) {
    const p = [...t.attrs.ints('perm')];
    const perm = [p[0]!, p[1]!, p[3]!, p[2]!];
    const input = t.inputs[0]!;
    if (perm.every((x, i) => x === i)) return [{ kind: 'value', k: input }, [t]];
    return [{ kind: 'transpose', input, perm, loc: t.loc }, [t]];
  }
  // dynamo: Reshape(Transpose(Reshape(K, [B*H, T, D]), [0, 2, 1]), [B, H, D, T])
  const r2 = idx.producer(kt, 'Reshape');
  const t3 = r2 && idx.producer(r2.inputs[0], 'Transpose');
  const r1 = t3 && idx.producer(t3.inputs[0], 'Reshape');
  if (r2 && t3 && r1 && String(t3.attrs.ints('perm', [])) === '0,2,1') {
    const k = r1.inputs[0]!;
    const [B, H, T, D] = k.type.shape;
    const mid = r1.outputs[0]!.type.shape;
    const out = kt.type.shape;
    const merged = typeof B === 'number' && typeof H === 'number' && mid[0] === B * H;
    if (k.type.shape.length === 4 && merged && eqDim(mid[1], T) && eqDim(mid[2], D) && eqDim(out[0], B) && eqDim(out[1], H) && eqDim(out[2], D) && eqDim(out[3], T)) {
      return [{ kind: 'value', k }, [r1, t3, r2]];
    }
  }
  return [{ kind: 'transpose', input: kt, perm: [0, 1, 3, 2], loc: `${kt.name}.untransposed` }, []];
}

function keyShape(key: KeySource): readonly Dim[] {
  if (key.kind === 'value') return key.k.type.shape;
  return key.perm.map((p) => key.input.type.shape[p]!);
}

/** x when `v` is Transpose(Reshape(x [B,S,H*D] -> [B,S,H,D]), [0,2,1,3]). */
function unsplit(idx: GraphIndex, v: Value): Value | undefined {
  const t = idx.producer(v, 'Transpose');
  return t && String(t.attrs.ints('perm', [])) === '0,2,1,3' ? unsplitReshape(idx, t.inputs[0]!) : undefined;
}

/** x when `r` is Reshape(x [B,S,H*D]) of shape [B,S,H,D]. */
function unsplitReshape(idx: GraphIndex, r: Value): Value | undefined {
  const x = idx.producer(r, 'Reshape')?.inputs[0];
  const [B, S, H, D] = r.type.shape;
  const xs = x?.type.shape;
  if (!x || !xs || xs.length !== 3 || r.type.shape.length !== 4 || typeof H !== 'number' || typeof D !== 'number') return undefined;
  return eqDim(xs[0], B) && eqDim(xs[1], S) && xs[2] === H * D ? x : undefined;
}

/**
 * The shape input that makes Reshape `r` give the same result from the 3-D merged value as from
 * the 4-D one: its own when it is a constant without 0 entries (a 0 would copy a dim of the input,
 * whose rank changes; with allowzero = 1 it is a literal 0), else its static result's dims.
 */
function mergeShape(r: Node): Value | number[] | undefined {
  const shape = r.inputs[1];
  const c = shape?.constant;
  if (shape && c && (r.attrs.int('allowzero', 0) === 1 || !Array.from(c.values).includes(0))) return shape;
  const out = r.outputs[0]!.type.shape;
  return isStaticShape(out) && !out.includes(0) ? [...out] : undefined;
}

/** The head splits of a match, folded, and the nodes they remove (the merging Transpose, and the Reshape when it goes). */
function packed(idx: GraphIndex, m: AttentionMatch): [PackedHeads, Node[]] | undefined {
  const q = unsplit(idx, m.q);
  const v = unsplit(idx, m.v);
  const k = m.key.kind === 'value' ? unsplit(idx, m.key.k) : String(m.key.perm) === '0,2,1,3' ? unsplitReshape(idx, m.key.input) : undefined;
  const y = m.last.outputs[0]!;
  const t = idx.soleReader(y, 'Transpose');
  const r = t && String(t.attrs.ints('perm', [])) === '0,2,1,3' ? idx.soleReader(t.outputs[0]!, 'Reshape') : undefined;
  const [B, H, Sq, Dv] = y.type.shape;
  const out = r?.outputs[0]!.type.shape;
  if (!q || !k || !v || !t || !r || !out || typeof H !== 'number' || typeof Dv !== 'number') return undefined;
  if (out.length === 3 && eqDim(out[0], B) && eqDim(out[1], Sq) && out[2] === H * Dv) return [{ q, k, v, heads: H }, [t, r]];
  if (idx.isGraphOutput(t.outputs[0]!)) return undefined;
  const shape = mergeShape(r);
  return shape ? [{ q, k, v, heads: H, merge: { reshape: r, shape } }, [t]] : undefined;
}

function match(idx: GraphIndex, softmax: Node): AttentionMatch | string {
  const rank = softmax.inputs[0]!.type.shape.length;
  const axis = softmax.attrs.int('axis', -1);
  if (rank !== 4 || (axis !== -1 && axis !== 3)) return 'not a softmax over the last axis of a 4-D tensor';
  const nodes: Node[] = [softmax];
  // Forward: optional NaN guard, then MatMul(P, V).
  let p = softmax.outputs[0]!;
  const readers = idx.readers(p);
  const isnan = readers.find((r) => r.op === 'IsNaN');
  const where = readers.find((r) => r.op === 'Where' && r.inputs[2] === p);
  if (isnan && where) {
    if (where.inputs[0] !== isnan.outputs[0] || scalarOf(where.inputs[1]) !== 0) return 'the NaN guard is not Where(IsNaN(p), 0, p)';
    nodes.push(isnan, where);
    p = where.outputs[0]!;
  }
  const pv = idx.soleReader(p, 'MatMul');
  if (!pv || pv.inputs[0] !== p) return 'the probabilities are not read only by MatMul(p, V)';
  nodes.push(pv);
  const v = pv.inputs[1]!;
  // Backward: optional mask, optional scale, MatMul(Q*cq, Kt*ck).
  let s = softmax.inputs[0]!;
  let mask: Value | undefined;
  const add = idx.producer(s, 'Add');
  if (add) {
    const [a, b] = add.inputs as [Value, Value];
    s = isScores(idx, a) ? a : b;
    mask = otherOperand(add, s);
    nodes.push(add);
  }
  let scale = 1;
  const div = idx.producer(s, 'Div');
  const divisor = div && scalarOf(div.inputs[1]);
  if (div) {
    if (!divisor) return 'the scores are divided by something other than a nonzero constant';
    scale /= divisor;
    s = div.inputs[0]!;
    nodes.push(div);
  } else {
    const [x, c, mul] = unscale(idx, s);
    if (mul) {
      scale *= c;
      s = x;
      nodes.push(mul);
    }
  }
  const qk = idx.producer(s, 'MatMul');
  if (!qk) return 'the scores are not a MatMul';
  nodes.push(qk);
  const [q, cq, mq] = unscale(idx, qk.inputs[0]!);
  const [kt, ck, mk] = unscale(idx, qk.inputs[1]!);
  scale *= cq * ck;
  for (const m of [mq, mk]) if (m) nodes.push(m);
  const [key, keyNodes] = keyOf(idx, kt);
  nodes.push(...keyNodes);
  // Shapes: Q [B,H,Sq,D], K [B,H,T,D], V [B,H,T,Dv], mask broadcasting to [B,H,Sq,T].
  const [B, H, Sq, D] = q.type.shape;
  const ks = keyShape(key);
  const vs = v.type.shape;
  if (q.type.shape.length !== 4 || ks.length !== 4 || vs.length !== 4) return 'Q, K and V are not all 4-D';
  const T = ks[2];
  if (!eqDim(ks[0], B) || !eqDim(vs[0], B) || !eqDim(ks[1], H) || !eqDim(vs[1], H)) return 'Q, K and V differ in batch or heads';
  if (!eqDim(ks[3], D) || !eqDim(vs[2], T)) return `K [${ks}] and V [${vs}] do not fit Q [${q.type.shape}]`;
  const dt = q.type.dtype;
  if (!isFloat(dt) || kt.type.dtype !== dt || v.type.dtype !== dt) return 'Q, K and V are not all of one float dtype';
  if (mask) {
    const ms = mask.type.shape;
    const full = [B, H, Sq, T].slice(4 - ms.length);
    if (mask.type.dtype !== dt || ms.length < 1 || ms.length > 4) return `the mask is not a ${dt} of rank 1 to 4`;
    if (!ms.every((d, i) => (i === ms.length - 1 ? eqDim(d, T) : d === 1 || eqDim(d, full[i])))) return `the mask [${ms}] does not broadcast to [${[B, H, Sq, T]}]`;
  }
  const m: AttentionMatch = { q, key, v, mask, scale, nodes, last: pv };
  const split = packed(idx, m);
  if (split) {
    m.packed = split[0];
    m.nodes.push(...split[1]);
    m.last = split[1][split[1].length - 1]!;
  }
  return m;
}

/** Decides: every attention subgraph, and why each other softmax is not the middle of one. */
export function findAttentions(g: Graph): AttentionPlan {
  const idx = new GraphIndex(g);
  const plan: AttentionPlan = { matches: [], rejected: [] };
  const claimed = new Set<Node>();
  for (const n of g.nodes) {
    if (n.op !== 'Softmax') continue;
    const m = match(idx, n);
    const reason = typeof m === 'string' ? m : m.nodes.some((k) => claimed.has(k)) ? 'overlaps another match' : idx.escapes(m.nodes, m.last);
    if (reason) {
      plan.rejected.push({ loc: n.loc, reason });
      continue;
    }
    const ok = m as AttentionMatch;
    plan.matches.push(ok);
    for (const k of ok.nodes) claimed.add(k);
  }
  return plan;
}

/** Rewrites: each match becomes one Attention (and a Transpose making K when needed). */
export function applyAttentions(g: Graph, plan: AttentionPlan): void {
  const dead = new Set<Node>();
  for (const m of plan.matches) {
    if (m.packed) {
      const { q, k, v, heads, merge } = m.packed;
      const attrs = new Attrs([['scale', attr.float(m.scale)], ['q_num_heads', attr.int(heads)], ['kv_num_heads', attr.int(heads)]]);
      const node = replaceMatched(g, m.nodes, m.last, { op: 'Attention', inputs: m.mask ? [q, k, v, m.mask] : [q, k, v], attrs });
      if (merge) {
        // The Attention took over the merging Transpose's output; it is the 3-D [B,Sq,H*Dv] now.
        const y = node.outputs[0]!;
        const [B, Sq, H, Dv] = y.type.shape as [Dim, Dim, number, number];
        y.type = { dtype: y.type.dtype, shape: [B, Sq, H * Dv] };
        const r = merge.reshape;
        const shape = Array.isArray(merge.shape) ? g.addConstant(`${r.outputs[0]!.name}.shape`, TensorData.fromValues('i64', [merge.shape.length], merge.shape)) : merge.shape;
        r.inputs = [y, shape];
      }
      for (const n of m.nodes) dead.add(n);
      continue;
    }
    let k: Value;
    if (m.key.kind === 'value') k = m.key.k;
    else {
      const { input, perm, loc } = m.key;
      const t = g.addNode({
        op: 'Transpose', inputs: [input], attrs: new Attrs([['perm', attr.ints(perm)]]), loc, outputNames: [`${input.name}.bhtd`],
        outputTypes: [{ dtype: input.type.dtype, shape: perm.map((p) => input.type.shape[p]!) }],
      }, g.nodes.indexOf(m.last));
      k = t.outputs[0]!;
    }
    const inputs = m.mask ? [m.q, k, m.v, m.mask] : [m.q, k, m.v];
    replaceMatched(g, m.nodes, m.last, { op: 'Attention', inputs, attrs: new Attrs([['scale', attr.float(m.scale)]]) });
    for (const n of m.nodes) dead.add(n);
  }
  removeNodes(g, dead);
}

export function fuseAttention(g: Graph): AttentionPlan {
  const plan = findAttentions(g);
  applyAttentions(g, plan);
  return plan;
}

export const fuseAttentionPass: Pass = {
  name: 'fuse-attention',
  summary: 'replace the scaled dot-product attention subgraph by one Attention node',
  run(g, ctx) {
    const plan = fuseAttention(g);
    bumpStat(ctx, 'fuse-attention', 'fused', plan.matches.length);
    return plan.matches.length > 0;
  },
};
