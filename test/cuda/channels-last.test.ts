// Channels-last plans on the emulator: fp16/bf16 models compiled for cuda run their convolutions
// as NhwcConv (the emulated cuDNN call reads NHWC X and [M,KH,KW,C/g] W; depthwise ones are the
// generated kernel of depthwise.ts), their pools as the NHWC pool kernels and their global pool as
// a ReduceMean over H and W; the bias and epilogue launch indexes channels innermost. Compared
// with the reference interpreter on the same graph. Where a biased convolution's epilogue is
// exactly [+ residual] [Relu], the kernel names it for cuDNN's conv-bias-activation call
// (fusedEpilogue), which the emulator then runs instead of the launch.

import { afterAll, describe, expect, it } from 'vitest';
import type { Precision } from '../../compiler/artifact/format.js';
import type { ModelSpec } from '../helpers/onnx-builder.js';
import { compileCuda } from './harness.js';
import { buildModel } from '../helpers/onnx-builder.js';
import { checkModel, init, kernelSummary, printMeasured } from './helpers.js';

afterAll(() => printMeasured('channels-last'));

/** Grouped (asymmetric pads), depthwise (stride 2, Clip) and dilated SAME_UPPER convolutions. */
const convolutions: ModelSpec = {
  inputs: [{ name: 'x', dims: [2, 6, 13, 11] }],
  outputs: [{ name: 'g' }, { name: 'd' }, { name: 's' }],
  initializers: [
    init('wg', [4, 3, 3, 3], 1, 0.3), init('bg', [4], 2), init('wd', [6, 1, 3, 3], 3, 0.3), init('bd', [6], 5), init('ws', [5, 6, 2, 3], 4, 0.3),
    { name: 'lo', dims: [], floats: [0] }, { name: 'hi', dims: [], floats: [0.6] },
  ],
  nodes: [
    { op: 'Conv', inputs: ['x', 'wg', 'bg'], outputs: ['g'], name: '/conv/group', attrs: { group: 2, pads: [1, 0, 2, 1] } },
    { op: 'Conv', inputs: ['x', 'wd', 'bd'], outputs: ['dc'], name: '/conv/depthwise', attrs: { group: 6, pads: [1, 1, 1, 1], strides: [2, 2] } },
    { op: 'Clip', inputs: ['dc', 'lo', 'hi'], outputs: ['d'], name: '/conv/Clip' },
    { op: 'Conv', inputs: ['x', 'ws'], outputs: ['s'], name: '/conv/strided', attrs: { strides: [2, 1], dilations: [2, 2], auto_pad: 'SAME_UPPER' } },
  ],
  opset: 17,
};

/** Stem, residual block with a per-channel scale, pools and a classifier tail. */
const network: ModelSpec = {
  inputs: [{ name: 'x', dims: [2, 3, 12, 12] }],
  outputs: [{ name: 'y' }],
  initializers: [
    init('w0', [8, 3, 3, 3], 1, 0.3), init('b0', [8], 2), init('w1', [8, 8, 3, 3], 3, 0.2), init('b1', [8], 4), init('sc', [1, 8, 1, 1], 5),
    init('gw', [5, 8], 6, 0.3), init('gb', [5], 7),
  ],
  nodes: [
    { op: 'Conv', inputs: ['x', 'w0', 'b0'], outputs: ['c0'], name: '/stem/Conv', attrs: { pads: [1, 1, 1, 1] } },
    { op: 'Relu', inputs: ['c0'], outputs: ['r0'], name: '/stem/Relu' },
    { op: 'MaxPool', inputs: ['r0'], outputs: ['p0'], name: '/maxpool', attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [2, 2] } },
    { op: 'Conv', inputs: ['p0', 'w1', 'b1'], outputs: ['c1'], name: '/block/Conv', attrs: { pads: [1, 1, 1, 1] } },
    { op: 'Mul', inputs: ['c1', 'sc'], outputs: ['m1'], name: '/block/Mul' },
    { op: 'Add', inputs: ['m1', 'p0'], outputs: ['a1'], name: '/block/Add' },
    { op: 'Relu', inputs: ['a1'], outputs: ['r1'], name: '/block/Relu' },
    { op: 'AveragePool', inputs: ['r1'], outputs: ['p1'], name: '/avgpool2', attrs: { kernel_shape: [3, 3], pads: [1, 1, 0, 0], strides: [2, 2], count_include_pad: 1, ceil_mode: 1 } },
    { op: 'GlobalAveragePool', inputs: ['p1'], outputs: ['g'], name: '/avgpool' },
    { op: 'Flatten', inputs: ['g'], outputs: ['f'], name: '/Flatten', attrs: { axis: 1 } },
    { op: 'Gemm', inputs: ['f', 'gw', 'gb'], outputs: ['y'], name: '/fc/Gemm', attrs: { transB: 1 } },
  ],
  opset: 17,
};

