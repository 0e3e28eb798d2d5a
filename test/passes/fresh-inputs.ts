// Numeric check shared by the layout-pass tests: the graph before and after a pass, run on the
// reference interpreter (float64) with inputs from several seeds, must agree to 1e-5 relative.

import { expect } from 'vitest';
import { interpret } from '../../compiler/interpreter/interpret.js';
import type { Graph } from '../../compiler/ir/graph.js';
import { randomFeeds } from '../helpers/golden.js';

export function expectSameOnFreshInputs(before: Graph, after: Graph, seeds: readonly number[] = [2, 3, 4]): void {
  for (const seed of seeds) {
    const feeds = randomFeeds(before, seed);
    const want = interpret(before, feeds);
    const got = interpret(after, feeds);
    for (const [name, w] of want) {
      const g = got.get(name);
      expect(g, `output ${name}`).toBeDefined();
      expect(g!.dims).toEqual(w.dims);
      const a = g!.values;
      const b = w.values;
      for (let i = 0; i < b.length; i++) expect(Math.abs(a[i]! - b[i]!), `${name}[${i}] seed ${seed}`).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(b[i]!)));
    }
  }
}
