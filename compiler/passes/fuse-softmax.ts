// fuse-softmax: recognizes softmax over one axis decomposed into reductions and elementwise ops.
//   e = Exp(x - ReduceMax(x, [a]))  (or e = Exp(x));  y = e / ReduceSum(e, [a])  -> Softmax(x, axis = a)
// Both reductions keep dims and take their one axis as a constant input; the max, when present,
// is over the same axis as the sum and of the same x. Dropping the max is exact (softmax is
// shift-invariant); the Softmax op subtracts the max itself, so the unguarded form only gains range.
// Needs: types inferred. Guarantees: intermediates were read only inside the pattern; the Softmax
// takes over the Div's output and location and lists the other nodes in `_sources`.

import { Attrs, attr, type Graph, type Node, type Value } from '../ir/graph.js';
import { isFloat } from '../ir/dtype.js';
import { bumpStat, type Pass } from './pass.js';
import { GraphIndex, removeNodes, replaceMatched, sameType } from './pattern-match.js';

export interface SoftmaxMatch {
  x: Value;
  axis: number;
  nodes: Node[];
  last: Node;
}

export interface SoftmaxPlan {
  matches: SoftmaxMatch[];
  rejected: { loc: string; reason: string }[];
}

/** The one axis (normalized) of a keepdims reduction with constant axes. */
function oneAxis(r: Node): number | undefined {
  const axes = r.inputs[1]?.constant?.toArray();
  if (!axes || axes.length !== 1 || r.attrs.int('keepdims', 1) !== 1) return undefined;
  const rank = r.inputs[0]!.type.shape.length;
  const a = axes[0]!;
  return a < 0 ? a + rank : a;
}

function match(idx: GraphIndex, exp: Node): SoftmaxMatch | string {
  const e = exp.outputs[0]!;
  const readers = idx.readers(e);
  const sum = readers.find((r) => r.op === 'ReduceSum' && r.inputs[0] === e);
  const div = readers.find((r) => r.op === 'Div' && r.inputs[0] === e);
  if (readers.length !== 2 || !sum || !div || div.inputs[1] !== sum.outputs[0]) return 'exp(.) is not read by exactly ReduceSum and Div(exp, sum)';
  const axis = oneAxis(sum);
  if (axis === undefined) return 'the sum is not a keepdims reduction over one constant axis';
  const sub = idx.producer(exp.inputs[0], 'Sub');
  const max = sub && idx.producer(sub.inputs[1], 'ReduceMax');
  if (sub && max && max.inputs[0] === sub.inputs[0]) {
    if (oneAxis(max) !== axis) return 'the max and the sum are over different axes';
    return { x: sub.inputs[0]!, axis, nodes: [max, sub, exp, sum, div], last: div };
  }
  return { x: exp.inputs[0]!, axis, nodes: [exp, sum, div], last: div };
}

/** Decides: every decomposed softmax, and why each other Exp is not the start of one. */
export function findSoftmaxes(g: Graph): SoftmaxPlan {
  const idx = new GraphIndex(g);
  const plan: SoftmaxPlan = { matches: [], rejected: [] };
  for (const n of g.nodes) {
    if (n.op !== 'Exp') continue;
    const m = match(idx, n);
    const reason = typeof m === 'string' ? m
      : !isFloat(m.x.type.dtype) ? `x is ${m.x.type.dtype}, not a float`
      : !sameType(m.last.outputs[0]!.type, m.x.type) ? 'the result does not have the type of x'
      : idx.escapes(m.nodes, m.last);
    if (reason) plan.rejected.push({ loc: n.loc, reason });
    else plan.matches.push(m as SoftmaxMatch);
  }
  return plan;
}

/** Rewrites: each match becomes one Softmax. */
export function applySoftmaxes(g: Graph, plan: SoftmaxPlan): void {
  const dead = new Set<Node>();
  for (const m of plan.matches) {
    const rank = m.x.type.shape.length;
    // The last axis is written -1, as exporters do; others keep their index.
    const axis = m.axis === rank - 1 ? -1 : m.axis;
    replaceMatched(g, m.nodes, m.last, { op: 'Softmax', inputs: [m.x], attrs: new Attrs([['axis', attr.int(axis)]]) });
    for (const k of m.nodes) dead.add(k);
  }
  removeNodes(g, dead);
}

export function fuseSoftmax(g: Graph): SoftmaxPlan {
  const plan = findSoftmaxes(g);
  applySoftmaxes(g, plan);
  return plan;
}

export const fuseSoftmaxPass: Pass = {
  name: 'fuse-softmax',
  summary: 'replace exp(x - max) / sum(exp(x - max)) over one axis by one Softmax node',
  run(g, ctx) {
    const plan = fuseSoftmax(g);
    bumpStat(ctx, 'fuse-softmax', 'fused', plan.matches.length);
    return plan.matches.length > 0;
  },
};
