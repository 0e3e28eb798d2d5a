// Generation ops and Resize: shape values from Shape/Size/Range/ConstantOfShape, generated values,
// and Resize's interpolation modes checked against onnx.reference results.

import { describe, expect, it } from 'vitest';
import { attr } from '../../compiler/ir/graph.js';
import { TensorData } from '../../compiler/ir/tensor.js';
import type { Dim } from '../../compiler/ir/types.js';
import { f32, i64, inferOp, runOp } from '../helpers/op-harness.js';

const vals = (t: TensorData | undefined) => Array.from(t!.values);
const sym = (shape: Dim[]) => ({ type: { dtype: 'f32' as const, shape } });

describe('Shape / Size', () => {
  it('reports dims with start and end clamped', () => {
    const x = f32([2, 3, 4], new Array(24).fill(0));
    expect(vals(runOp('Shape', [x])[0])).toEqual([2, 3, 4]);
    expect(vals(runOp('Shape', [x], { start: attr.int(-2) })[0])).toEqual([3, 4]);
    expect(vals(runOp('Shape', [x], { start: attr.int(1), end: attr.int(-1) })[0])).toEqual([3]);
    expect(vals(runOp('Shape', [x], { start: attr.int(-10), end: attr.int(10) })[0])).toEqual([2, 3, 4]);
    expect(runOp('Shape', [x], { start: attr.int(2), end: attr.int(1) })[0]!.dims).toEqual([0]);
    expect(vals(runOp('Size', [x])[0])).toEqual([24]);
  });
  it('types a symbolic shape', () => {
    expect(inferOp('Shape', [sym(['batch', 'seq', 768])])[0]!.shape).toEqual([3]);
    expect(inferOp('Size', [sym(['batch', 768])])[0]!.shape).toEqual([]);
  });
});

describe('ConstantOfShape', () => {
  it('fills with the value attribute (default f32 zero)', () => {
    const [y] = runOp('ConstantOfShape', [i64([2], [2, 3])], {}, 1, [0]);
    expect(y!.dtype).toBe('f32');
    expect(y!.dims).toEqual([2, 3]);
    expect(vals(y)).toEqual(new Array(6).fill(0));
    const [z] = runOp('ConstantOfShape', [i64([1], [3])], { value: attr.tensor(TensorData.fromValues('i64', [1], [7])) }, 1, [0]);
    expect(z!.dtype).toBe('i64');
    expect(vals(z)).toEqual([7, 7, 7]);
  });
  it('keeps symbols of its shape and gives fresh dims for an unknown one', () => {
    const [t] = inferOp('ConstantOfShape', [{ type: { dtype: 'i64', shape: [2] } }]);
    expect(t!.shape).toHaveLength(2);
    expect(() => inferOp('ConstantOfShape', [{ data: i64([1], [-1]), constant: true }])).toThrow(/invalid dim -1/);
  });
});

describe('Range', () => {
  it('counts up and down', () => {
    expect(vals(runOp('Range', [f32([], [1]), f32([], [2]), f32([], [0.25])], {}, 1, [0, 1, 2])[0])).toEqual([1, 1.25, 1.5, 1.75]);
    const r = TensorData.fromValues;
    expect(vals(runOp('Range', [r('i32', [], [10]), r('i32', [], [4]), r('i32', [], [-3])], {}, 1, [0, 1, 2])[0])).toEqual([10, 7]);
    expect(runOp('Range', [f32([], [3]), f32([], [1]), f32([], [1])], {}, 1, [0, 1, 2])[0]!.dims).toEqual([0]);
  });
  it('keeps a symbolic limit for arange(n) and rejects a zero delta', () => {
    const t = inferOp('Range', [{ data: i64([], [0]), constant: true }, { type: { dtype: 'i64', shape: [] } }, { data: i64([], [1]), constant: true }]);
    expect(t[0]!.shape).toHaveLength(1);
    expect(() => runOp('Range', [i64([], [0]), i64([], [4]), i64([], [0])], {}, 1, [0, 1, 2])).toThrow(/delta must not be 0/);
  });
});

