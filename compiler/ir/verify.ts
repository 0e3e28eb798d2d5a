// The IR verifier: structural invariants (every value defined once, before its uses; nodes in a
// topological order; outputs defined; constants carry data matching their type) and semantic ones
// (each node's op exists, its arity fits, and its output types are what the op's rule infers).

import type { Graph, Value } from './graph.js';
import { inferNode, InferError, type ShapeValues } from './infer.js';
import { getOp } from './ops.js';
import type { TensorType } from './types.js';

/** Returns the problems found; an empty list means the graph is valid. */
export function verifyGraph(g: Graph): string[] {
  const problems: string[] = [];
  const defined = new Set<Value>();
  const define = (v: Value, where: string) => {
    if (defined.has(v)) problems.push(`%${v.name} is defined twice (${where})`);
    defined.add(v);
  };
  for (const v of g.inputs) define(v, 'graph input');
  for (const c of g.constants) {
    define(c, 'constant');
    if (!c.constant) problems.push(`constant %${c.name} has no data`);
    else if (!sameStatic(c.type, c.constant.dtype, c.constant.dims)) {
      problems.push(`constant %${c.name} is typed ${c.type.dtype}[${c.type.shape}] but holds ${c.constant.dtype}[${c.constant.dims}]`);
    }
  }
  const known: ShapeValues = new Map();
  for (const n of g.nodes) {
    const where = `node ${n.loc} (${n.op})`;
    n.inputs.forEach((v, i) => {
      if (v && !defined.has(v)) problems.push(`${where} reads %${v.name} (input ${i}) before it is defined`);
    });
    for (const o of n.outputs) {
      define(o, where);
      if (o.producer !== n) problems.push(`%${o.name} does not record ${where} as its producer`);
    }
    if (!getOp(n.op)) {
      problems.push(`${where}: unknown op`);
      continue;
    }
    try {
      const r = inferNode(g, n, known);
      n.outputs.forEach((o, i) => {
        const want = r.types[i]!;
        if (!compatible(o.type, want)) {
          problems.push(`${where}: output %${o.name} is typed ${fmt(o.type)}, the op's rule gives ${fmt(want)}`);
        }
        const sv = r.shapeValues?.[i];
        if (sv) known.set(o, sv);
      });
    } catch (e) {
      if (e instanceof InferError) problems.push(`${where}: ${e.message}`);
      else throw e;
    }
  }
  for (const o of g.outputs) if (!defined.has(o)) problems.push(`graph output %${o.name} is not defined`);
  return problems;
}

function fmt(t: TensorType): string {
  return `${t.dtype}[${t.shape.join(',')}]`;
}

function sameStatic(t: TensorType, dtype: string, dims: readonly number[]): boolean {
  return t.dtype === dtype && t.shape.length === dims.length && t.shape.every((d, i) => d === dims[i]);
}

/** A recorded type matches an inferred one; a fresh symbol (`_…`) in the inferred type matches any dim. */
function compatible(have: TensorType, want: TensorType): boolean {
  if (have.dtype !== want.dtype || have.shape.length !== want.shape.length) return false;
  return have.shape.every((d, i) => {
    const w = want.shape[i]!;
    return d === w || (typeof w === 'string' && w.startsWith('_'));
  });
}
