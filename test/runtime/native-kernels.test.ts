// Native kernels added for the ONNX node tests, each against the reference interpreter: AffineGrid,
// BatchNormalization in training mode, and kernels run through f32 on narrower types (Conv on
// f16, MaxPool on u8, ReduceMax/ReduceMin on bool).

import { describe, it } from 'vitest';
import { buildModel } from '../helpers/onnx-builder.js';
import { mulberry32 } from '../helpers/fixture-models.js';
import { expectNativeMatchesReference } from './native-vs-reference.js';

const U8 = 2, BOOL = 9, F16 = 10;

function values(n: number, seed: number, scale = 1): number[] {
  const rand = mulberry32(seed);
  return Array.from({ length: n }, () => (rand() * 2 - 1) * scale);
}

describe('native kernels against the reference interpreter', () => {
  for (const align of [0, 1]) {
    it(`AffineGrid 2-D and 3-D (align_corners=${align})`, async () => {
      for (const [r, size] of [[2, [2, 3, 4, 5]], [3, [2, 1, 3, 4, 2]]] as const) {
        const sp = size.slice(2);
        const onnx = buildModel({
          opset: 20,
          inputs: [{ name: 'theta', dims: [2, r, r + 1] }],
          outputs: [{ name: 'grid', dims: [2, ...sp, r] }],
          initializers: [{ name: 'size', dims: [size.length], int64s: [...size] }],
          nodes: [{ op: 'AffineGrid', inputs: ['theta', 'size'], outputs: ['grid'], attrs: { align_corners: align } }],
        });
        await expectNativeMatchesReference(onnx, { theta: { dtype: 'f32', dims: [2, r, r + 1], values: values(2 * r * (r + 1), 3 + r) } });
      }
    });
  }

  it('BatchNormalization in training mode, with running_mean and running_var', async () => {
    const onnx = buildModel({
      opset: 15,
      inputs: [{ name: 'x', dims: [2, 3, 4, 5] }, { name: 's', dims: [3] }, { name: 'b', dims: [3] }, { name: 'm', dims: [3] }, { name: 'v', dims: [3] }],
      outputs: [{ name: 'y', dims: [2, 3, 4, 5] }, { name: 'rm', dims: [3] }, { name: 'rv', dims: [3] }],
      nodes: [{ op: 'BatchNormalization', inputs: ['x', 's', 'b', 'm', 'v'], outputs: ['y', 'rm', 'rv'], attrs: { training_mode: 1, momentum: { float: 0.8 }, epsilon: { float: 1e-3 } } }],
    });
    const vec = (seed: number, shift = 0) => ({ dtype: 'f32' as const, dims: [3], values: values(3, seed).map((x) => x + shift) });
    await expectNativeMatchesReference(onnx, { x: { dtype: 'f32', dims: [2, 3, 4, 5], values: values(120, 1, 3) }, s: vec(2), b: vec(3), m: vec(4), v: vec(5, 2) }, 1e-4);
  });

  it('Conv on f16 (computed in f32, rounded once)', async () => {
    const onnx = buildModel({
      inputs: [{ name: 'x', elemType: F16, dims: [1, 2, 5, 5] }, { name: 'w', elemType: F16, dims: [3, 2, 3, 3] }, { name: 'b', elemType: F16, dims: [3] }],
      outputs: [{ name: 'y', elemType: F16, dims: [1, 3, 5, 5] }],
      nodes: [{ op: 'Conv', inputs: ['x', 'w', 'b'], outputs: ['y'], attrs: { pads: [1, 1, 1, 1] } }],
    });
    await expectNativeMatchesReference(onnx, {
      x: { dtype: 'f16', dims: [1, 2, 5, 5], values: values(50, 7) }, w: { dtype: 'f16', dims: [3, 2, 3, 3], values: values(54, 8) }, b: { dtype: 'f16', dims: [3], values: values(3, 9) },
    }, 2e-3);
  });

  it('MaxPool on u8', async () => {
    const onnx = buildModel({
      inputs: [{ name: 'x', elemType: U8, dims: [1, 2, 5, 5] }],
      outputs: [{ name: 'y', elemType: U8, dims: [1, 2, 2, 2] }],
      nodes: [{ op: 'MaxPool', inputs: ['x'], outputs: ['y'], attrs: { kernel_shape: [2, 2], strides: [2, 2] } }],
    });
    await expectNativeMatchesReference(onnx, { x: { dtype: 'u8', dims: [1, 2, 5, 5], values: values(50, 4).map((v) => Math.floor((v + 1) * 127)) } });
  });

  for (const op of ['ReduceMax', 'ReduceMin']) {
    it(`${op} on bool, over an axis and over an empty set`, async () => {
      for (const [dims, axes, outDims] of [[[3, 4], [1], [3, 1]], [[2, 0, 4], [1], [2, 1, 4]]] as const) {
        const onnx = buildModel({
          opset: 20,
          inputs: [{ name: 'x', elemType: BOOL, dims: [...dims] }],
          outputs: [{ name: 'y', elemType: BOOL, dims: [...outDims] }],
          initializers: [{ name: 'axes', dims: [1], int64s: [...axes] }],
          nodes: [{ op, inputs: ['x', 'axes'], outputs: ['y'], attrs: { keepdims: 1 } }],
        });
        const n = dims.reduce((a, d) => a * d, 1);
        await expectNativeMatchesReference(onnx, { x: { dtype: 'bool', dims: [...dims], values: values(n, 6).map((v) => (v > 0 ? 1 : 0)) } });
      }
    });
  }
});
