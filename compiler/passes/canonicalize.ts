// canonicalize: local rewrites to one canonical form, each obviously value-preserving:
//   Identity(x), Dropout(x) in inference, Cast(x: T -> T), Reshape/Expand/Slice/Pad whose result
//   has x's static type (Slice with unit steps, Pad with zero pads), single-input Concat/Sum/Max/Min
//   -> x;   x + 0, x - 0, x * 1, x / 1 (constant 0/1 broadcasting to x's type) -> x;
//   Transpose with the identity permutation -> x;  Transpose(Transpose(x, p), q) -> Transpose(x, p∘q);
//   Reshape(Reshape(x, s1), s2) -> Reshape(x, s2) (when allowzero=0 and s2 has no 0).
// Needs: types inferred. Nodes left without readers are removed, as MLIR's canonicalizer does.
// A graph output keeps its name: the value taking its place is renamed, or the rewrite is skipped.

import { attr, type Graph, type Node, type Value } from '../ir/graph.js';
import { isStaticShape, type TensorType } from '../ir/types.js';
import { eliminateDeadCode } from './eliminate-dead-code.js';
import { bumpStat, type Pass } from './pass.js';

function sameStaticType(a: TensorType, b: TensorType): boolean {
  return a.dtype === b.dtype && isStaticShape(a.shape) && isStaticShape(b.shape) && a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]);
}

function constantAll(v: Value | null, x: number): boolean {
  return !!v?.constant && v.constant.values.every((e) => e === x);
}

/** Makes readers of `from` read `to`; false when that would rename a graph input/constant output. */
function forward(g: Graph, from: Value, to: Value): boolean {
  if (g.outputs.includes(from)) {
    if (g.inputs.includes(to) || to.constant || g.outputs.includes(to)) return false;
    const name = from.name;
    from.name = `${name}.replaced`;
    to.name = name;
  }
  g.replaceAllUses(from, to);
  return true;
}

function rewrite(g: Graph, n: Node, producers: Map<Value, Node>): boolean {
  const x = n.inputs[0] ?? null;
  const out = n.outputs[0]!;
  if (!x) return false;
  switch (n.op) {
    case 'Identity':
      return forward(g, out, x);
    case 'Dropout':
      if (n.outputs.length > 1 && n.outputs.slice(1).some((o) => g.outputs.includes(o))) return false;
      return sameStaticTypeOrSymbolic(out.type, x.type) && forward(g, out, x);
    case 'Cast':
    case 'Reshape':
    case 'Expand':
    case 'Slice':
    case 'Pad':
      if (!sameStaticType(out.type, x.type)) return false;
      if (n.op === 'Slice' && !(n.inputs[4] == null || constantAll(n.inputs[4] ?? null, 1))) return false;
      if (n.op === 'Pad' && !constantAll(n.inputs[1] ?? null, 0)) return false;
      return forward(g, out, x);
    case 'Concat':
    case 'Sum':
    case 'Max':
    case 'Min':
      return n.inputs.length === 1 && sameStaticTypeOrSymbolic(out.type, x.type) && forward(g, out, x);
    case 'Add':
    case 'Sub':
    case 'Mul':
    case 'Div': {
      const neutral = n.op === 'Add' || n.op === 'Sub' ? 0 : 1;
      const y = n.inputs[1] ?? null;
      if (constantAll(y, neutral) && sameStaticTypeOrSymbolic(out.type, x.type)) return forward(g, out, x);
      if ((n.op === 'Add' || n.op === 'Mul') && constantAll(x, neutral) && y && sameStaticTypeOrSymbolic(out.type, y.type)) return forward(g, out, y);
      return false;
    }
    case 'Transpose': {
      const perm = n.attrs.has('perm') ? n.attrs.ints('perm') : undefined;
      if (perm && perm.every((p, i) => p === i)) return forward(g, out, x);
      const inner = producers.get(x);
      if (perm && inner?.op === 'Transpose' && inner.attrs.has('perm')) {
        const p = inner.attrs.ints('perm');
        n.inputs[0] = inner.inputs[0]!;
        n.attrs = n.attrs.with('perm', attr.ints(perm.map((k) => p[k]!)));
        return true;
      }
      return false;
    }
    default:
      return false;
  }
}

function sameStaticTypeOrSymbolic(a: TensorType, b: TensorType): boolean {
  return a.dtype === b.dtype && a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]);
}

function mergeReshapes(n: Node, producers: Map<Value, Node>): boolean {
  if (n.op !== 'Reshape') return false;
  const inner = n.inputs[0] ? producers.get(n.inputs[0]) : undefined;
  if (!inner || inner.op !== 'Reshape') return false;
  const shape = n.inputs[1]?.constant;
  if (!shape || shape.values.some((d) => d === 0) || (n.attrs.has('allowzero') && n.attrs.int('allowzero') !== 0)) return false;
  n.inputs[0] = inner.inputs[0]!;
  return true;
}

export function canonicalize(g: Graph): number {
  let rewrites = 0;
  const producers = new Map<Value, Node>();
  for (const n of g.nodes) {
    if (rewrite(g, n, producers) || mergeReshapes(n, producers)) rewrites++;
    for (const o of n.outputs) producers.set(o, n);
  }
  if (rewrites > 0) eliminateDeadCode(g);
  return rewrites;
}

export const canonicalizePass: Pass = {
  name: 'canonicalize',
  summary: 'remove no-op nodes and merge transposes and reshapes into canonical forms',
  run(g, ctx) {
    const n = canonicalize(g);
    bumpStat(ctx, 'canonicalize', 'rewrites', n);
    return n > 0;
  },
};

