// NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss. Expected values are from
// onnx.reference.ReferenceEvaluator (onnx 1.23.1).

import { describe, expect, it } from 'vitest';
import { attr } from '../../compiler/ir/graph.js';
import { f32, i64, inferOp, runOp } from '../helpers/op-harness.js';

const close = (got: Float64Array, want: number[]) => {
  expect(got.length).toBe(want.length);
  want.forEach((w, i) => expect(got[i]).toBeCloseTo(w, 5));
};
// N=2, C=3, d1=2
const x = f32([2, 3, 2], [0.1, -0.5, 1.2, 0.3, -0.7, 2.0, 0.4, 0.4, -1.0, 0.0, 0.5, -0.2]);

describe('NegativeLogLikelihoodLoss', () => {
  it('averages by total weight, skipping ignore_index', () => {
    const [y] = runOp('NegativeLogLikelihoodLoss', [x, i64([2, 2], [0, 2, 1, -1]), f32([3], [0.5, 1, 2])], { ignore_index: attr.int(-1) });
    expect(y!.dims).toEqual([]);
    close(y!.values, [-0.871429]);
  });
  it('keeps per-element losses with reduction none', () => {
    const [y] = runOp('NegativeLogLikelihoodLoss', [x, i64([2, 2], [0, 2, 1, 1])], { reduction: attr.string('none') });
    close(y!.values, [-0.1, -2.0, 1.0, 0]);
  });
  it('types symbolic shapes and rejects mismatched targets', () => {
    const t = inferOp('NegativeLogLikelihoodLoss', [{ type: { dtype: 'f32', shape: ['N', 5, 'H'] } }, { type: { dtype: 'i64', shape: ['N', 'H'] } }], { reduction: attr.string('none') });
    expect(t[0]!.shape).toEqual(['N', 'H']);
    expect(() => inferOp('NegativeLogLikelihoodLoss', [{ type: { dtype: 'f32', shape: [2, 5, 3] } }, { type: { dtype: 'i64', shape: [2, 4] } }]))
      .toThrow(/'target' must have shape \[2,3\], got \[2,4\]/);
    expect(() => runOp('NegativeLogLikelihoodLoss', [x, i64([2, 2], [0, 3, 1, 1])])).toThrow(/target value 3 is out of range for 3 classes/);
  });
});

describe('SoftmaxCrossEntropyLoss', () => {
  it('sums the loss and returns log-probabilities', () => {
    const [y, lp] = runOp('SoftmaxCrossEntropyLoss', [x, i64([2, 2], [0, 2, 1, 1])], { reduction: attr.string('sum') }, 2);
    close(y!.values, [5.180862]);
    close(lp!.values, [-1.493689, -2.734889, -0.393689, -1.934889, -2.293689, -0.234889, -0.855167, -0.797116, -2.255167, -1.197116, -0.755167, -1.397116]);
  });
  it('rejects an unknown reduction', () => {
    expect(() => inferOp('SoftmaxCrossEntropyLoss', [{ type: { dtype: 'f32', shape: ['N', 3] } }, { type: { dtype: 'i64', shape: ['N'] } }], { reduction: attr.string('max') }))
      .toThrow(/'reduction' must be one of none, sum, mean, got 'max'/);
  });
});
