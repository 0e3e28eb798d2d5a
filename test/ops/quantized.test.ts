// QLinearMatMul, QLinearConv and DynamicQuantizeLinear. Expected values are from
// onnx.reference.ReferenceEvaluator (onnx 1.23.1).

import { describe, expect, it } from 'vitest';
import { TensorData } from '../../compiler/ir/tensor.js';
import { f32, inferOp, runOp } from '../helpers/op-harness.js';

const u8 = (dims: number[], v: number[]) => TensorData.fromValues('u8', dims, v);
const s = (v: number) => f32([], [v]);

describe('QLinearMatMul', () => {
  it('accumulates in integers and requantizes', () => {
    const [y] = runOp('QLinearMatMul', [u8([2, 3], [10, 200, 3, 0, 255, 128]), s(0.05), u8([], [3]), u8([3, 2], [1, 2, 3, 4, 250, 0]), s(0.02), u8([], [1]), s(0.3), u8([], [5])]);
    expect(y!.dtype).toBe('u8');
    expect(Array.from(y!.values)).toEqual([6, 7, 110, 7]);
  });
  it('types symbolic shapes and checks zero-point dtypes', () => {
    const t = (dtype: 'u8' | 'i8' | 'f32', shape: (number | string)[]) => ({ type: { dtype, shape } });
    const ins = [t('u8', ['B', 'M', 4]), t('f32', []), t('u8', []), t('u8', [4, 'N']), t('f32', []), t('u8', []), t('f32', []), t('u8', [])];
    expect(inferOp('QLinearMatMul', ins)[0]).toEqual({ dtype: 'u8', shape: ['B', 'M', 'N'] });
    ins[5] = t('i8', []);
    expect(() => inferOp('QLinearMatMul', ins)).toThrow(/b_zero_point has dtype i8, expected u8/);
  });
});

describe('QLinearConv', () => {
  it('applies a 1x1 kernel with bias', () => {
    const [y] = runOp('QLinearConv', [u8([1, 1, 2, 2], [0, 10, 20, 30]), s(0.5), u8([], [10]), u8([1, 1, 1, 1], [3]), f32([1], [0.25]), u8([1], [1]),
      s(0.1), u8([], [2]), TensorData.fromValues('i32', [1], [4])]);
    // acc = (x - 10) * 2 + 4, y = round(acc * 1.25) + 2
    expect(Array.from(y!.values)).toEqual([0, 7, 32, 57]);
  });
});

describe('DynamicQuantizeLinear', () => {
  it('derives scale and zero point from the range', () => {
    const [y, sc, zp] = runOp('DynamicQuantizeLinear', [f32([5], [-1.5, 0, 0.3, 2.7, 1.1])], {}, 3);
    expect(Array.from(y!.values)).toEqual([0, 91, 109, 255, 158]);
    expect(sc!.values[0]).toBeCloseTo(0.016471, 6);
    expect(zp!.values[0]).toBe(91);
    expect(inferOp('DynamicQuantizeLinear', [{ type: { dtype: 'f32', shape: ['N', 3] } }], {}, 3).map((t) => t.shape)).toEqual([['N', 3], [], []]);
    expect(() => inferOp('DynamicQuantizeLinear', [{ type: { dtype: 'f64', shape: [2] } }])).toThrow(/must be f32, got f64/);
  });
});
