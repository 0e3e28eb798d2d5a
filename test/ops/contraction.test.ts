// Contraction ops: MatMul, Gemm, Conv, ConvTranspose, Einsum and the integer forms. Expected values
// are hand-computed or taken from onnx.reference.ReferenceEvaluator.

import { describe, expect, it } from 'vitest';
import { attr } from '../../compiler/ir/graph.js';
import { TensorData } from '../../compiler/ir/tensor.js';
import { f32, inferOp, runOp } from '../helpers/op-harness.js';

const vals = (t: TensorData | undefined) => Array.from(t!.values);
const iota = (n: number) => Array.from({ length: n }, (_, i) => i);
const sym = (shape: (number | string)[], dtype: 'f32' | 'i64' = 'f32') => ({ type: { dtype, shape } });

describe('MatMul', () => {
  it('multiplies matrices and broadcasts batch dims', () => {
    const [y] = runOp('MatMul', [f32([2, 1, 2, 3], iota(12)), f32([3, 3, 1], [1, 0, 2, 1, 1, 1, 0, 1, 2])]);
    expect(y!.dims).toEqual([2, 3, 2, 1]);
    // batch (0, 1): rows [0 1 2], [3 4 5] x [1,1,1]
    expect(vals(y).slice(2, 4)).toEqual([3, 12]);
  });
  it('promotes 1-D operands and drops the added dims', () => {
    expect(vals(runOp('MatMul', [f32([3], [1, 2, 3]), f32([3], [4, 5, 6])])[0])).toEqual([32]);
    const [y] = runOp('MatMul', [f32([3], [1, 2, 3]), f32([2, 3, 2], iota(12))]);
    expect(y!.dims).toEqual([2, 2]);
    expect(vals(y)).toEqual([16, 22, 52, 58]);
  });
  it('keeps symbolic dims', () => {
    const [t] = inferOp('MatMul', [sym(['batch', 128, 768]), sym([768, 3072])]);
    expect(t!.shape).toEqual(['batch', 128, 3072]);
  });
  it('rejects mismatched inner dims', () => {
    expect(() => inferOp('MatMul', [sym([2, 3]), sym([4, 5])])).toThrow(/inner dims differ.*\[2,3\] x \[4,5\]/);
  });
});

describe('Gemm', () => {
  it('applies transA, transB, alpha, beta and broadcasts C', () => {
    const a = f32([3, 2], [1, 4, 2, 5, 3, 6]); // A^T = [[1,2,3],[4,5,6]]
    const b = f32([2, 3], [1, 0, 1, 0, 1, 1]); // B^T = [[1,0],[0,1],[1,1]]
    const [y] = runOp('Gemm', [a, b, f32([2], [10, 20])], { transA: attr.int(1), transB: attr.int(1), alpha: attr.float(2), beta: attr.float(0.5) });
    // A^T B^T = [[4,5],[10,11]]
    expect(vals(y)).toEqual([13, 20, 25, 32]);
  });
  it('works without C and checks C broadcasting', () => {
    expect(vals(runOp('Gemm', [f32([1, 2], [1, 2]), f32([2, 1], [3, 4])])[0])).toEqual([11]);
    expect(() => inferOp('Gemm', [sym([2, 3]), sym([3, 4]), sym([3])])).toThrow(/C of shape \[3\] does not broadcast to \[2,4\]/);
  });
  it('keeps a symbolic M', () => {
    expect(inferOp('Gemm', [sym(['n', 8]), sym([4, 8])], { transB: attr.int(1) })[0]!.shape).toEqual(['n', 4]);
  });
});

