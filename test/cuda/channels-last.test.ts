// Channels-last plans on the emulator: fp16/bf16 models compiled for cuda run their convolutions
// as NhwcConv (the emulated cuDNN call reads NHWC X and [M,KH,KW,C/g] W), their pools as the NHWC
// pool kernels and their global pool as a ReduceMean over H and W; the bias and epilogue launch
// indexes channels innermost. Compared with the reference interpreter on the same graph.

import { afterAll, describe, expect, it } from 'vitest';
import type { Precision } from '../../compiler/artifact/format.js';
import type { ModelSpec } from '../helpers/onnx-builder.js';
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
      for (const k of convs) expect(k.cuda!.library).toBe('cudnn');
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
  it('leaves fp32 plans NCHW', () => {
    const { compiled } = checkModel('channels-last fp32', network);
    expect(compiled.plan.kernels.some((k) => k.op.startsWith('Nhwc') || k.op === 'Transpose')).toBe(false);
  });
});
