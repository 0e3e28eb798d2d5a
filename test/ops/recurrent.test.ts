// RNN, GRU and LSTM. Expected values are from onnx.reference.ReferenceEvaluator (onnx 1.23.1).

import { describe, expect, it } from 'vitest';
import { attr } from '../../compiler/ir/graph.js';
import { TensorData } from '../../compiler/ir/tensor.js';
import { f32, inferOp, runOp } from '../helpers/op-harness.js';

const close = (got: Float64Array, want: number[]) => {
  expect(got.length).toBe(want.length);
  want.forEach((w, i) => expect(got[i]).toBeCloseTo(w, 5));
};
const X = f32([3, 2, 2], [0.1257, -0.1321, 0.6404, 0.1049, -0.5357, 0.3616, 1.304, 0.9471, -0.7037, -1.2654, -0.6233, 0.0413]);

describe('GRU', () => {
  it('runs with linear_before_reset and biases', () => {
    const W = f32([1, 9, 2], [-1.1625, -0.1094, -0.623, -0.3661, -0.2721, -0.1582, 0.2058, 0.5213, -0.0643, 0.6832, -0.3326, 0.1758, 0.4517, 0.047, -0.3717, -0.4609, -0.2289, 0.1101]);
    const R = f32([1, 9, 3], [-0.5048, -0.1046, -0.0796, 0.2704, 0.1073, 0.1777, -0.3269, -0.0648, 0.392, 0.7467, -0.6295, 0.757, 0.6729, 0.3907, 0.1322, -0.157, 0.729, 0.9801, 0.9008, 0.6576, 0.1787, -0.6042, -0.0022, 0.3282, -0.6442, 0.1976, 0.2149]);
    const B = f32([1, 18], [0.0696, -0.1184, -0.0662, -0.0436, -0.117, 0.1739, -0.0496, 0.0329, -0.0259, 0.1583, 0.132, 0.0633, -0.2204, 0.0052, 0.0684, 0.1004, -0.0618, 0.1822]);
    const [y, yh] = runOp('GRU', [X, W, R, B], { hidden_size: attr.int(3), linear_before_reset: attr.int(1) }, 2);
    expect(y!.dims).toEqual([3, 1, 2, 3]);
    close(y!.values.slice(0, 6), [0.020703, 0.009776, 0.015085, 0.179121, -0.166689, -0.037043]);
    close(yh!.values, [-0.12849, 0.213237, 0.130142, 0.272407, -0.361358, -0.078315]);
  });
});

describe('LSTM', () => {
  it('runs bidirectionally with sequence lengths', () => {
    const W = f32([2, 12, 2], [-0.6602, -0.3308, 0.4675, 0.0245, 1.0012, 0.0943, -0.3166, -0.1888, -0.5456, -0.6388, 0.3152, 0.2906, 0.6473, -0.3773, 0.8446, -0.1437, 0.7872, -0.2164, -0.3677, 0.1249, 0.5157, 0.0805, -0.2928, -0.6706, -0.7008, 0.2513, 0.4949, -0.0821, -0.5372, 0.4365, -0.6402, -0.3565, 0.3105, -1.1251, 0.1932, -0.2908, 0.0546, -0.0379, 0.1011, 0.3471, -0.3792, 0.7105, 0.363, 0.4219, 0.5824, 0.3938, 0.422, 0.0378]);
    const R = f32([2, 12, 3], [-0.7134, -0.0675, -0.3848, -0.7114, 0.1292, -0.2843, -0.5149, -0.5215, 0.1342, 0.1793, 0.6612, -0.007, 0.5209, 0.7011, 0.5751, -1.1827, 0.6143, 0.1698, 0.2119, 0.1856, 0.1914, 0.1597, -0.1795, -0.9508, -0.0545, -0.4019, 0.5401, -0.1444, 0.0417, -0.4248, -0.2553, -0.0058, -0.7427, 0.1503, -0.053, -0.5929, -1.1991, 0.2565, -0.1488, -0.265, -0.1181, 0.9082, -0.0249, 0.0433, -0.7435, 0.8237, 0.4587, 0.5335, 0.0238, 0.4583, 0.1855, 0.3066, -0.0761, -0.7369, 0.5144, -0.9675, -0.12, -0.1023, -0.5214, 0.3066, -0.1002, -0.2184, 0.2599, -0.2383, 0.6945, 0.1757, -0.2372, -0.9721, -0.6539, 0.5434, -0.0253, -0.1416]);
    const lens = TensorData.fromValues('i32', [2], [3, 2]);
    const [, yh, yc] = runOp('LSTM', [X, W, R, null, lens], { hidden_size: attr.int(3), direction: attr.string('bidirectional') }, 3);
    // onnx.reference ignores sequence_lens, so batch 1 (length 2) was computed from X[:2] alone.
    close(yh!.values, [0.076646, -0.162544, 0.074731, -0.046314, 0.110341, -0.415882, -0.069537, 0.018301, -0.072179, 0.109017, 0.190517, 0.107099]);
    close(yc!.values, [0.126726, -0.215694, 0.228729, -0.127193, 0.590869, -0.709386, -0.157975, 0.034134, -0.137142, 0.257223, 0.365619, 0.215694]);
  });
});

describe('RNN', () => {
  it('types symbolic shapes with layout 1 and checks weights', () => {
    const t = (shape: (number | string)[]) => ({ type: { dtype: 'f32' as const, shape } });
    const types = inferOp('RNN', [t(['B', 'T', 4]), t([2, 5, 4]), t([2, 5, 5])], { hidden_size: attr.int(5), layout: attr.int(1), direction: attr.string('bidirectional') }, 2);
    expect(types.map((x) => x.shape)).toEqual([['B', 'T', 2, 5], ['B', 2, 5]]);
    expect(() => inferOp('RNN', [t(['T', 'B', 4]), t([1, 5, 3]), t([1, 5, 5])], { hidden_size: attr.int(5) })).toThrow(/input W must have shape \[1,5,4\], got \[1,5,3\]/);
  });
  it('applies a custom activation', () => {
    const [y] = runOp('RNN', [f32([2, 1, 1], [1, -2]), f32([1, 1, 1], [1]), f32([1, 1, 1], [0.5])], { hidden_size: attr.int(1), activations: attr.strings(['Relu']) });
    // h1 = relu(1) = 1, h2 = relu(-2 + 0.5) = 0
    expect(Array.from(y!.values)).toEqual([1, 0]);
  });
});
