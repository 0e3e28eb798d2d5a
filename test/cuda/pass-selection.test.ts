// Which optimizer passes a cuda plan runs (compiler/compile.ts skippedPasses): fused attention and
// head-split projections at every batch for the half precisions (fp32/tf32: projections at batch 1),
// channels-last convolutions at every batch, and what --disable-pass / --enable-pass change.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileModel, skippedPasses } from '../../compiler/compile.js';
import { buildModel } from '../helpers/onnx-builder.js';

describe('cuda pass selection', () => {
  it('depends on target, precision and batch', () => {
    expect(skippedPasses('cuda', 'fp32')).toEqual(['fuse-attention']);
    expect(skippedPasses('cuda', 'tf32')).toEqual(['fuse-attention']);
    expect(skippedPasses('cuda', 'fp16')).toEqual([]);
    expect(skippedPasses('cuda', 'bf16')).toEqual([]);
    expect(skippedPasses('cuda', 'fp32', 1)).toEqual(['fuse-attention']);
    expect(skippedPasses('cuda', 'tf32', 16)).toEqual(['fuse-attention', 'fuse-projection-views']);
    expect(skippedPasses('cuda', 'fp16', 16)).toEqual([]);
    expect(skippedPasses('cpu', 'fp32')).toEqual(['fuse-attention', 'channels-last']);
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
    expect(() => compileModel({ bytes: readFileSync(join(__dirname, '..', '..', 'examples', 'tiny-cnn.onnx')) }, { disablePasses: ['no-such-pass'] })).toThrow(/--disable-pass no-such-pass: only optimizer passes/);
  });
});
