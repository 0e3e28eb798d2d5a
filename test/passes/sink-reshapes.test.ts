// Golden tests for sink-reshapes (test/passes/golden/sink-reshapes/): a residual Add after a
// reshaped Gemm moves before the Reshape; broadcasts, shared values and constants stay.

import { describe, expect, it } from 'vitest';
import { sinkReshapesPass } from '../../compiler/passes/sink-reshapes.js';
import { goldenCases, runGolden } from '../helpers/golden.js';

describe('sink-reshapes', () => {
  it('runs the residual Add in the product\'s shape and reshapes after it', () => {
    const { changed, after } = runGolden(sinkReshapesPass, 'residual');
    expect(changed).toBe(true);
    expect(after.nodes.map((n) => `${n.op}@${n.loc}`)).toEqual(['Gemm@/proj/Gemm', 'Reshape@/Add/rows', 'Add@/Add', 'Reshape@/proj/Reshape', 'Relu@/Relu']);
    const add = after.nodes[2]!;
    expect(add.inputs.map((v) => v!.type.shape)).toEqual([[4, 2], [4, 2]]);
    expect(after.nodes[3]!.outputs[0]!.name).toBe('y');
  });
  it('leaves broadcasts, shared products and views, constants and non-products', () => {
    expect(runGolden(sinkReshapesPass, 'negative').changed).toBe(false);
  });
  it('has a test for every golden case', () => {
    expect(goldenCases('sink-reshapes')).toEqual(['negative', 'residual']);
  });
});
