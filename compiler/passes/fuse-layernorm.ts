// fuse-layernorm: recognizes layer normalization decomposed into reductions and elementwise ops.
//   mean = ReduceMean(x, axes);  d = x - mean;  var = ReduceMean(d^2, axes)   (d^2: Pow(d, 2) or d*d)
//   y = d / Sqrt(var + eps)  [* gamma]  [+ beta]
//   -> LayerNormalization(x, gamma (ones when absent), beta, axis = a - rank, epsilon = eps)
// where `axes` are the trailing axes a..rank-1 (given as a constant axes input, negative or
// positive) with keepdims = 1, eps is a one-element constant, and gamma/beta are constants whose
// shape broadcasts over the normalized dims only (they are reshaped to x.shape[a:]). Add and Mul
// operands match in either order.
// Needs: types inferred, static normalized dims. Guarantees: intermediates were read only inside
// the pattern; the LayerNormalization takes over the last node's output and location and lists
// the others in `_sources`. Not matched: d * Reciprocal(std) or d * 1/std, var via E[x^2]-E[x]^2,
// non-constant gamma/beta (left as Mul/Add after the pattern).

import { Attrs, attr, type Graph, type Node, type Value } from '../ir/graph.js';
import { isFloat } from '../ir/dtype.js';
import { TensorData } from '../ir/tensor.js';
import { bumpStat, type Pass } from './pass.js';
import { GraphIndex, isScalar, otherOperand, removeNodes, replaceMatched, sameType, scalarOf } from './pattern-match.js';

export interface LayerNormMatch {
  x: Value;
  axis: number;
  epsilon: number;
  gamma: Value | undefined;
  beta: Value | undefined;
  nodes: Node[];
  last: Node;
}

export interface LayerNormPlan {
  matches: LayerNormMatch[];
  rejected: { loc: string; reason: string }[];
}

/** The first reduced axis when `r` is a keepdims ReduceMean over the trailing axes of its input. */
function trailingAxes(r: Node): number | undefined {
  const rank = r.inputs[0]!.type.shape.length;
  const axes = r.inputs[1]?.constant?.toArray();
  if (!axes || axes.length === 0 || r.attrs.int('keepdims', 1) !== 1 || r.attrs.int('noop_with_empty_axes', 0) !== 0) return undefined;
  const norm = axes.map((a) => (a < 0 ? a + rank : a)).sort((a, b) => a - b);
  if (norm.some((a, i) => a !== rank - norm.length + i)) return undefined;
  return norm[0];
}

/** A constant affine parameter broadcasting over x.shape[axis:] only, reshaped to those dims. */
function affineParam(v: Value, xShape: readonly (number | string)[], axis: number): TensorData | undefined {
  const c = v.constant;
  const inner = xShape.slice(axis);
  if (!c || inner.some((d) => typeof d !== 'number')) return undefined;
  const dims = inner as number[];
  const off = xShape.length - c.rank;
  if (off < 0 || c.dims.some((d, k) => (k + off < axis ? d !== 1 : d !== 1 && d !== dims[k + off - axis]))) return undefined;
  const count = dims.reduce((p, q) => p * q, 1);
  if (c.size === count) return c.withDims(dims);
  // A smaller parameter (one value, or size 1 along some normalized dims) is broadcast out.
  const cd = [...new Array<number>(dims.length - Math.min(c.rank, dims.length)).fill(1), ...c.dims.slice(Math.max(0, c.rank - dims.length))];
  const st = new Array<number>(dims.length);
  for (let k = dims.length - 1, s = 1; k >= 0; k--) {
    st[k] = cd[k] === 1 ? 0 : s;
    s *= cd[k]!;
  }
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    let rem = i;
    let src = 0;
    for (let k = dims.length - 1; k >= 0; k--) {
      src += (rem % dims[k]!) * st[k]!;
      rem = Math.floor(rem / dims[k]!);
    }
    out[i] = c.values[src]!;
  }
  return TensorData.fromValues(c.dtype, dims, out);
}

