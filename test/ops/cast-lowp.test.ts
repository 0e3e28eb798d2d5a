// Cast, CastLike, QuantizeLinear and DequantizeLinear with the low-precision dtypes (float8,
// f8e8m0, f4e2m1, 4- and 2-bit integers). Expected values follow onnx.reference (onnx 1.23.1).

import { describe, expect, it } from 'vitest';
import type { DType } from '../../compiler/ir/dtype.js';
import { attr } from '../../compiler/ir/graph.js';
import { TensorData } from '../../compiler/ir/tensor.js';
import { f32, inferOp, runOp } from '../helpers/op-harness.js';

const t = (dtype: DType, dims: number[], values: number[]) => TensorData.fromValues(dtype, dims, values);
const vals = (x: TensorData | undefined) => Array.from(x!.values);
const hex = (x: TensorData | undefined) => Buffer.from(x!.bytes).toString('hex');
const TO = { f8e4m3fn: 17, f8e4m3fnuz: 18, f8e5m2: 19, f8e5m2fnuz: 20, u4: 21, i4: 22, f4e2m1: 23, f8e8m0: 24, u2: 25, i2: 26 };

describe('Cast to and from low-precision types', () => {
  const x = f32([6], [0.3, 1000, -Infinity, NaN, -1e-7, 464]);
  it('saturates float8 by default and rounds to nearest even', () => {
    const [y] = runOp('Cast', [x], { to: attr.int(TO.f8e4m3fn) });
    expect(y!.dtype).toBe('f8e4m3fn');
    expect(vals(y)).toEqual([0.3125, 448, -448, NaN, -0, 448]);
    expect(hex(y)).toBe('2a7efe7f807e');
    expect(vals(runOp('Cast', [x], { to: attr.int(TO.f8e5m2) })[0])).toEqual([0.3125, 1024, -57344, NaN, -0, 448]);
  });
  it('gives NaN or inf when saturate=0', () => {
    const sat0 = { saturate: attr.int(0) };
    expect(hex(runOp('Cast', [x], { to: attr.int(TO.f8e4m3fn), ...sat0 })[0])).toBe('2a7fff7f807e');
    expect(vals(runOp('Cast', [x], { to: attr.int(TO.f8e5m2), ...sat0 })[0])).toEqual([0.3125, 1024, -Infinity, NaN, -0, 448]);
    const [fnuz] = runOp('Cast', [x], { to: attr.int(TO.f8e4m3fnuz), ...sat0 });
    expect(hex(fnuz)).toBe('328080800080'); // -1e-7 underflows to +0: fnuz has no -0; 464 > 240 is NaN
  });
  it('CastLike takes saturate too', () => {
    const like = t('f8e5m2fnuz', [0], []);
    const [y] = runOp('CastLike', [f32([2], [1e6, 1]), like], { saturate: attr.int(0) });
    expect(y!.dtype).toBe('f8e5m2fnuz');
    expect(vals(y)).toEqual([NaN, 1]);
    expect(vals(runOp('CastLike', [f32([2], [1e6, 1]), like])[0])).toEqual([57344, 1]);
  });
  it('rounds f8e8m0 by round_mode', () => {
    const y = f32([5], [0, 0.124, 1.1, 1.5, 3e38]);
    const run = (mode: string, saturate: number) =>
      vals(runOp('Cast', [y], { to: attr.int(TO.f8e8m0), round_mode: attr.string(mode), saturate: attr.int(saturate) })[0]);
    expect(run('up', 1)).toEqual([2 ** -127, 0.125, 2, 2, 2 ** 127]);
    expect(run('up', 0)).toEqual([2 ** -127, 0.125, 2, 2, NaN]);
    expect(run('down', 1)).toEqual([2 ** -127, 0.0625, 1, 1, 2 ** 127]);
    expect(run('nearest', 1)).toEqual([2 ** -127, 0.125, 1, 2, 2 ** 127]);
    expect(() => run('sideways', 1)).toThrow(/round_mode/);
  });
  it('wraps 4- and 2-bit integers and saturates float4', () => {
    const r = f32([5], [-9, -1.5, 7, 8, 15]);
    expect(vals(runOp('Cast', [r], { to: attr.int(TO.i4) })[0])).toEqual([7, -1, 7, -8, -1]);
    expect(vals(runOp('Cast', [r], { to: attr.int(TO.u4) })[0])).toEqual([7, 15, 7, 8, 15]);
    expect(vals(runOp('Cast', [r], { to: attr.int(TO.i2) })[0])).toEqual([-1, -1, -1, 0, -1]);
    expect(vals(runOp('Cast', [f32([4], [2.5, 9, -Infinity, 0.25])], { to: attr.int(TO.f4e2m1) })[0])).toEqual([2, 6, -6, 0]);
  });
  it('casts back to wider types exactly', () => {
    const [y] = runOp('Cast', [TensorData.fromBytes('i4', [3], Uint8Array.of(0xe1, 0x03))], { to: attr.int(1) });
    expect(vals(y)).toEqual([1, -2, 3]);
    const [z] = runOp('Cast', [TensorData.fromBytes('f8e5m2', [3], Uint8Array.of(0x7c, 0x7e, 0x01))], { to: attr.int(10) });
    expect(z!.dtype).toBe('f16');
    expect(vals(z)).toEqual([Infinity, NaN, 2 ** -16]);
    expect(vals(runOp('Cast', [t('u2', [3], [1, 2, 3])], { to: attr.int(2) })[0])).toEqual([1, 2, 3]);
  });
});