const TOL: Record<string, number> = { fp16: 1e-2, bf16: 3e-2 };

describe('channels-last cuda plans', () => {
  for (const precision of ['fp16', 'bf16'] as Precision[]) {
    it(`grouped, depthwise, dilated and asymmetrically padded NhwcConv (${precision})`, () => {
      const { compiled } = checkModel(`channels-last convolutions ${precision}`, convolutions, { precision, tol: TOL[precision] });
      const convs = compiled.plan.kernels.filter((k) => k.op === 'NhwcConv');
      expect(convs).toHaveLength(3);
      // The depthwise convolution is the generated kernel (depthwise.ts), the others cuDNN.
      expect(convs.map((k) => [k.sources[0], k.cuda!.library ?? k.cuda!.after[0]!.entry])).toEqual([
        ['/conv/group', 'cudnn'], ['/conv/depthwise', expect.stringContaining('NhwcConv_depthwise')], ['/conv/strided', 'cudnn'],
      ]);
      expect(compiled.plan.kernels.filter((k) => k.op === 'Conv')).toEqual([]);
    });
    it(`a small network: NHWC pools, residual epilogue, global pool into the Gemm (${precision})`, () => {
      const { compiled } = checkModel(`channels-last network ${precision}`, network, { precision, tol: TOL[precision] });
      expect(kernelSummary(compiled.plan).map(([op, , epi]) => [op, epi])).toEqual([
        ['Cast', []],
        ['Transpose', []],
        ['NhwcConv', ['Relu']],
        ['NhwcMaxPool', []],
        ['NhwcConv', ['Mul', 'Add', 'Relu']],
        ['NhwcAveragePool', []],
        ['ReduceMean', []],
        ['Gemm', []],
        ['Cast', []],
      ]);
    });
  }
  it('names the epilogues cuDNN can fuse, and the generated launch computes the same', () => {
    const compiled = compileCuda(buildModel(network), { precision: 'fp16' });
    const fused = compiled.plan.kernels.filter((k) => k.cuda?.library === 'cudnn').map((k) => [k.sources[0], k.cuda!.fusedEpilogue]);
    // The block's epilogue starts with a per-channel Mul: only the generated launch computes it.
    expect(fused).toEqual([['/stem/Conv', { relu: true }], ['/block/Conv', undefined]]);
    const convs = compileCuda(buildModel(convolutions), { precision: 'fp16' });
    expect(convs.plan.kernels.filter((k) => k.cuda?.library === 'cudnn').map((k) => [k.sources[0], k.cuda!.fusedEpilogue])).toEqual([
      ['/conv/group', { relu: false }], ['/conv/strided', undefined],
    ]);
    // Without the annotation the emulator runs the `after` launches (the runtime's fallback).
    for (const c of [compiled, convs]) for (const k of c.plan.kernels) delete k.cuda!.fusedEpilogue;
    checkModel('channels-last network fp16 generated epilogues', network, { compiled, tol: TOL.fp16 });
    checkModel('channels-last convolutions fp16 generated epilogues', convolutions, { compiled: convs, tol: TOL.fp16 });
  });
  it('names a residual Add and Relu as cuDNN\'s z and activation', () => {
    const block: ModelSpec = {
      inputs: [{ name: 'x', dims: [1, 8, 6, 6] }],
      outputs: [{ name: 'y' }],
      initializers: [init('w0', [8, 8, 1, 1], 1, 0.3), init('b0', [8], 2), init('w1', [8, 8, 3, 3], 3, 0.2), init('b1', [8], 4)],
      nodes: [
        { op: 'Conv', inputs: ['x', 'w0', 'b0'], outputs: ['c0'], name: '/stem/Conv' },
        { op: 'Conv', inputs: ['c0', 'w1', 'b1'], outputs: ['c1'], name: '/block/Conv', attrs: { pads: [1, 1, 1, 1] } },
        { op: 'Add', inputs: ['c0', 'c1'], outputs: ['a'], name: '/block/Add' },
        { op: 'Relu', inputs: ['a'], outputs: ['y'], name: '/block/Relu' },
      ],
      opset: 17,
    };
    const { compiled } = checkModel('channels-last residual fp16', block, { precision: 'fp16', tol: TOL.fp16 });
    const k = compiled.plan.kernels.find((x) => x.sources[0] === '/block/Conv')!;
    // c0 is both the convolution's X and the residual: kernel input 0 is cuDNN's z too.
    expect(k.cuda!.fusedEpilogue).toEqual({ residual: 0, relu: true });
    expect(compiled.plan.slots[k.inputs[0]!]!.name).toContain('c0');
  });
  it('pads a convolution\'s channels to a multiple of 8 with zeros in input and weights (pad-conv-channels, on request)', () => {
    const padded = compileCuda(buildModel(network), { precision: 'fp16', enable: ['pad-conv-channels'] });
    const { compiled } = checkModel('channels-last network fp16 padded channels', network, { compiled: padded, tol: TOL.fp16 });
    const shapes = (k: { inputs: number[] }) => k.inputs.slice(0, 2).map((s) => compiled.plan.slots[s]!.shape);
    const convs = compiled.plan.kernels.filter((k) => k.op === 'NhwcConv');
    // The RGB stem reads x as 8 channels; the block's 8-channel convolution is left alone.
    expect(convs.map(shapes)).toEqual([[[2, 12, 12, 8], [8, 3, 3, 8]], [[2, 6, 6, 8], [8, 3, 3, 8]]]);
    const pad = compiled.plan.kernels.find((k) => k.op === 'Pad')!;
    expect(pad.sources).toEqual(['/stem/Conv/pad_channels']);
    expect(compiled.plan.slots[pad.inputs[0]!]!.shape).toEqual([2, 12, 12, 3]);
    // The grouped convolution keeps its 3 channels per group; the 6-channel strided one reads 8.
    const convs2 = compileCuda(buildModel(convolutions), { precision: 'fp16', enable: ['pad-conv-channels'] }).plan;
    const byName = (name: string) => convs2.kernels.find((k) => k.sources[0] === name)!;
    expect(convs2.slots[byName('/conv/group').inputs[1]!]!.shape).toEqual([4, 3, 3, 3]);
    expect(convs2.slots[byName('/conv/strided').inputs[1]!]!.shape).toEqual([5, 2, 3, 8]);
    const off = compileCuda(buildModel(network), { precision: 'fp16' });
    expect(off.plan.kernels.some((k) => k.op === 'Pad')).toBe(false);
  });
  it('leaves fp32 plans NCHW', () => {
    const { compiled } = checkModel('channels-last fp32', network);
    expect(compiled.plan.kernels.some((k) => k.op.startsWith('Nhwc') || k.op === 'Transpose')).toBe(false);
  });
});
