// Golden tests for sink-reshapes (test/passes/golden/sink-reshapes/): a residual Add after a
// reshaped Gemm moves before the Reshape; broadcasts, shared values, constants and rewrites that
// would leave a copy kernel (graph inputs and outputs) stay.

import { describe, expect, it } from 'vitest';
import { sinkReshapesPass } from '../../compiler/passes/sink-reshapes.js';
import { goldenCases, runGolden } from '../helpers/golden.js';

describe('sink-reshapes', () => {
  it('runs residual Adds in their product\'s shape and reshapes after them, along a residual stream', () => {
    const { changed, after } = runGolden(sinkReshapesPass, 'residual');
    expect(changed).toBe(true);
    expect(after.nodes.map((n) => `${n.op}@${n.loc}`)).toEqual([
      'Relu@/stream', 'Gemm@/proj/Gemm', 'Reshape@/Add/rows', 'Add@/Add', 'Reshape@/proj/Reshape', 'Reshape@/mlp/Reshape',
      'MatMul@/mlp/MatMul', 'Reshape@/Add_1/rows', 'Add@/Add_1', 'Reshape@/mlp/Reshape_1', 'Relu@/Relu',
    ]);
    for (const add of after.nodes.filter((n) => n.op === 'Add')) {
      expect(add.inputs.map((v) => v!.type.shape)).toEqual([[4, 2], [4, 2]]);
      expect(add.outputs[0]!.name).toMatch(/^y2?\.rows$/);
    }
    expect(after.nodes[4]!.outputs[0]!.name).toBe('y');
    expect(after.nodes[9]!.outputs[0]!.name).toBe('y2');
  });
  it('leaves broadcasts, shared products and views, constants, non-products, graph inputs and outputs', () => {
    expect(runGolden(sinkReshapesPass, 'negative').changed).toBe(false);
  });
  it('has a test for every golden case', () => {
    expect(goldenCases('sink-reshapes')).toEqual(['negative', 'residual']);
  });
});