describe('QuantizeLinear to low-precision types', () => {
  const x = f32([6], [0, 1, 2.5, -3, 100, -100]);
  it('clamps to the 4- and 2-bit ranges', () => {
    expect(vals(runOp('QuantizeLinear', [x, f32([], [1]), t('i4', [], [0])])[0])).toEqual([0, 1, 2, -3, 7, -8]);
    expect(vals(runOp('QuantizeLinear', [x, f32([], [1]), t('u4', [], [1])])[0])).toEqual([1, 2, 3, 0, 15, 0]);
    const [i2] = runOp('QuantizeLinear', [x, f32([], [1])], { output_dtype: attr.int(TO.i2) });
    expect(i2!.dtype).toBe('i2');
    expect(vals(i2)).toEqual([0, 1, 1, -2, 1, -2]);
    expect(vals(runOp('QuantizeLinear', [x, f32([], [2]), t('u2', [], [0])])[0])).toEqual([0, 0, 1, 0, 3, 0]);
  });
  it('casts x / scale to float8, saturating unless saturate=0', () => {
    const s = f32([], [2]);
    expect(vals(runOp('QuantizeLinear', [x, s, t('f8e4m3fn', [], [0])])[0])).toEqual([0, 0.5, 1.25, -1.5, 48, -48]);
    const big = f32([3], [1, 2000, -Infinity]);
    expect(vals(runOp('QuantizeLinear', [big, s, t('f8e4m3fn', [], [0])])[0])).toEqual([0.5, 448, -448]);
    expect(vals(runOp('QuantizeLinear', [big, s, t('f8e4m3fn', [], [0])], { saturate: attr.int(0) })[0])).toEqual([0.5, NaN, NaN]);
    expect(vals(runOp('QuantizeLinear', [big, s, t('f8e5m2', [], [0])], { saturate: attr.int(0) })[0])).toEqual([0.5, 1024, -Infinity]);
    expect(vals(runOp('QuantizeLinear', [x, f32([], [1]), t('f4e2m1', [], [0])])[0])).toEqual([0, 1, 2, -3, 6, -6]);
  });
  it('quantizes per block to int4', () => {
    const xb = f32([2, 4], [1, 2, 3, 4, 5, 6, 7, 8]);
    const scale = f32([2, 2], [1, 2, 0.5, 4]);
    const [q] = runOp('QuantizeLinear', [xb, scale, t('i4', [2, 2], [0, 0, 0, 1])], { axis: attr.int(1), block_size: attr.int(2) });
    expect(vals(q)).toEqual([1, 2, 2, 2, 7, 7, 3, 3]);
    expect(hex(q)).toBe('21227733');
  });
  it('takes a float8e8m0 scale', () => {
    const [q] = runOp('QuantizeLinear', [f32([2], [3, -8]), t('f8e8m0', [], [2])], { output_dtype: attr.int(TO.i4) });
    expect(vals(q)).toEqual([2, -4]);
  });
  it('rejects a zero point type that differs from output_dtype', () => {
    expect(() => inferOp('QuantizeLinear', [x, f32([], [1]), t('i4', [], [0])], { output_dtype: attr.int(TO.u4) })).toThrow(/differs from the zero point/);
  });
});

describe('DequantizeLinear from low-precision types', () => {
  it('dequantizes 4- and 2-bit integers with zero points', () => {
    const [y] = runOp('DequantizeLinear', [t('i4', [4], [-8, -1, 0, 7]), f32([], [0.5]), t('i4', [], [-1])]);
    expect(y!.dtype).toBe('f32');
    expect(vals(y)).toEqual([-3.5, 0, 0.5, 4]);
    expect(vals(runOp('DequantizeLinear', [t('u2', [4], [0, 1, 2, 3]), f32([], [2]), t('u2', [], [1])])[0])).toEqual([-2, 0, 2, 4]);
  });
  it('dequantizes float8 and float4 (zero point 0), per axis', () => {
    const x8 = TensorData.fromBytes('f8e4m3fn', [2, 2], Uint8Array.of(0x38, 0xb8, 0x7e, 0x7f));
    expect(vals(runOp('DequantizeLinear', [x8, f32([2], [2, 0.5])], { axis: attr.int(0) })[0])).toEqual([2, -2, 224, NaN]);
    const x4 = t('f4e2m1', [3], [0.5, -6, 3]);
    expect(vals(runOp('DequantizeLinear', [x4, f32([], [2]), t('f4e2m1', [], [0])])[0])).toEqual([1, -12, 6]);
  });
  it('needs output_dtype with a float8e8m0 scale', () => {
    const x = t('i4', [2], [3, -2]);
    const scale = t('f8e8m0', [], [4]);
    const [y] = runOp('DequantizeLinear', [x, scale], { output_dtype: attr.int(10) });
    expect(y!.dtype).toBe('f16');
    expect(vals(y)).toEqual([12, -8]);
    expect(() => inferOp('DequantizeLinear', [x, scale])).toThrow(/f8e8m0 scale needs output_dtype/);
  });
  it('dequantizes blocked int4', () => {
    const x = t('u4', [2, 3], [1, 2, 3, 4, 5, 6]);
    const [y] = runOp('DequantizeLinear', [x, f32([2, 2], [1, 10, 2, 20]), t('u4', [2, 2], [0, 1, 1, 0])], { axis: attr.int(1), block_size: attr.int(2) });
    expect(vals(y)).toEqual([1, 2, 20, 6, 8, 120]);
  });
});
