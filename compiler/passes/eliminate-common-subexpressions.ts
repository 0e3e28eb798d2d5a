// eliminate-common-subexpressions: merges nodes that compute the same op with the same attributes
// on the same inputs, and constants with identical contents (exporters repeat small constants such
// as axes and scalars many times). Needs: topological order. Keeps the first occurrence.

import { createHash } from 'node:crypto';
import type { Graph, Node, Value } from '../ir/graph.js';
import { printAttrs } from '../ir/printer.js';
import { bumpStat, type Pass } from './pass.js';

/** Constants larger than this are not compared by content. */
const MAX_HASHED_CONSTANT_BYTES = 1 << 20;
const NOT_PURE = new Set(['RandomNormal', 'RandomUniform', 'RandomNormalLike', 'RandomUniformLike', 'Multinomial', 'Bernoulli']);

export function eliminateCommonSubexpressions(g: Graph): number {
  let merged = 0;
  const byContent = new Map<string, Value>();
  for (const c of g.constants) {
    const data = c.constant!;
    // Exporters repeat small constants; large weights are distinct initializers in practice.
    if (data.byteLength > MAX_HASHED_CONSTANT_BYTES) continue;
    // A graph output keeps its own value: merging it would drop its name.
    if (g.outputs.includes(c)) continue;
    const key = `${data.dtype}[${data.dims}]:${createHash('sha256').update(data.bytes).digest('hex')}`;
    const first = byContent.get(key);
    if (first) {
      g.replaceAllUses(c, first);
      merged++;
    } else byContent.set(key, c);
  }
  const ids = new Map<Value, number>();
  let nextId = 0;
  const idOf = (v: Value | null) => {
    if (!v) return '_';
    let id = ids.get(v);
    if (id === undefined) ids.set(v, (id = nextId++));
    return String(id);
  };
  const seen = new Map<string, Node>();
  const kept: Node[] = [];
  const outputs = new Set(g.outputs);
  for (const n of g.nodes) {
    if (NOT_PURE.has(n.op)) { kept.push(n); continue; }
    const key = `${n.op}(${n.inputs.map(idOf).join(',')}){${printAttrs(n.attrs)}}#${n.outputs.length}`;
    const first = seen.get(key);
    if (first && !n.outputs.some((o) => outputs.has(o))) {
      n.outputs.forEach((o, i) => g.replaceAllUses(o, first.outputs[i]!));
      merged++;
      continue;
    }
    if (!first) seen.set(key, n);
    kept.push(n);
  }
  g.nodes = kept;
  g.pruneConstants();
  return merged;
}

export const eliminateCommonSubexpressionsPass: Pass = {
  name: 'eliminate-common-subexpressions',
  summary: 'merge identical nodes and identical constants',
  run(g, ctx) {
    const merged = eliminateCommonSubexpressions(g);
    bumpStat(ctx, 'eliminate-common-subexpressions', 'merged', merged);
    return merged > 0;
  },
};
