// GridSample, AffineGrid, DeformConv and NonMaxSuppression. Expected values are from
// onnx.reference.ReferenceEvaluator (onnx 1.23.1).

import { describe, expect, it } from 'vitest';
import { attr } from '../../compiler/ir/graph.js';
import { f32, i64, inferOp, runOp } from '../helpers/op-harness.js';

const close = (got: Float64Array, want: number[], digits = 4) => {
  expect(got.length).toBe(want.length);
  want.forEach((w, i) => expect(got[i]).toBeCloseTo(w, digits));
};

describe('GridSample', () => {
  const x = f32([1, 1, 3, 4], Array.from({ length: 12 }, (_, i) => i));
  const grid = f32([1, 2, 3, 2], [-1, -1, 0.3, -0.2, 1.2, 0.9, 0.5, 0.5, -0.9, 1.1, 0.05, -0.6]);
  const cases: [string, string, number[]][] = [
    ['linear', 'zeros', [0, 4.900001, 0.714999, 9.5, 1.960001, 2]],
    ['nearest', 'border', [0, 6, 11, 10, 8, 2]],
    ['cubic', 'zeros', [-0.234375, 4.724695, 0.642569, 12.013672, 2.055907, 1.97274]],
    ['cubic', 'reflection', [-0.9375, 4.585752, 11.750003, 9.828125, 8.525002, 1.876998]],
  ];
  for (const [mode, pad, want] of cases) {
    it(`samples with mode ${mode}, padding ${pad}`, () => {
      const [y] = runOp('GridSample', [x, grid], { mode: attr.string(mode), padding_mode: attr.string(pad) });
      expect(y!.dims).toEqual([1, 1, 2, 3]);
      close(y!.values, want);
    });
  }
  it('honours align_corners', () => {
    close(runOp('GridSample', [x, grid], { align_corners: attr.int(1) })[0]!.values, [0, 5.15, 7.419998, 8.25, 7.335001, 3.175]);
  });
  it('types symbolic grids and rejects bad modes', () => {
    const t = inferOp('GridSample', [{ type: { dtype: 'f32', shape: ['N', 3, 'H', 'W'] } }, { type: { dtype: 'f32', shape: ['N', 'h', 'w', 2] } }]);
    expect(t[0]!.shape).toEqual(['N', 3, 'h', 'w']);
    expect(() => inferOp('GridSample', [{ type: { dtype: 'f32', shape: [1, 1, 2, 2] } }, { type: { dtype: 'f32', shape: [1, 2, 2, 2] } }], { mode: attr.string('area') }))
      .toThrow(/'mode' must be one of linear, nearest, cubic, got 'area'/);
  });
});

describe('AffineGrid', () => {
  it('maps the base grid through theta', () => {
    const [g] = runOp('AffineGrid', [f32([1, 2, 3], [1, 0.2, 0.1, -0.3, 0.9, 0.05]), i64([4], [1, 1, 2, 3])], {}, 1, [1]);
    expect(g!.dims).toEqual([1, 2, 3, 2]);
    close(g!.values, [-0.666667, -0.2, 0, -0.4, 0.666667, -0.6, -0.466667, 0.7, 0.2, 0.5, 0.866667, 0.3]);
  });
  it('checks theta against the size length', () => {
    expect(() => inferOp('AffineGrid', [{ type: { dtype: 'f32', shape: ['N', 3, 4] } }, { type: { dtype: 'i64', shape: [4] } }])).toThrow(/theta must have shape \[N, 2, 3\]/);
  });
});

describe('DeformConv', () => {
  it('samples at offset taps with a mask and bias', () => {
    const off = f32([1, 8, 2, 2], Array.from({ length: 32 }, (_, i) => -0.7 + (1.6 * i) / 31));
    const mask = f32([1, 4, 2, 2], Array.from({ length: 16 }, (_, i) => 0.2 + (0.8 * i) / 15));
    const x = f32([1, 1, 3, 3], Array.from({ length: 9 }, (_, i) => i / 2));
    const [y] = runOp('DeformConv', [x, f32([1, 1, 2, 2], [1, -1, 0.5, 2]), off, f32([1], [0.25]), mask], { kernel_shape: attr.ints([2, 2]) });
    close(y!.values, [6.039215, 1.98826, 3.030602, 0.697343]);
  });
});

describe('NonMaxSuppression', () => {
  it('selects greedily by score and IoU', () => {
    const boxes = f32([1, 6, 4], [0, 0, 1, 1, 0, 0.1, 1, 1.1, 0, -0.1, 1, 0.9, 0, 10, 1, 11, 0, 10.1, 1, 11.1, 0, 100, 1, 101]);
    const scores = f32([1, 1, 6], [0.9, 0.75, 0.6, 0.95, 0.5, 0.3]);
    const [y] = runOp('NonMaxSuppression', [boxes, scores, i64([1], [3]), f32([1], [0.5]), f32([1], [0])]);
    expect(y!.dims).toEqual([3, 3]);
    expect(Array.from(y!.values)).toEqual([0, 0, 3, 0, 0, 0, 0, 0, 5]);
  });
  it('gives a symbolic count and checks box shapes', () => {
    const t = inferOp('NonMaxSuppression', [{ type: { dtype: 'f32', shape: ['B', 'n', 4] } }, { type: { dtype: 'f32', shape: ['B', 2, 'n'] } }]);
    expect(typeof t[0]!.shape[0]).toBe('string');
    expect(() => inferOp('NonMaxSuppression', [{ type: { dtype: 'f32', shape: [1, 3, 5] } }, { type: { dtype: 'f32', shape: [1, 1, 3] } }])).toThrow(/boxes must have shape \[batch, boxes, 4\]/);
  });
});
