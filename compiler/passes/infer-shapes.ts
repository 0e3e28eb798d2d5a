// infer-shapes: recomputes every node's output types from its inputs in topological order, so that
// types reflect the current inputs (after bind-shapes made symbols static, or after a rewrite).
// Needs: nodes in topological order. Guarantees: every value's type is what its op's rule gives.

import type { Graph } from '../ir/graph.js';
import { inferAndSet, InferError, type ShapeValues } from '../ir/infer.js';
import { diagnostic, q } from '../diagnostics.js';
import type { Pass } from './pass.js';

export function inferShapes(g: Graph, known: ShapeValues = new Map()): ShapeValues {
  for (const n of g.nodes) {
    try {
      inferAndSet(g, n, known);
    } catch (e) {
      if (e instanceof InferError) throw diagnostic('invalidNode', { node: q(n.loc), op: n.op, reason: e.message });
      throw e;
    }
  }
  return known;
}

export const inferShapesPass: Pass = {
  name: 'infer-shapes',
  summary: 'recompute value types from graph inputs and constants',
  run(g) {
    const before = g.nodes.map((n) => n.outputs.map((o) => `${o.type.dtype}[${o.type.shape}]`).join()).join(';');
    inferShapes(g);
    return before !== g.nodes.map((n) => n.outputs.map((o) => `${o.type.dtype}[${o.type.shape}]`).join()).join(';');
  },
};