describe('Conv', () => {
  const x5 = f32([1, 1, 5, 5], iota(25));
  const ones3 = f32([1, 1, 3, 3], new Array(9).fill(1));
  it('computes a padded strided 2-D convolution', () => {
    const [y] = runOp('Conv', [x5, ones3], { strides: attr.ints([2, 2]), pads: attr.ints([1, 1, 1, 1]) });
    expect(vals(y)).toEqual([12, 27, 24, 63, 108, 81, 72, 117, 84]);
  });
  it('handles SAME_UPPER, bias, groups and dilations', () => {
    const [y] = runOp('Conv', [x5, ones3, f32([1], [100])], { auto_pad: attr.string('SAME_UPPER'), dilations: attr.ints([2, 2]) });
    expect(y!.dims).toEqual([1, 1, 5, 5]);
    // centre: taps at rows/cols 0,2,4 -> sum of x[r][c] for r,c in {0,2,4}
    expect(vals(y)[12]).toBe(100 + [0, 2, 4].reduce((s, r) => s + [0, 2, 4].reduce((t, c) => t + r * 5 + c, 0), 0));
    const [g] = runOp('Conv', [f32([1, 2, 3], [1, 2, 3, 10, 20, 30]), f32([2, 1, 2], [1, 1, 1, -1])], { group: attr.int(2) });
    expect(vals(g)).toEqual([3, 5, -10, -10]);
  });
  it('computes a 3-D convolution', () => {
    const [y] = runOp('Conv', [f32([1, 1, 2, 2, 2], iota(8)), f32([2, 1, 2, 2, 2], [...new Array(8).fill(1), ...iota(8)])]);
    expect(vals(y)).toEqual([28, 140]);
  });
  it('infers shapes with a symbolic batch and symbolic spatial dims', () => {
    const w = sym([64, 3, 7, 7]);
    expect(inferOp('Conv', [sym(['N', 3, 224, 224]), w], { strides: attr.ints([2, 2]), pads: attr.ints([3, 3, 3, 3]) })[0]!.shape).toEqual(['N', 64, 112, 112]);
    const t = inferOp('Conv', [sym(['N', 3, 'H', 'W']), sym([8, 3, 1, 1])])[0]!;
    expect(t.shape).toEqual(['N', 8, 'H', 'W']);
    const s = inferOp('Conv', [sym(['N', 3, 'H', 'W']), w])[0]!;
    expect(typeof s.shape[2]).toBe('string');
    expect(s.shape[2]).not.toBe('H');
  });
  it('rejects channel mismatches and bad attributes', () => {
    expect(() => inferOp('Conv', [sym([1, 4, 8, 8]), sym([2, 3, 3, 3])])).toThrow(/X has 4 channels but W \[2,3,3,3\] with group=1 expects 3/);
    expect(() => inferOp('Conv', [sym([1, 3, 8, 8]), sym([2, 3, 3, 3])], { pads: attr.ints([1, 1]) })).toThrow(/'pads' needs 4 values/);
    expect(() => inferOp('Conv', [sym([1, 3, 8, 8]), sym([2, 3, 3, 3])], { auto_pad: attr.string('SAME') })).toThrow(/auto_pad.*'SAME'/);
  });
});

describe('ConvTranspose', () => {
  it('computes a 1-D transposed convolution with two output channels', () => {
    const [y] = runOp('ConvTranspose', [f32([1, 1, 3], [1, 2, 3]), f32([1, 2, 3], [1, 1, 1, 1, 2, 3])]);
    expect(vals(y)).toEqual([1, 3, 6, 5, 3, 1, 4, 10, 12, 9]);
  });
  it('sizes outputs from strides, output_padding, pads and output_shape', () => {
    const x = sym(['N', 1, 3, 3]);
    const w = sym([1, 2, 3, 3]);
    expect(inferOp('ConvTranspose', [x, w], { strides: attr.ints([3, 2]), output_padding: attr.ints([1, 1]) })[0]!.shape).toEqual(['N', 2, 10, 8]);
    expect(inferOp('ConvTranspose', [x, w], { strides: attr.ints([3, 2]), output_shape: attr.ints([10, 8]) })[0]!.shape).toEqual(['N', 2, 10, 8]);
    expect(inferOp('ConvTranspose', [x, w], { strides: attr.ints([2, 2]), auto_pad: attr.string('SAME_UPPER') })[0]!.shape).toEqual(['N', 2, 6, 6]);
    expect(inferOp('ConvTranspose', [x, w], { pads: attr.ints([1, 1, 1, 1]) })[0]!.shape).toEqual(['N', 2, 3, 3]);
    const s = inferOp('ConvTranspose', [sym([1, 1, 'H', 3]), w], { strides: attr.ints([2, 2]) })[0]!.shape;
    expect(s[3]).toBe(7);
    expect(typeof s[2] === 'string' && s[2] !== 'H').toBe(true);
  });
  it('matches the reference with output_shape padding and groups', () => {
    // Each output sums the input taps it receives: stride 2, kernel 2 -> every output gets one tap.
    const [y] = runOp('ConvTranspose', [f32([1, 2, 2], [1, 2, 3, 4]), f32([2, 1, 2], [1, 10, 1, 100])], { strides: attr.ints([2]), group: attr.int(2) });
    expect(vals(y)).toEqual([1, 10, 2, 20, 3, 300, 4, 400]);
  });
});

