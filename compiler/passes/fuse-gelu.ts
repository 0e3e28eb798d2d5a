// fuse-gelu: recognizes GELU as exporters decompose it and replaces it by one Gelu node.
//   erf form:  0.5 * x * (1 + erf(x / c))  with c = sqrt(2)  (or x * c' with c' = 1/sqrt(2))
//              -> Gelu(x, approximate='none')
//   tanh form: 0.5 * x * (1 + tanh(k * (x + 0.044715 * x^3)))  with k = sqrt(2/pi), x^3 as Pow(x, 3),
//              x*(x*x) or Pow(x,2)*x  -> Gelu(x, approximate='tanh')   (GPT-2's NewGELU)
// The product 0.5 * x * p may be formed in any order: (x*p)*0.5, (x*p)/2, (x*0.5)*p, x*(0.5*p);
// Add and Mul operands match in either order. Constants are one-element tensors within 1e-5
// (relative) of the values above. TorchScript emits Div->Erf->Add->Mul(x,.)->Mul(.,0.5); dynamo
// emits Mul(0.5,.)->Mul(x,.).
// Needs: types inferred. Guarantees: every intermediate of a replaced pattern was read only inside
// it, and the Gelu has x's type. The fused node has the last pattern node's location and the other
// nodes' locations in `_sources`.

import { Attrs, attr, type Graph, type Node, type Value } from '../ir/graph.js';
import { isFloat } from '../ir/dtype.js';
import { bumpStat, type Pass } from './pass.js';
import { GraphIndex, isScalar, otherOperand, removeNodes, replaceMatched, sameType, splitConstant } from './pattern-match.js';

export interface GeluMatch {
  x: Value;
  approximate: 'none' | 'tanh';
  nodes: Node[];
  last: Node;
}

