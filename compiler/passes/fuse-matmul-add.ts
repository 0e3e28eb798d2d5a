// fuse-matmul-add: turns a 2-D linear layer exported as MatMul + Add into one Gemm.
//   y = MatMul(A, W) + b  (Add operands in either order)  -> Gemm(A, W, b)  (alpha = beta = 1)
// when A is 2-D [M, K], W is a constant 2-D [K, N], and b is a constant that broadcasts over the
// last dim only (shape [], [1], [N], [1, N]) so that y keeps MatMul's type.
// With A of rank > 2 ([batch, seq, K], what transformers export) the pair is left alone and
// recorded as deferred: the fusion pass puts the bias into the contraction's epilogue instead of
// reshaping A to 2-D here.
// Needs: types inferred. Guarantees: the MatMul output was read only by the Add; the Gemm takes over
// the Add's output and location and lists the MatMul in `_sources`.

import { Attrs, type Graph, type Node, type Value } from '../ir/graph.js';
import { isFloat } from '../ir/dtype.js';
import { bumpStat, type Pass } from './pass.js';
import { GraphIndex, removeNodes, replaceMatched, sameType } from './pattern-match.js';

export interface MatMulAddMatch {
  matmul: Node;
  add: Node;
  bias: Value;
}

export interface MatMulAddPlan {
  matches: MatMulAddMatch[];
  /** MatMul + bias pairs with an input of rank > 2, left for the contraction epilogue. */
  deferred: { loc: string; rank: number }[];
  rejected: { loc: string; reason: string }[];
}

function match(idx: GraphIndex, add: Node): MatMulAddMatch | string | undefined {
  const [a, b] = add.inputs;
  if (!a || !b) return undefined;
  const mmA = idx.producer(a, 'MatMul');
  const mmB = idx.producer(b, 'MatMul');
  const matmul = mmA && b.constant ? mmA : mmB && a.constant ? mmB : undefined;
  if (!matmul) return undefined; // not a MatMul plus a constant: not a candidate at all
  const bias = matmul === mmA ? b : a;
  const w = matmul.inputs[1]!;
  if (!w.constant || w.type.shape.length !== 2) return 'the weight is not a constant 2-D matrix';
  const N = w.type.shape[1];
  const bs = bias.type.shape;
  if (bs.length > 2 || bs.some((d, k) => (k === bs.length - 1 ? d !== 1 && d !== N : d !== 1))) return `the bias [${bs}] does not broadcast over the last dim only`;
  if (!sameType(add.outputs[0]!.type, matmul.outputs[0]!.type) || !isFloat(bias.type.dtype)) return 'the Add changes the type of the product';
  return idx.escapes([matmul, add], add) ?? { matmul, add, bias };
}

/** Decides: which MatMul + bias pairs become Gemm, which wait for the epilogue, and why others stay. */
export function findMatMulAdds(g: Graph): MatMulAddPlan {
  const idx = new GraphIndex(g);
  const plan: MatMulAddPlan = { matches: [], deferred: [], rejected: [] };
  for (const n of g.nodes) {
    if (n.op !== 'Add') continue;
    const m = match(idx, n);
    if (m === undefined) continue;
    if (typeof m === 'string') {
      plan.rejected.push({ loc: n.loc, reason: m });
      continue;
    }
    const rank = m.matmul.inputs[0]!.type.shape.length;
    if (rank === 2) plan.matches.push(m);
    else plan.deferred.push({ loc: n.loc, rank });
  }
  return plan;
}

/** Rewrites: each match becomes one Gemm. */
export function applyMatMulAdds(g: Graph, plan: MatMulAddPlan): void {
  const dead = new Set<Node>();
  for (const m of plan.matches) {
    replaceMatched(g, [m.matmul, m.add], m.add, { op: 'Gemm', inputs: [m.matmul.inputs[0]!, m.matmul.inputs[1]!, m.bias], attrs: new Attrs() });
    dead.add(m.matmul).add(m.add);
  }
  removeNodes(g, dead);
}

export function fuseMatMulAdd(g: Graph): MatMulAddPlan {
  const plan = findMatMulAdds(g);
  applyMatMulAdds(g, plan);
  return plan;
}

export const fuseMatMulAddPass: Pass = {
  name: 'fuse-matmul-add',
  summary: 'turn a 2-D MatMul by a constant weight plus a constant bias into one Gemm',
  run(g, ctx) {
    const plan = fuseMatMulAdd(g);
    bumpStat(ctx, 'fuse-matmul-add', 'fused', plan.matches.length);
    bumpStat(ctx, 'fuse-matmul-add', 'deferred', plan.deferred.length);
    return plan.matches.length > 0;
  },
};