describe('Einsum', () => {
  const run = (eq: string, ...ts: TensorData[]) => runOp('Einsum', ts, { equation: attr.string(eq) })[0]!;
  it('computes implicit and explicit products', () => {
    expect(vals(run('ij,jk', f32([2, 3], iota(6)), f32([3, 4], iota(12))))).toEqual([20, 23, 26, 29, 56, 68, 80, 92]);
    expect(vals(run('i,i->', f32([3], [1, 2, 3]), f32([3], [4, 5, 6])))).toEqual([32]);
    expect(run('ji', f32([2, 3], iota(6))).dims).toEqual([3, 2]); // implicit output sorts labels: 'ij'
    expect(vals(run('ba', f32([2, 3], iota(6))))).toEqual([0, 3, 1, 4, 2, 5]);
  });
  it('takes diagonals and handles ellipses', () => {
    expect(vals(run('ii->i', f32([3, 3], iota(9))))).toEqual([0, 4, 8]);
    const t = run('...ij->...ji', f32([2, 2, 3], iota(12)));
    expect(t.dims).toEqual([2, 3, 2]);
    expect(vals(t)).toEqual([0, 3, 1, 4, 2, 5, 6, 9, 7, 10, 8, 11]);
    const b = run('...ij,...jk->...ik', f32([2, 1, 2], [1, 2, 3, 4]), f32([2, 1], [1, 1]));
    expect(vals(b)).toEqual([3, 7]);
  });
  it('infers symbolic shapes and rejects bad equations', () => {
    expect(inferOp('Einsum', [sym(['b', 4, 8]), sym(['b', 8, 5])], { equation: attr.string('bij,bjk->bik') })[0]!.shape).toEqual(['b', 4, 5]);
    expect(() => inferOp('Einsum', [sym([2, 3])], { equation: attr.string('ijk->i') })).toThrow(/'ijk' has 3 labels but its input has rank 2/);
    expect(() => inferOp('Einsum', [sym([2, 3]), sym([4, 5])], { equation: attr.string('ij,jk->ik') })).toThrow(/label 'j' has sizes 3 and 4/);
    expect(() => inferOp('Einsum', [sym([2, 3])], { equation: attr.string('ij->iz') })).toThrow(/output label 'z'/);
  });
});

describe('MatMulInteger and ConvInteger', () => {
  it('subtracts zero points and accumulates in i32', () => {
    const a = TensorData.fromValues('u8', [2, 2], [11, 12, 13, 14]);
    const b = TensorData.fromValues('u8', [2, 2], [1, 2, 3, 4]);
    const [y] = runOp('MatMulInteger', [a, b, TensorData.fromValues('u8', [], [10]), TensorData.fromValues('u8', [2], [1, 2])]);
    expect(y!.dtype).toBe('i32');
    expect(vals(y)).toEqual([4, 4, 8, 8]);
  });
  it('convolves with a zero point and per-channel weight zero points', () => {
    const x = TensorData.fromValues('u8', [1, 1, 2, 2], [2, 3, 4, 5]);
    const w = TensorData.fromValues('u8', [2, 1, 1, 1], [1, 3]);
    const [y] = runOp('ConvInteger', [x, w, TensorData.fromValues('u8', [], [1]), TensorData.fromValues('u8', [2], [0, 1])]);
    expect(vals(y)).toEqual([1, 2, 3, 4, 2, 4, 6, 8]);
    expect(() => inferOp('ConvInteger', [sym([1, 1, 2, 2]), sym([1, 1, 1, 1])])).toThrow(/input 0 must be i8 or u8, got f32/);
  });
});
