// Golden tests for fuse-movement-chains (test/passes/golden/fuse-movement-chains/): movement chains
// collapse to at most a Reshape and a Transpose, and scalar elementwise ops move above them to the
// op that computes their input; copies that are real, shared values and non-scalar operands stay.

import { describe, expect, it } from 'vitest';
import { fuseMovementChainsPass } from '../../compiler/passes/fuse-movement-chains.js';
import { goldenCases, runGolden } from '../helpers/golden.js';
import { expectSameOnFreshInputs } from './fresh-inputs.js';

const ops = (g: { nodes: { op: string }[] }) => g.nodes.map((n) => n.op);

describe('fuse-movement-chains', () => {
  it('collapses the K^T chain to Reshape + Transpose and a unit-dim Transpose + Reshape to a Reshape', () => {
    const { changed, before, after } = runGolden(fuseMovementChainsPass, 'collapse');
    expect(changed).toBe(true);
    expect(ops(after)).toEqual(['MatMul', 'Reshape', 'Transpose', 'Reshape']);
    expect(after.nodes[1]!.outputs[0]!.type.shape).toEqual([1, 3, 2, 4]);
    expect(after.nodes[2]!.attrs.ints('perm')).toEqual([0, 2, 3, 1]);
    expect(after.nodes[2]!.attrs.strings('_sources')).toEqual(['/k/transpose', '/k/Reshape', '/k/Transpose']);
    expect(after.nodes[3]!.outputs[0]!.name).toBe('r');
    expectSameOnFreshInputs(before, after);
  });
  it('hoists scalar ops above the chain to their producer', () => {
    const { changed, before, after } = runGolden(fuseMovementChainsPass, 'hoist');
    expect(changed).toBe(true);
    expect(ops(after)).toEqual(['MatMul', 'Div', 'Relu', 'Reshape', 'Transpose', 'Softmax', 'Cast', 'Transpose']);
    expect(after.nodes[7]!.outputs[0]!.type.dtype).toBe('f64');
    expectSameOnFreshInputs(before, after);
  });
  it('leaves real copies, shared values, graph inputs and tensor operands', () => {
    expect(runGolden(fuseMovementChainsPass, 'negative').changed).toBe(false);
  });
  it('has a test for every golden case', () => {
    expect(goldenCases('fuse-movement-chains')).toEqual(['collapse', 'hoist', 'negative']);
  });
});
