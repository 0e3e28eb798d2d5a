// fold-constants: evaluates, with the reference implementations, every node whose inputs are all
// constants, and turns its outputs into constants. Also replaces small integer values whose
// contents shape inference knows exactly (Shape -> Gather -> Concat chains over static dims) by
// constants. Needs: types inferred. Leaves the dead producers' inputs to eliminate-dead-code.

import { diagnostic, q } from '../diagnostics.js';
import { AttrError, type Graph, type Node } from '../ir/graph.js';
import { inferNode, InferError, type ShapeValues } from '../ir/infer.js';
import { getOp, OpError } from '../ir/ops.js';
import { TensorData } from '../ir/tensor.js';
import { staticSize } from '../ir/types.js';
import { bumpStat, type Pass } from './pass.js';

/** Results larger than this many elements stay computed at run time. */
const MAX_FOLDED_ELEMENTS = 1 << 26;
const NOT_FOLDABLE = new Set(['RandomNormal', 'RandomUniform', 'RandomNormalLike', 'RandomUniformLike', 'Multinomial', 'Bernoulli']);

export function foldConstants(g: Graph): { folded: number; shapes: number } {
  const known: ShapeValues = new Map();
  const kept: Node[] = [];
  let folded = 0;
  let shapes = 0;
  for (const n of g.nodes) {
    if (tryFold(g, n)) {
      folded++;
      continue;
    }
    try {
      const r = inferNode(g, n, known);
      let all = true;
      n.outputs.forEach((o, i) => {
        const sv = r.shapeValues?.[i];
        if (sv) known.set(o, sv);
        if (sv && sv.every((d) => typeof d === 'number') && o.type.shape.length <= 1 && staticSize(o.type.shape) === sv.length) {
          g.makeConstant(o, TensorData.fromValues(o.type.dtype, o.type.shape as number[], sv as number[]));
          shapes++;
        } else all = false;
      });
      if (all) continue;
    } catch (e) {
      if (!(e instanceof InferError)) throw e;
    }
    kept.push(n);
  }
  g.nodes = kept;
  return { folded, shapes };
}

function tryFold(g: Graph, n: Node): boolean {
  if (NOT_FOLDABLE.has(n.op)) return false;
  if (!n.inputs.every((v) => v === null || v.constant)) return false;
  if (n.inputs.every((v) => v === null) && n.op !== 'Constant') return false;
  for (const o of n.outputs) {
    const size = staticSize(o.type.shape);
    if (size === undefined || size > MAX_FOLDED_ELEMENTS) return false;
  }
  const def = getOp(n.op)!;
  let outs: TensorData[];
  try {
    outs = def.evaluate(n.inputs.map((v) => v?.constant), n.attrs, n.outputs.length);
  } catch (e) {
    if (e instanceof OpError || e instanceof AttrError || e instanceof RangeError) {
      throw diagnostic('evaluationFailed', { node: q(n.loc), op: n.op, reason: e.message });
    }
    throw e;
  }
  n.outputs.forEach((o, i) => g.makeConstant(o, outs[i]!));
  return true;
}

export const foldConstantsPass: Pass = {
  name: 'fold-constants',
  summary: 'evaluate nodes whose inputs are all constants at compile time',
  run(g, ctx) {
    const { folded, shapes } = foldConstants(g);
    bumpStat(ctx, 'fold-constants', 'nodes', folded);
    bumpStat(ctx, 'fold-constants', 'shapes', shapes);
    if (folded + shapes > 0) g.pruneConstants();
    return folded + shapes > 0;
  },
};
