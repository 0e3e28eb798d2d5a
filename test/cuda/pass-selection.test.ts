// Which optimizer passes a cuda plan runs, by precision and batch (compiler/compile.ts
// skippedPasses): channels-last convolutions from CUDA_CHANNELS_LAST_MIN_BATCH on, head-split
// projections at batch 1 only, fused attention for the half precisions.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileModel, CUDA_CHANNELS_LAST_MIN_BATCH, skippedPasses } from '../../compiler/compile.js';
import { buildModel } from '../helpers/onnx-builder.js';

describe('cuda pass selection', () => {
  it('depends on precision and batch', () => {
    expect(skippedPasses('cuda', 'fp32')).toEqual(['fuse-attention']);
    expect(skippedPasses('cuda', 'fp16')).toEqual([]);
    expect(skippedPasses('cuda', 'fp16', 1)).toEqual(['channels-last']);
    expect(skippedPasses('cuda', 'bf16', CUDA_CHANNELS_LAST_MIN_BATCH)).toEqual(['fuse-projection-views']);
    expect(skippedPasses('cuda', 'fp16', 8)).toEqual(['channels-last', 'fuse-projection-views']);
    expect(skippedPasses('cpu', 'fp32', 64)).toEqual(['fuse-attention', 'channels-last']);
  });

  it('runs convolutions channels-last only at a large batch', () => {
    const model = buildModel({
      inputs: [{ name: 'x', dims: ['batch', 4, 8, 8] }],
      outputs: [{ name: 'y' }],
      initializers: [{ name: 'w', dims: [8, 4, 3, 3], floats: Array.from({ length: 288 }, (_, i) => Math.sin(i)) }],
      nodes: [
        { op: 'Conv', inputs: ['x', 'w'], outputs: ['c'], name: '/conv', attrs: { pads: [1, 1, 1, 1] } },
        { op: 'Relu', inputs: ['c'], outputs: ['y'], name: '/relu' },
      ],
    });
    const ops = (batch: number) =>
      compileModel({ bytes: model }, { target: 'cuda', precision: 'fp16', shapes: new Map([['x', [batch, 4, 8, 8]]]) }).emitted!.plan.kernels.map((k) => k.op);
    expect(ops(1)).toContain('Conv');
    expect(ops(1)).not.toContain('NhwcConv');
    expect(ops(CUDA_CHANNELS_LAST_MIN_BATCH)).toContain('NhwcConv');
    // --disable-pass turns it off at any batch.
    const nchw = compileModel({ bytes: model }, { target: 'cuda', precision: 'fp16', shapes: new Map([['x', [64, 4, 8, 8]]]), disablePasses: ['channels-last'] });
    expect(nchw.emitted!.plan.kernels.map((k) => k.op)).not.toContain('NhwcConv');
    // --enable-pass turns it on at batch 1.
    const nhwc = compileModel({ bytes: model }, { target: 'cuda', precision: 'fp16', shapes: new Map([['x', [1, 4, 8, 8]]]), enablePasses: ['channels-last'] });
    expect(nhwc.emitted!.plan.kernels.map((k) => k.op)).toContain('NhwcConv');
    expect(() => compileModel({ bytes: model }, { enablePasses: ['channels-last'], disablePasses: ['channels-last'] })).toThrow(/contradict/);
    expect(() => compileModel({ bytes: readFileSync(join(__dirname, '..', '..', 'examples', 'tiny-cnn.onnx')) }, { disablePasses: ['no-such-pass'] })).toThrow(/--disable-pass no-such-pass: only optimizer passes/);
  });
});