function match(idx: GraphIndex, mean: Node): Omit<LayerNormMatch, 'gamma' | 'beta'> & { gamma?: Value; beta?: Value } | string {
  const x = mean.inputs[0]!;
  const axis = trailingAxes(mean);
  if (axis === undefined) return 'not a keepdims mean over trailing axes given as constants';
  const sub = idx.soleReader(mean.outputs[0]!, 'Sub');
  if (!sub || sub.inputs[0] !== x || sub.inputs[1] !== mean.outputs[0]) return 'the mean is not read only by x - mean';
  const d = sub.outputs[0]!;
  const readers = idx.readers(d);
  if (readers.length !== 2) return 'x - mean is not read by exactly a square and a Div';
  const sq = readers.find((r) => (r.op === 'Pow' && r.inputs[0] === d && isScalar(r.inputs[1], 2)) || (r.op === 'Mul' && r.inputs[0] === d && r.inputs[1] === d));
  const div = readers.find((r) => r.op === 'Div' && r.inputs[0] === d);
  if (!sq || !div) return '(x - mean) is not squared and divided';
  const varMean = idx.soleReader(sq.outputs[0]!, 'ReduceMean');
  if (!varMean || trailingAxes(varMean) !== axis) return 'the square is not averaged over the same axes';
  const addEps = idx.soleReader(varMean.outputs[0]!, 'Add');
  const epsilon = addEps && scalarOf(otherOperand(addEps, varMean.outputs[0]!));
  if (!addEps || epsilon === undefined) return 'the variance is not followed by Add(eps) with a constant eps';
  const sqrt = idx.soleReader(addEps.outputs[0]!, 'Sqrt');
  if (!sqrt || div.inputs[1] !== sqrt.outputs[0]) return 'var + eps is not Sqrt-ed into the Div';
  const nodes = [mean, sub, sq, varMean, addEps, sqrt, div];
  let last = div;
  let gamma: Value | undefined;
  let beta: Value | undefined;
  const mul = idx.soleReader(last.outputs[0]!, 'Mul');
  const g = mul && otherOperand(mul, last.outputs[0]!);
  if (mul && g?.constant && affineParam(g, x.type.shape, axis)) {
    gamma = g;
    nodes.push(mul);
    last = mul;
  }
  const add = idx.soleReader(last.outputs[0]!, 'Add');
  const b = add && otherOperand(add, last.outputs[0]!);
  if (add && b?.constant && affineParam(b, x.type.shape, axis)) {
    beta = b;
    nodes.push(add);
    last = add;
  }
  return { x, axis: axis - x.type.shape.length, epsilon, gamma, beta, nodes, last };
}

/** Decides: every decomposed layer norm, and why each other ReduceMean is not the start of one. */
export function findLayerNorms(g: Graph): LayerNormPlan {
  const idx = new GraphIndex(g);
  const plan: LayerNormPlan = { matches: [], rejected: [] };
  const claimed = new Set<Node>();
  for (const n of g.nodes) {
    if (n.op !== 'ReduceMean' || claimed.has(n)) continue;
    const m = match(idx, n);
    let reason = typeof m === 'string' ? m : undefined;
    if (typeof m !== 'string') {
      const x = m.x.type;
      reason = !isFloat(x.dtype) ? `x is ${x.dtype}, not a float`
        : x.shape.slice(x.shape.length + m.axis).some((d) => typeof d !== 'number') ? 'the normalized dims are not static'
        : !sameType(m.last.outputs[0]!.type, x) ? 'the result does not have the type of x'
        : m.nodes.some((k) => claimed.has(k)) ? 'overlaps another match'
        : idx.escapes(m.nodes, m.last);
      if (!reason) {
        plan.matches.push(m as LayerNormMatch);
        for (const k of m.nodes) claimed.add(k);
        continue;
      }
    }
    plan.rejected.push({ loc: n.loc, reason: reason! });
  }
  return plan;
}

/** Rewrites: each match becomes one LayerNormalization. */
export function applyLayerNorms(g: Graph, plan: LayerNormPlan): void {
  const dead = new Set<Node>();
  for (const m of plan.matches) {
    const shape = m.x.type.shape;
    const axis = shape.length + m.axis;
    const dims = shape.slice(axis) as number[];
    const param = (v: Value | undefined, what: string) => {
      if (!v) return undefined;
      const t = affineParam(v, shape, axis)!;
      return sameDims(t.dims, v.type.shape) && t.dtype === m.x.type.dtype ? v : g.addConstant(`${v.name}.${what}`, TensorData.fromValues(m.x.type.dtype, dims, t.values));
    };
    const ones = () => g.addConstant(`${m.last.loc || 'layernorm'}.scale`, TensorData.fromValues(m.x.type.dtype, dims, new Float64Array(dims.reduce((a, b) => a * b, 1)).fill(1)));
    const scale = param(m.gamma, 'scale') ?? ones();
    const bias = param(m.beta, 'bias');
    const attrs = new Attrs([['axis', attr.int(m.axis)], ['epsilon', attr.float(m.epsilon)]]);
    replaceMatched(g, m.nodes, m.last, { op: 'LayerNormalization', inputs: bias ? [m.x, scale, bias] : [m.x, scale], attrs });
    for (const k of m.nodes) dead.add(k);
  }
  removeNodes(g, dead);
}

function sameDims(a: readonly number[], b: readonly (number | string)[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function fuseLayerNorm(g: Graph): LayerNormPlan {
  const plan = findLayerNorms(g);
  applyLayerNorms(g, plan);
  return plan;
}

export const fuseLayerNormPass: Pass = {
  name: 'fuse-layernorm',
  summary: 'replace decomposed layer normalization by one LayerNormalization node',
  run(g, ctx) {
    const plan = fuseLayerNorm(g);
    bumpStat(ctx, 'fuse-layernorm', 'fused', plan.matches.length);
    return plan.matches.length > 0;
  },
};
