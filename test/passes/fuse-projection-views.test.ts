// Golden tests for fuse-projection-views (test/passes/golden/fuse-projection-views/): attention
// head splits as BERT, GPT-2 and ViT exports spell them become per-view products; a product read
// whole, overlapping or row-selecting views, a non-constant weight and a rewrite that would not
// save kernels stay.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseGraph } from '../../compiler/ir/parser.js';
import { findProjectionViews, fuseProjectionViewsPass } from '../../compiler/passes/fuse-projection-views.js';
import { GOLDEN_DIR, goldenCases, runGolden } from '../helpers/golden.js';
import { expectSameOnFreshInputs } from './fresh-inputs.js';

const ops = (g: { nodes: { op: string }[] }) => g.nodes.map((n) => n.op);

describe('fuse-projection-views', () => {
  it('folds BERT head splits into per-head weights', () => {
    const { changed, before, after } = runGolden(fuseProjectionViewsPass, 'heads');
    expect(changed).toBe(true);
    expect(ops(after)).toEqual(['MatMul', 'Add', 'MatMul', 'Transpose', 'Mul', 'Mul', 'MatMul', 'Add', 'Softmax', 'MatMul', 'MatMul', 'Transpose', 'Reshape']);
    const q = after.nodes[0]!;
    expect(q.inputs.map((v) => v!.type.shape)).toEqual([[1, 3, 8], [1, 2, 8, 4]]);
    expect(after.nodes[1]!.inputs[1]!.type.shape).toEqual([1, 2, 1, 4]);
    expect(after.nodes[3]!.attrs.ints('perm')).toEqual([0, 1, 3, 2]);
    expect(q.attrs.strings('_sources')).toEqual(['/q/Add', '/q/view', '/q/transpose']);
    expectSameOnFreshInputs(before, after);
  });
  it('turns GPT-2 Conv1D Gemms and a QKV Split into MatMuls on the unflattened input', () => {
    const { changed, before, after } = runGolden(fuseProjectionViewsPass, 'conv1d');
    expect(changed).toBe(true);
    expect(ops(after)).toEqual(['MatMul', 'Add', 'MatMul', 'Add', 'Transpose', 'MatMul', 'Add', 'MatMul', 'Softmax', 'MatMul', 'Transpose', 'Reshape', 'MatMul', 'Add', 'Add']);
    expect(after.nodes[0]!.inputs[0]!.name).toBe('x');
    // The output projection reads its input reshaped to [1,3,8], so that its weight stays 2-D.
    expect(after.nodes[12]!.inputs.map((v) => v!.type.shape)).toEqual([[1, 3, 8], [8, 8]]);
    expect(after.nodes[12]!.inputs[1]!.name).toBe('wo');
    expectSameOnFreshInputs(before, after);
  });
  it('follows Unsqueeze/Squeeze/Gather through a sequence-first in-proj, and transposes a transB weight', () => {
    const { changed, before, after } = runGolden(fuseProjectionViewsPass, 'gather-heads');
    expect(changed).toBe(true);
    expect(ops(after)).toEqual(['MatMul', 'MatMul', 'Transpose', 'MatMul', 'MatMul', 'Softmax', 'MatMul', 'Transpose', 'Reshape', 'MatMul', 'Add']);
    expect(after.nodes[0]!.inputs[0]!.name).toBe('x');
    expectSameOnFreshInputs(before, after);
  });
  it('leaves products that are read whole, overlapping, row-selecting, non-constant or not worth it', () => {
    expect(runGolden(fuseProjectionViewsPass, 'negative').changed).toBe(false);
    const plan = findProjectionViews(parseGraph(readFileSync(join(GOLDEN_DIR, 'fuse-projection-views', 'negative.mcir'), 'utf8')));
    expect(plan.rejected).toEqual([
      { loc: '/a/MatMul', reason: 'the product %a0 is itself read by a non-movement op' },
      { loc: '/b/MatMul', reason: 'its views hold more elements than the product (they overlap)' },
      { loc: '/c/MatMul', reason: 'view %c1: it selects some rows' },
      { loc: '/e/MatMul', reason: '1 view would take 2 kernels to replace 2' },
    ]);
  });
  it('has a test for every golden case', () => {
    expect(goldenCases('fuse-projection-views')).toEqual(['conv1d', 'gather-heads', 'heads', 'negative']);
  });
});