export interface GeluPlan {
  matches: GeluMatch[];
  /** Erf/Tanh nodes that looked like the start of a GELU, with why they are not one. */
  rejected: { loc: string; reason: string }[];
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

type Found = { nodes: Node[]; last: Node } | string;

/** `n` computes 0.5 * x as Mul(x, 0.5), Mul(0.5, x) or Div(x, 2). */
function isHalfOf(n: Node | undefined, x: Value): boolean {
  if (!n) return false;
  if (n.op === 'Mul') return isScalar(otherOperand(n, x), 0.5);
  return n.op === 'Div' && n.inputs[0] === x && isScalar(n.inputs[1], 2);
}

/** The nodes computing 0.5 * x * p from p, in any association order. */
function matchHalfProduct(idx: GraphIndex, p: Value, x: Value): Found {
  const r1 = idx.soleReader(p, 'Mul');
  if (!r1) return `1 + f(x) is not read by exactly one Mul`;
  const o1 = otherOperand(r1, p)!;
  const half = idx.producer(o1);
  if (half && isHalfOf(half, x)) return { nodes: [half, r1], last: r1 };
  const r1out = r1.outputs[0]!;
  const r2 = idx.soleReader(r1out);
  if (!r2) return `the product ${r1.loc} is not read by exactly one node`;
  if (o1 === x) {
    if ((r2.op === 'Mul' && isScalar(otherOperand(r2, r1out), 0.5)) || (r2.op === 'Div' && r2.inputs[0] === r1out && isScalar(r2.inputs[1], 2))) {
      return { nodes: [r1, r2], last: r2 };
    }
    return `x * (1 + f(x)) is not scaled by 0.5 (${r2.op} ${r2.loc})`;
  }
  if (isScalar(o1, 0.5)) {
    if (r2.op === 'Mul' && otherOperand(r2, r1out) === x) return { nodes: [r1, r2], last: r2 };
    return `0.5 * (1 + f(x)) is not multiplied by the same x (${r2.op} ${r2.loc})`;
  }
  return `1 + f(x) is multiplied by %${o1.name}, not by x or 0.5`;
}

/** The nodes computing x^3 as Pow(x, 3), x*(x*x), (x*x)*x, with x*x possibly Pow(x, 2). */
function matchCube(idx: GraphIndex, v: Value, x: Value): Node[] | undefined {
  const n = idx.producer(v);
  if (!n) return undefined;
  if (n.op === 'Pow') return n.inputs[0] === x && isScalar(n.inputs[1], 3) ? [n] : undefined;
  if (n.op !== 'Mul') return undefined;
  const other = otherOperand(n, x);
  const sq = other && other !== x ? idx.producer(other) : undefined;
  if (!sq) return undefined;
  const isSquare = (sq.op === 'Mul' && sq.inputs[0] === x && sq.inputs[1] === x) || (sq.op === 'Pow' && sq.inputs[0] === x && isScalar(sq.inputs[1], 2));
  return isSquare ? [n, sq] : undefined;
}

function matchErf(idx: GraphIndex, erf: Node): Omit<GeluMatch, 'approximate'> | string {
  const arg = idx.producer(erf.inputs[0]);
  let x: Value | undefined;
  if (arg?.op === 'Div' && isScalar(arg.inputs[1], Math.SQRT2) && !arg.inputs[0]!.constant) x = arg.inputs[0]!;
  else if (arg?.op === 'Mul') {
    const s = splitConstant(arg);
    if (s && Math.abs(s[1] - Math.SQRT1_2) <= 1e-5 * Math.SQRT1_2) x = s[0];
  }
  if (!arg || !x) return `the Erf argument is not x / sqrt(2) or x * (1/sqrt(2))`;
  const add = idx.soleReader(erf.outputs[0]!, 'Add');
  if (!add || !isScalar(otherOperand(add, erf.outputs[0]!), 1)) return `erf(.) is not read by exactly one Add of 1`;
  const prod = matchHalfProduct(idx, add.outputs[0]!, x);
  if (typeof prod === 'string') return prod;
  return { x, nodes: [arg, erf, add, ...prod.nodes], last: prod.last };
}

function matchTanh(idx: GraphIndex, tanh: Node): Omit<GeluMatch, 'approximate'> | string {
  const scale = idx.producer(tanh.inputs[0], 'Mul');
  const s = scale && splitConstant(scale);
  if (!scale || !s || Math.abs(s[1] - SQRT_2_OVER_PI) > 1e-5 * SQRT_2_OVER_PI) return `the Tanh argument is not sqrt(2/pi) * (.)`;
  const inner = idx.producer(s[0], 'Add');
  if (!inner) return `sqrt(2/pi) multiplies something other than an Add`;
  for (const [x, c3] of [[inner.inputs[0]!, inner.inputs[1]!], [inner.inputs[1]!, inner.inputs[0]!]] as const) {
    const cubic = idx.producer(c3, 'Mul');
    const cs = cubic && splitConstant(cubic);
    if (!cubic || !cs || Math.abs(cs[1] - 0.044715) > 1e-5 * 0.044715) continue;
    const cube = matchCube(idx, cs[0], x);
    if (!cube) continue;
    const add = idx.soleReader(tanh.outputs[0]!, 'Add');
    if (!add || !isScalar(otherOperand(add, tanh.outputs[0]!), 1)) return `tanh(.) is not read by exactly one Add of 1`;
    const prod = matchHalfProduct(idx, add.outputs[0]!, x);
    if (typeof prod === 'string') return prod;
    return { x, nodes: [...cube, cubic, inner, scale, tanh, add, ...prod.nodes], last: prod.last };
  }
  return `the Tanh argument is not sqrt(2/pi) * (x + 0.044715 * x^3)`;
}

/** Decides: every GELU pattern in the graph, and why each other Erf/Tanh is not one. */
export function findGelus(g: Graph): GeluPlan {
  const idx = new GraphIndex(g);
  const plan: GeluPlan = { matches: [], rejected: [] };
  const claimed = new Set<Node>();
  for (const n of g.nodes) {
    if (n.op !== 'Erf' && n.op !== 'Tanh') continue;
    const m = n.op === 'Erf' ? matchErf(idx, n) : matchTanh(idx, n);
    let reason = typeof m === 'string' ? m : undefined;
    if (typeof m !== 'string') {
      const out = m.last.outputs[0]!;
      reason = !isFloat(m.x.type.dtype) ? `x is ${m.x.type.dtype}, not a float`
        : !sameType(out.type, m.x.type) ? `the constants broadcast x [${m.x.type.shape}] to [${out.type.shape}]`
        : m.nodes.some((k) => claimed.has(k)) ? 'overlaps another match'
        : idx.escapes(m.nodes, m.last);
      if (!reason) {
        plan.matches.push({ ...m, approximate: n.op === 'Erf' ? 'none' : 'tanh' });
        for (const k of m.nodes) claimed.add(k);
        continue;
      }
    }
    plan.rejected.push({ loc: n.loc, reason: reason! });
  }
  return plan;
}

/** Rewrites: each match becomes one Gelu node. */
export function applyGelus(g: Graph, plan: GeluPlan): void {
  const dead = new Set<Node>();
  for (const m of plan.matches) {
    replaceMatched(g, m.nodes, m.last, { op: 'Gelu', inputs: [m.x], attrs: new Attrs([['approximate', attr.string(m.approximate)]]) });
    for (const k of m.nodes) dead.add(k);
  }
  removeNodes(g, dead);
}

export function fuseGelu(g: Graph): GeluPlan {
  const plan = findGelus(g);
  applyGelus(g, plan);
  return plan;
}

export const fuseGeluPass: Pass = {
  name: 'fuse-gelu',
  summary: 'replace the erf and tanh decompositions of GELU by one Gelu node',
  run(g, ctx) {
    const plan = fuseGelu(g);
    bumpStat(ctx, 'fuse-gelu', 'erf', plan.matches.filter((m) => m.approximate === 'none').length);
    bumpStat(ctx, 'fuse-gelu', 'tanh', plan.matches.filter((m) => m.approximate === 'tanh').length);
    return plan.matches.length > 0;
  },
};
