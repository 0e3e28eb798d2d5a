// Golden tests for fold-batchnorm (test/passes/golden/fold-batchnorm/): Conv+BN pairs fold, with
// and without a Conv bias and for a grouped Conv; BNs whose Conv output is shared, that follow
// another op, or whose statistics are not constant stay.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseGraph } from '../../compiler/ir/parser.js';
import { findBatchNormFolds, foldBatchNormPass } from '../../compiler/passes/fold-batchnorm.js';
import { GOLDEN_DIR, goldenCases, runGolden } from '../helpers/golden.js';

describe('fold-batchnorm', () => {
  it('folds BN into the preceding Conv', () => {
    const { changed, after } = runGolden(foldBatchNormPass, 'conv-bn');
    expect(changed).toBe(true);
    expect(after.nodes.map((n) => n.op)).toEqual(['Conv', 'Relu', 'Conv']);
    expect(after.nodes[0]!.loc).toBe('/bn1/BatchNormalization');
    expect(after.nodes[0]!.attrs.strings('_sources')).toEqual(['/conv1/Conv']);
    expect(after.nodes[2]!.attrs.int('group')).toBe(2);
  });
  it('leaves a BN with a shared Conv output, after a Relu, or with a non-constant mean', () => {
    expect(runGolden(foldBatchNormPass, 'negative').changed).toBe(false);
    const g = parseGraph(readFileSync(join(GOLDEN_DIR, 'fold-batchnorm', 'negative.mcir'), 'utf8'));
    expect(findBatchNormFolds(g).rejected).toEqual([
      { loc: '/bn1', reason: 'the Conv output is needed unnormalized: %c (/conv1/Conv) is also read by Add /add' },
      { loc: '/bn2', reason: 'its input comes from Relu /relu, not a Conv' },
      { loc: '/bn3', reason: 'scale, bias, mean or variance is not constant' },
    ]);
  });
  it('has a test for every golden case', () => {
    expect(goldenCases('fold-batchnorm')).toEqual(['conv-bn', 'negative']);
  });
});