describe('EyeLike', () => {
  it('puts ones on the k-th diagonal in the requested dtype', () => {
    const [y] = runOp('EyeLike', [f32([2, 3], new Array(6).fill(5))], { k: attr.int(1) });
    expect(vals(y)).toEqual([0, 1, 0, 0, 0, 1]);
    const [z] = runOp('EyeLike', [f32([2, 2], [0, 0, 0, 0])], { dtype: attr.int(7) });
    expect(z!.dtype).toBe('i64');
    expect(vals(z)).toEqual([1, 0, 0, 1]);
    expect(() => inferOp('EyeLike', [sym([2])])).toThrow(/rank 2/);
  });
});

describe('Resize', () => {
  const x = f32([1, 1, 2, 2], [1, 2, 3, 4]);
  const scales = f32([4], [1, 1, 2, 2]);
  it('upsamples with nearest (round_prefer_floor, half_pixel)', () => {
    const [y] = runOp('Resize', [x, null, scales], {}, 1, [2]);
    expect(y!.dims).toEqual([1, 1, 4, 4]);
    expect(vals(y)).toEqual([1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
  });
  it('interpolates linearly with half_pixel and align_corners', () => {
    const [y] = runOp('Resize', [x, null, scales], { mode: attr.string('linear') }, 1, [2]);
    expect(vals(y)).toEqual([1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25, 3.75, 4]);
    const [z] = runOp('Resize', [x, null, null, i64([4], [1, 1, 3, 3])], { mode: attr.string('linear'), coordinate_transformation_mode: attr.string('align_corners') }, 1, [3]);
    expect(vals(z)).toEqual([1, 1.5, 2, 2, 2.5, 3, 3, 3.5, 4]);
  });
  it('downsamples with cubic interpolation', () => {
    const x16 = f32([1, 1, 4, 4], Array.from({ length: 16 }, (_, i) => i));
    const [y] = runOp('Resize', [x16, null, null, i64([4], [1, 1, 2, 2])], { mode: attr.string('cubic') }, 1, [3]);
    expect(vals(y)).toEqual([2.03125, 4.21875, 10.78125, 12.96875]);
  });
  it('resizes only the listed axes and keeps other symbols', () => {
    const [t] = inferOp('Resize', [sym(['batch', 3, 8, 8]), null, { data: f32([2], [0.5, 2]), constant: true }], { axes: attr.ints([2, 3]) });
    expect(t!.shape).toEqual(['batch', 3, 4, 16]);
    const [u] = inferOp('Resize', [sym(['batch', 3, 8, 8]), null, null, { data: i64([2], [4, 6]), constant: true }], { axes: attr.ints([2, 3]), keep_aspect_ratio_policy: attr.string('not_larger') });
    expect(u!.shape).toEqual(['batch', 3, 4, 4]);
  });
  it('rejects unknown modes and antialiased nearest', () => {
    expect(() => inferOp('Resize', [sym([1, 4]), null, { data: f32([2], [1, 2]), constant: true }], { mode: attr.string('area') })).toThrow(/mode 'area'/);
    expect(() => inferOp('Resize', [sym([1, 4]), null, { data: f32([2], [1, 2]), constant: true }], { antialias: attr.int(1) })).toThrow(/antialias/);
  });
});

describe('Upsample', () => {
  it('repeats pixels for integer scales', () => {
    const [y] = runOp('Upsample', [f32([1, 1, 1, 2], [1, 2]), f32([4], [1, 1, 2, 2])], {}, 1, [1]);
    expect(y!.dims).toEqual([1, 1, 2, 4]);
    expect(vals(y)).toEqual([1, 1, 2, 2, 1, 1, 2, 2]);
  });
});
