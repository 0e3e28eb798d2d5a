// Golden tests for fuse-softmax (test/passes/golden/fuse-softmax/): guarded and unguarded
// decompositions, and chains over mismatched or several axes, or with a shared exp, that stay.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseGraph } from '../../compiler/ir/parser.js';
import { findSoftmaxes, fuseSoftmaxPass } from '../../compiler/passes/fuse-softmax.js';
import { GOLDEN_DIR, goldenCases, runGolden } from '../helpers/golden.js';

describe('fuse-softmax', () => {
  it('fuses exp(x - max) / sum and exp(x) / sum', () => {
    const { changed, after } = runGolden(fuseSoftmaxPass, 'decomposed');
    expect(changed).toBe(true);
    expect(after.nodes.map((n) => `${n.op}:${n.attrs.int('axis')}:${n.loc}`)).toEqual(['Softmax:-1:/sm/Div', 'Softmax:1:/b/Div']);
    expect(after.nodes[0]!.attrs.strings('_sources')).toEqual(['/sm/ReduceMax', '/sm/Sub', '/sm/Exp', '/sm/ReduceSum']);
  });
  it('leaves mismatched axes, multi-axis sums and shared exps', () => {
    expect(runGolden(fuseSoftmaxPass, 'negative').changed).toBe(false);
    const g = parseGraph(readFileSync(join(GOLDEN_DIR, 'fuse-softmax', 'negative.mcir'), 'utf8'));
    expect(findSoftmaxes(g).rejected.map((r) => r.reason)).toEqual([
      'the max and the sum are over different axes',
      'the sum is not a keepdims reduction over one constant axis',
      '%ue (/c/exp) is a graph output',
    ]);
  });
  it('has a test for every golden case', () => {
    expect(goldenCases('fuse-softmax')).toEqual(['decomposed', 'negative']);
  });
});
