// DFT, STFT, the window functions and MelWeightMatrix. Expected values are from
// onnx.reference.ReferenceEvaluator (onnx 1.23.1).

import { describe, expect, it } from 'vitest';
import { attr } from '../../compiler/ir/graph.js';
import { f32, i64, inferOp, runOp } from '../helpers/op-harness.js';

const close = (got: Float64Array, want: number[], digits = 5) => {
  expect(got.length).toBe(want.length);
  want.forEach((w, i) => expect(got[i]).toBeCloseTo(w, digits));
};
const axis1 = i64([], [1]);

describe('DFT', () => {
  it('computes a one-sided real transform', () => {
    const [y] = runOp('DFT', [f32([1, 6, 1], [1, 2, 0, -1, 3, 0.5]), null, axis1], { onesided: attr.int(1) }, 1, [2]);
    expect(y!.dims).toEqual([1, 4, 2]);
    close(y!.values, [5.5, 0, 1.75, 1.299038, -2.75, -3.897114, 2.5, 0]);
  });
  it('inverts complex input, also one-sided with a dft_length', () => {
    const x = f32([1, 4, 2], [1, 0, 2, 1, 0, -1, 0.5, 0.5]);
    close(runOp('DFT', [x, null, axis1], { inverse: attr.int(1) }, 1, [2])[0]!.values, [0.875, 0.125, 0.125, 0.625, -0.375, -0.625, 0.375, -0.125]);
    const [y] = runOp('DFT', [x, i64([], [6]), axis1], { inverse: attr.int(1), onesided: attr.int(1) }, 1, [1, 2]);
    expect(y!.dims).toEqual([1, 6, 1]);
    close(y!.values, [0.916667, 0.416667, -0.660684, -0.583333, 0.494017, 0.416667]);
  });
  it('types symbolic shapes and rejects the [re, im] axis', () => {
    expect(inferOp('DFT', [{ type: { dtype: 'f32', shape: ['N', 8, 1] } }, null, { data: axis1, constant: true }], { onesided: attr.int(1) })[0]!.shape).toEqual(['N', 5, 2]);
    expect(() => inferOp('DFT', [{ type: { dtype: 'f32', shape: [1, 8, 2] } }, null, { data: i64([], [2]), constant: true }])).toThrow(/names the \[re, im\] dim/);
  });
});

describe('STFT', () => {
  it('transforms windowed frames', () => {
    const sig = f32([1, 10, 1], Array.from({ length: 10 }, (_, i) => Math.sin(i * 0.7)));
    const [y] = runOp('STFT', [sig, i64([], [3]), f32([4], [0.5, 1, 1, 0.5])], {}, 1, [1]);
    expect(y!.dims).toEqual([1, 3, 3, 2]);
    close(y!.values, [2.061272, 0, -0.98545, -0.212613, -0.090373, 0, -0.019978, 0, 0.782388, -0.770776, 0.181621, 0, -2.0411, 0, 0.195479, 0.99086, -0.093009, 0], 4);
  });
});

describe('windows and MelWeightMatrix', () => {
  it('computes symmetric and periodic windows', () => {
    close(runOp('HannWindow', [i64([], [5])], { periodic: attr.int(0) }, 1, [0])[0]!.values, [0, 0.5, 1, 0.5, 0]);
    close(runOp('BlackmanWindow', [i64([], [5])], {}, 1, [0])[0]!.values, [0, 0.20077, 0.84923, 0.84923, 0.20077]);
    expect(inferOp('HammingWindow', [{ type: { dtype: 'i64', shape: [] } }], { output_datatype: attr.int(11) })[0]!.dtype).toBe('f64');
    expect(() => inferOp('HannWindow', [{ type: { dtype: 'f32', shape: [] } }])).toThrow(/size must be an integer, got f32/);
  });
  it('builds mel triangles', () => {
    const [m] = runOp('MelWeightMatrix', [i64([], [3]), i64([], [8]), i64([], [8000]), f32([], [0]), f32([], [4000])], {}, 1, [0, 1]);
    expect(m!.dims).toEqual([5, 3]);
    close(m!.values, [1, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  });
});
