// eliminate-dead-code: removes nodes none of whose outputs reach a graph output, and constants no
// remaining node reads. Needs nothing; guarantees every node and constant is live.

import type { Graph, Value } from '../ir/graph.js';
import { bumpStat, type Pass } from './pass.js';

export function eliminateDeadCode(g: Graph): number {
  const live = new Set<Value>(g.outputs);
  const kept = [];
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const n = g.nodes[i]!;
    if (!n.outputs.some((o) => live.has(o))) continue;
    kept.push(n);
    for (const v of n.inputs) if (v) live.add(v);
  }
  const removed = g.nodes.length - kept.length;
  g.nodes = kept.reverse();
  g.pruneConstants();
  return removed;
}

export const eliminateDeadCodePass: Pass = {
  name: 'eliminate-dead-code',
  summary: 'remove nodes and constants that no graph output depends on',
  run(g, ctx) {
    const removed = eliminateDeadCode(g);
    bumpStat(ctx, 'eliminate-dead-code', 'nodes', removed);
    return removed > 0;
  },
};
