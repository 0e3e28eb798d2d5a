// Golden tests for fuse-matmul-add (test/passes/golden/fuse-matmul-add/): 2-D linear layers become
// Gemm; 3-D inputs are deferred, row-broadcast biases and shared products stay.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseGraph } from '../../compiler/ir/parser.js';
import { findMatMulAdds, fuseMatMulAddPass } from '../../compiler/passes/fuse-matmul-add.js';
import { GOLDEN_DIR, goldenCases, runGolden } from '../helpers/golden.js';

describe('fuse-matmul-add', () => {
  it('turns 2-D MatMul + bias into Gemm', () => {
    const { changed, after } = runGolden(fuseMatMulAddPass, 'linear');
    expect(changed).toBe(true);
    expect(after.nodes.map((n) => `${n.op}@${n.loc}`)).toEqual(['Gemm@/fc1/Add', 'Relu@/relu', 'Gemm@/fc2/Add']);
    expect(after.nodes[2]!.inputs.map((v) => v!.name)).toEqual(['r', 'w2', 'b2']);
  });
  it('defers 3-D inputs and leaves row biases and shared products', () => {
    expect(runGolden(fuseMatMulAddPass, 'negative').changed).toBe(false);
    const plan = findMatMulAdds(parseGraph(readFileSync(join(GOLDEN_DIR, 'fuse-matmul-add', 'negative.mcir'), 'utf8')));
    expect(plan.deferred).toEqual([{ loc: '/a/Add', rank: 3 }]);
    expect(plan.rejected).toEqual([
      { loc: '/b/Add', reason: 'the bias [3,1] does not broadcast over the last dim only' },
      { loc: '/c/Add', reason: '%m3 (/c/MatMul) is also read by Relu /c/Relu' },
    ]);
  });
  it('has a test for every golden case', () => {
    expect(goldenCases('fuse-matmul-add')).toEqual(['linear', 'negative']);
  });
});
