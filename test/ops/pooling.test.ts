// Pooling ops: MaxPool (with Indices), AveragePool, LpPool, the global pools and MaxUnpool.
// Expected values are hand-computed or from onnx.reference.ReferenceEvaluator.

import { describe, expect, it } from 'vitest';
import { attr } from '../../compiler/ir/graph.js';
import type { TensorData } from '../../compiler/ir/tensor.js';
import { f32, i64, inferOp, runOp } from '../helpers/op-harness.js';

const vals = (t: TensorData | undefined) => Array.from(t!.values);
const iota = (n: number) => Array.from({ length: n }, (_, i) => i);
const sym = (shape: (number | string)[]) => ({ type: { dtype: 'f32' as const, shape } });
const k = (...v: number[]) => attr.ints(v);

describe('MaxPool', () => {
  const x5 = f32([1, 1, 5, 5], iota(25));
  it('pools with ceil_mode and returns indices in either storage order', () => {
    const [y, i] = runOp('MaxPool', [x5], { kernel_shape: k(2, 2), strides: k(2, 2), ceil_mode: attr.int(1) }, 2);
    expect(vals(y)).toEqual([6, 8, 9, 16, 18, 19, 21, 23, 24]);
    expect(vals(i)).toEqual([6, 8, 9, 16, 18, 19, 21, 23, 24]);
    const [, ic] = runOp('MaxPool', [x5], { kernel_shape: k(2, 2), strides: k(2, 2), storage_order: attr.int(1) }, 2);
    // (h, w) = (1, 1) -> 1 + 1*5; (1, 3) -> 1 + 3*5
    expect(vals(ic)).toEqual([6, 16, 8, 18]);
  });
  it('ignores padding, handles dilations and SAME_LOWER', () => {
    const [y] = runOp('MaxPool', [f32([1, 1, 3], [-5, -6, -7])], { kernel_shape: k(3), pads: k(1, 1) });
    expect(vals(y)).toEqual([-5, -5, -6]);
    const [d] = runOp('MaxPool', [f32([1, 1, 5], [1, 9, 2, 8, 3])], { kernel_shape: k(2), dilations: k(2) });
    expect(vals(d)).toEqual([2, 9, 3]);
    const [s] = runOp('MaxPool', [f32([1, 1, 4], [1, 2, 3, 4])], { kernel_shape: k(2), auto_pad: attr.string('SAME_LOWER') });
    expect(vals(s)).toEqual([1, 2, 3, 4]);
  });
  it('infers symbolic shapes', () => {
    const t = inferOp('MaxPool', [sym(['N', 64, 112, 112])], { kernel_shape: k(3, 3), strides: k(2, 2), pads: k(1, 1, 1, 1) }, 2);
    expect(t.map((x) => [x.dtype, x.shape])).toEqual([['f32', ['N', 64, 56, 56]], ['i64', ['N', 64, 56, 56]]]);
    expect(inferOp('MaxPool', [sym(['N', 3, 'H', 'W'])], { kernel_shape: k(3, 3), auto_pad: attr.string('SAME_UPPER') })[0]!.shape).toEqual(['N', 3, 'H', 'W']);
  });
  it('rejects bad attributes', () => {
    expect(() => inferOp('MaxPool', [sym([1, 1, 4, 4])], {})).toThrow(/required attribute 'kernel_shape'/);
    expect(() => inferOp('MaxPool', [sym([1, 1, 4, 4])], { kernel_shape: k(3) })).toThrow(/'kernel_shape' \[3\] does not match 2 spatial dims/);
    expect(() => inferOp('MaxPool', [sym([1, 1, 2, 2])], { kernel_shape: k(3, 3) })).toThrow(/span 3 does not fit spatial dim 2/);
    expect(() => inferOp('MaxPool', [sym([4, 4])], { kernel_shape: k(3) })).toThrow(/rank >= 3/);
  });
});

describe('AveragePool and LpPool', () => {
  const x4 = f32([1, 1, 4, 4], iota(16));
  const attrs = { kernel_shape: k(3, 3), strides: k(2, 2), pads: k(1, 1, 1, 1) };
  it('excludes or includes padding in the divisor', () => {
    expect(vals(runOp('AveragePool', [x4], attrs)[0])).toEqual([2.5, 4, 8.5, 10]);
    const [inc] = runOp('AveragePool', [x4], { ...attrs, count_include_pad: attr.int(1) });
    expect(vals(inc)).toEqual([10 / 9, 24 / 9, 51 / 9, 90 / 9].map(Math.fround));
  });
  it('does not count the room ceil_mode adds beyond the pads', () => {
    const [y] = runOp('AveragePool', [f32([1, 1, 3], [1, 2, 3])], { kernel_shape: k(2), strides: k(2), ceil_mode: attr.int(1), count_include_pad: attr.int(1) });
    expect(vals(y)).toEqual([1.5, 3]);
  });
  it('LpPool takes the p-norm of each window', () => {
    const [y] = runOp('LpPool', [f32([1, 1, 4], [3, -4, 0, 1])], { kernel_shape: k(2), strides: k(2), p: attr.int(2) });
    expect(vals(y)).toEqual([5, 1]);
    const [l1] = runOp('LpPool', [f32([1, 1, 4], [3, -4, 0, 1])], { kernel_shape: k(2), p: attr.int(1) });
    expect(vals(l1)).toEqual([7, 4, 1]);
  });
});

