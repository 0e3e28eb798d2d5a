// Which optimizer passes a cuda plan runs (compiler/compile.ts skippedPasses): fused attention and
// head-split projections at every batch for the half precisions (fp32/tf32: projections at batch 1),
// channels-last convolutions at every batch, padded convolution channels only on request, and what
// --disable-pass / --enable-pass change.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileModel, skippedPasses } from '../../compiler/compile.js';
import { buildModel } from '../helpers/onnx-builder.js';

describe('cuda pass selection', () => {
  it('depends on target, precision and batch', () => {
    expect(skippedPasses('cuda', 'fp32')).toEqual(['fuse-attention', 'pad-conv-channels']);
    expect(skippedPasses('cuda', 'tf32')).toEqual(['fuse-attention', 'pad-conv-channels']);
    expect(skippedPasses('cuda', 'fp16')).toEqual(['pad-conv-channels']);
    expect(skippedPasses('cuda', 'bf16')).toEqual(['pad-conv-channels']);
    expect(skippedPasses('cuda', 'fp32', 1)).toEqual(['fuse-attention', 'pad-conv-channels']);
    expect(skippedPasses('cuda', 'tf32', 16)).toEqual(['fuse-attention', 'pad-conv-channels', 'fuse-projection-views']);
    expect(skippedPasses('cuda', 'fp16', 16)).toEqual(['pad-conv-channels']);
    expect(skippedPasses('cpu', 'fp32')).toEqual(['fuse-attention', 'channels-last', 'pad-conv-channels', 'batch-sibling-matmuls']);
  });

  it('runs head-split projections above batch 1 in fp32 only with --enable-pass', () => {
    // x [B,S,8] projected to 2 heads of 4 and split: the projection folds into per-head weights.
    const w = Array.from({ length: 64 }, (_, i) => Math.sin(i));
    const model = buildModel({
      inputs: [{ name: 'x', dims: ['batch', 3, 8] }],
      outputs: [{ name: 'y' }],
      initializers: [{ name: 'w', dims: [8, 8], floats: w }, { name: 'heads', dims: [4], int64s: [0, 3, 2, 4] }],
      nodes: [
        { op: 'MatMul', inputs: ['x', 'w'], outputs: ['p'], name: '/proj/MatMul' },
        { op: 'Reshape', inputs: ['p', 'heads'], outputs: ['r'], name: '/proj/Reshape' },
        { op: 'Transpose', inputs: ['r'], outputs: ['y'], name: '/proj/Transpose', attrs: { perm: [0, 2, 1, 3] } },
      ],
    });
    const ops = (batch: number, extra = {}) =>
      compileModel({ bytes: model }, { target: 'cuda', precision: 'fp32', shapes: new Map([['x', [batch, 3, 8]]]), ...extra }).emitted!.plan.kernels.map((k) => k.op);
    expect(ops(1)).not.toContain('Transpose');
    expect(ops(4)).toContain('Transpose');
    expect(ops(4, { enablePasses: ['fuse-projection-views'] })).not.toContain('Transpose');
  });

  it('runs half-precision convolutions channels-last at any batch, unless turned off', () => {
    const model = buildModel({
      inputs: [{ name: 'x', dims: ['batch', 4, 8, 8] }],
      outputs: [{ name: 'y' }],
      initializers: [{ name: 'w', dims: [8, 4, 3, 3], floats: Array.from({ length: 288 }, (_, i) => Math.sin(i)) }],
      nodes: [
        { op: 'Conv', inputs: ['x', 'w'], outputs: ['c'], name: '/conv', attrs: { pads: [1, 1, 1, 1] } },
        { op: 'Relu', inputs: ['c'], outputs: ['y'], name: '/relu' },
      ],
    });
    const ops = (batch: number, extra = {}) =>
      compileModel({ bytes: model }, { target: 'cuda', precision: 'fp16', shapes: new Map([['x', [batch, 4, 8, 8]]]), ...extra }).emitted!.plan.kernels.map((k) => k.op);
    expect(ops(1)).toContain('NhwcConv');
    expect(ops(64)).toContain('NhwcConv');
    expect(ops(1, { disablePasses: ['channels-last'] })).not.toContain('NhwcConv');
    expect(compileModel({ bytes: model }, { target: 'cuda', precision: 'fp32', shapes: new Map([['x', [1, 4, 8, 8]]]) }).emitted!.plan.kernels.map((k) => k.op)).not.toContain('NhwcConv');
    expect(() => compileModel({ bytes: model }, { enablePasses: ['channels-last'], disablePasses: ['channels-last'] })).toThrow(/contradict/);
    expect(() => compileModel({ bytes: model }, { enablePasses: ['no-such-pass'] })).toThrow(/--enable-pass no-such-pass: only optimizer passes/);
    expect(() => compileModel({ bytes: readFileSync(join(__dirname, '..', '..', 'examples', 'tiny-cnn.onnx')) }, { disablePasses: ['no-such-pass'] })).toThrow(/--disable-pass no-such-pass: only optimizer passes/);
  });
});
