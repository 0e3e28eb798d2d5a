import { describe, expect, it } from 'vitest';
import { f32, inferOp, runOp } from '../helpers/op-harness.js';

describe('op harness', () => {
  it('runs Add with broadcasting and checks it against its shape rule', () => {
    const [y] = runOp('Add', [f32([2, 2], [1, 2, 3, 4]), f32([2], [10, 20])]);
    expect(Array.from(y!.values)).toEqual([11, 22, 13, 24]);
  });
  it('keeps symbolic dims through broadcasting', () => {
    const [t] = inferOp('Add', [{ type: { dtype: 'f32', shape: ['batch', 1, 8] } }, { type: { dtype: 'f32', shape: [4, 1] } }]);
    expect(t!.shape).toEqual(['batch', 4, 8]);
  });
});