describe('Global pools', () => {
  const x = f32([1, 2, 2, 2], [1, 2, 3, 4, -1, -2, -3, 6]);
  it('reduce every spatial dim to 1', () => {
    const [a] = runOp('GlobalAveragePool', [x]);
    expect(a!.dims).toEqual([1, 2, 1, 1]);
    expect(vals(a)).toEqual([2.5, 0]);
    expect(vals(runOp('GlobalMaxPool', [x])[0])).toEqual([4, 6]);
    expect(vals(runOp('GlobalLpPool', [f32([1, 1, 2], [3, 4])])[0])).toEqual([5]);
    expect(inferOp('GlobalAveragePool', [sym(['N', 512, 'h', 'w'])])[0]!.shape).toEqual(['N', 512, 1, 1]);
  });
});

describe('MaxUnpool', () => {
  it('scatters values to their pooled indices', () => {
    const [y] = runOp('MaxUnpool', [f32([1, 1, 2, 2], [5, 6, 7, 8]), i64([1, 1, 2, 2], [5, 7, 13, 15])], { kernel_shape: k(2, 2), strides: k(2, 2) });
    expect(y!.dims).toEqual([1, 1, 4, 4]);
    expect(vals(y)).toEqual([0, 0, 0, 0, 0, 5, 0, 6, 0, 0, 0, 0, 0, 7, 0, 8]);
  });
  it('places the inferred layout at the origin of output_shape', () => {
    const [y] = runOp('MaxUnpool', [f32([1, 1, 1, 1], [9]), i64([1, 1, 1, 1], [3]), i64([4], [1, 1, 3, 3])], { kernel_shape: k(2, 2), strides: k(2, 2) }, 1, [2]);
    expect(y!.dims).toEqual([1, 1, 3, 3]);
    expect(vals(y)).toEqual([0, 0, 0, 0, 9, 0, 0, 0, 0]);
  });
  it('infers shapes', () => {
    expect(inferOp('MaxUnpool', [sym(['N', 3, 2, 2]), { type: { dtype: 'i64', shape: ['N', 3, 2, 2] } }], { kernel_shape: k(2, 2), strides: k(2, 2) })[0]!.shape).toEqual(['N', 3, 4, 4]);
    expect(() => inferOp('MaxUnpool', [sym([1, 1, 2, 2]), sym([1, 1, 2, 2])], { kernel_shape: k(2, 2) })).toThrow(/'I' must be i64, got f32/);
  });
});

describe('RoiAlign', () => {
  const x = f32([1, 1, 2, 2], [0, 1, 2, 3]);
  const roi = f32([1, 4], [0, 0, 1, 1]);
  const b = i64([1], [0]);
  it('samples bilinearly under both coordinate modes', () => {
    const [y] = runOp('RoiAlign', [x, roi, b], { sampling_ratio: attr.int(1), coordinate_transformation_mode: attr.string('output_half_pixel') });
    expect(vals(y)).toEqual([1.5]);
    expect(vals(runOp('RoiAlign', [x, roi, b], { sampling_ratio: attr.int(1) })[0])).toEqual([0]);
    const [m] = runOp('RoiAlign', [x, roi, b], { sampling_ratio: attr.int(1), mode: attr.string('max'), coordinate_transformation_mode: attr.string('output_half_pixel') });
    expect(vals(m)).toEqual([0.75]);
  });
  it('infers shapes and checks the rois input', () => {
    expect(inferOp('RoiAlign', [sym(['N', 256, 'h', 'w']), sym(['R', 4]), { type: { dtype: 'i64', shape: ['R'] } }], { output_height: attr.int(7), output_width: attr.int(7) })[0]!.shape).toEqual(['R', 256, 7, 7]);
    expect(() => inferOp('RoiAlign', [sym([1, 1, 2, 2]), sym([1, 5]), { type: { dtype: 'i64', shape: [1] } }])).toThrow(/'rois' must have shape \[num_rois,4\], got \[1,5\]/);
  });
});
