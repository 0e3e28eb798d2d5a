// Library anchors (MatMul, Gemm, Conv) on the emulator: the harness computes the cuBLASLt/cuDNN
// part with plain reference loops, the generated `after` launch adds Gemm's beta * C or Conv's bias
// and runs the epilogue in place; compared with the reference interpreter.

import { afterAll, describe, expect, it } from 'vitest';
import type { ModelSpec } from '../helpers/onnx-builder.js';
import { checkModel, init, kernelSummary, ONNX, printMeasured } from './helpers.js';

afterAll(() => printMeasured('library'));

describe('cuda library anchors and their epilogues', () => {
  it('Conv + bias + residual Add + Relu: cudnn, then one in-place launch', () => {
    const model: ModelSpec = {
      inputs: [{ name: 'x', dims: [2, 8, 12, 12] }],
      outputs: [{ name: 'y', dims: [2, 8, 12, 12] }],
      initializers: [init('w', [8, 8, 3, 3], 5, 0.3), init('cb', [8], 6)],
      nodes: [
        { op: 'Conv', inputs: ['x', 'w', 'cb'], outputs: ['c'], name: '/block/Conv', attrs: { pads: [1, 1, 1, 1], kernel_shape: [3, 3] } },
        { op: 'Add', inputs: ['c', 'x'], outputs: ['a'], name: '/block/Add' },
        { op: 'Relu', inputs: ['a'], outputs: ['y'], name: '/block/Relu' },
      ],
    };
    const { compiled } = checkModel('library conv residual', model);
    const k = compiled.plan.kernels[0]!;
    expect(kernelSummary(compiled.plan)).toEqual([['Conv', [], ['Add', 'Relu']]]);
    expect(k.cuda!.library).toBe('cudnn');
    expect(k.cuda!.after).toHaveLength(1);
    // In place: the output slot is the first argument and also read.
    expect(k.cuda!.after[0]!.args[0]).toBe(k.outputs[0]);
  });

  it('grouped, depthwise and strided convolutions with and without bias', () => {
    const model: ModelSpec = {
      inputs: [{ name: 'x', dims: [1, 6, 13, 11] }],
      outputs: [{ name: 'g' }, { name: 'd' }, { name: 's' }],
      initializers: [init('wg', [4, 3, 3, 3], 1, 0.3), init('bg', [4], 2), init('wd', [6, 1, 3, 3], 3, 0.3), init('ws', [5, 6, 2, 3], 4, 0.3)],
      nodes: [
        { op: 'Conv', inputs: ['x', 'wg', 'bg'], outputs: ['g'], name: '/conv/group', attrs: { group: 2, pads: [1, 0, 1, 2] } },
        { op: 'Conv', inputs: ['x', 'wd'], outputs: ['dc'], name: '/conv/depthwise', attrs: { group: 6, pads: [1, 1, 1, 1], strides: [2, 2] } },
        { op: 'Clip', inputs: ['dc', 'lo', 'hi'], outputs: ['d'], name: '/conv/Clip' },
        { op: 'Conv', inputs: ['x', 'ws'], outputs: ['s'], name: '/conv/strided', attrs: { strides: [2, 1], dilations: [2, 2], auto_pad: 'SAME_UPPER' } },
      ],
      opset: 17,
    };
    model.initializers!.push({ name: 'lo', dims: [], floats: [0] }, { name: 'hi', dims: [], floats: [0.6] });
    const { compiled } = checkModel('library conv variants', model);
    const strided = compiled.plan.kernels.find((k) => k.sources.includes('/conv/strided'))!;
    expect(strided.cuda).toEqual({ library: 'cudnn', before: [], after: [] });
  });

  it('Gemm with beta * C (broadcast), transA and transB; MatMul with broadcast batch and an epilogue', () => {
    const model: ModelSpec = {
      inputs: [{ name: 'a', dims: [7, 12] }, { name: 'p', dims: [2, 3, 5, 12] }, { name: 'at', dims: [12, 7] }],
      outputs: [{ name: 'g' }, { name: 'g2' }, { name: 'm' }, { name: 'gt' }],
      initializers: [init('b', [9, 12], 1), init('c', [9], 2), init('c2', [7, 1], 3), init('w', [3, 12, 4], 4), init('bias', [4], 5)],
      nodes: [
        { op: 'Gemm', inputs: ['a', 'b', 'c'], outputs: ['g'], name: '/fc/Gemm', attrs: { transB: 1, alpha: { float: 0.5 }, beta: { float: 2 } } },
        { op: 'Gemm', inputs: ['a', 'b', 'c2'], outputs: ['gg'], name: '/fc2/Gemm', attrs: { transB: 1 } },
        { op: 'Tanh', inputs: ['gg'], outputs: ['g2'], name: '/fc2/Tanh' },
        { op: 'Gemm', inputs: ['at', 'b', 'c'], outputs: ['gt'], name: '/fc3/Gemm', attrs: { transA: 1, transB: 1, beta: { float: -1 } } },
        { op: 'MatMul', inputs: ['p', 'w'], outputs: ['mm'], name: '/mm/MatMul' },
        { op: 'Add', inputs: ['mm', 'bias'], outputs: ['ma'], name: '/mm/Add' },
        { op: 'Gelu', inputs: ['ma'], outputs: ['m'], name: '/mm/Gelu' },
      ],
      opset: 20,
    };
    const { compiled } = checkModel('library gemm matmul', model, { tol: 2e-6 });
    const summary = kernelSummary(compiled.plan);
    expect(summary).toContainEqual(['Gemm', [], []]);
    expect(summary).toContainEqual(['Gemm', [], ['Tanh']]);
    expect(summary).toContainEqual(['MatMul', [], ['Add', 'Gelu']]);
    for (const k of compiled.plan.kernels) expect(k.cuda!.library).toBe('cublaslt');
  });

  it('a plain MatMul needs no generated launch', () => {
    const { compiled } = checkModel('library plain matmul', {
      inputs: [{ name: 'a', dims: [4, 6] }, { name: 'b', dims: [6] }],
      outputs: [{ name: 'y' }],
      nodes: [{ op: 'MatMul', inputs: ['a', 'b'], outputs: ['y'], name: '/mv/MatMul' }],
    });
    expect(compiled.plan.kernels[0]!.cuda).toEqual({ library: 'cublaslt', before: [], after: [] });
  });

  it('Conv + bias + Relu on f16 slots, and Gemm on bf16 slots', () => {
    const model = (elemType: number): ModelSpec => ({
      inputs: [{ name: 'x', elemType, dims: [1, 4, 8, 8] }, { name: 'a', elemType, dims: [5, 16] }],
      outputs: [{ name: 'y', elemType }, { name: 'g', elemType }],
      initializers: [init('w', [4, 4, 3, 3], 5, 0.3), init('cb', [4], 6), init('gb', [16, 16], 7, 0.3), init('gc', [16], 8)],
      nodes: [
        { op: 'Cast', inputs: ['w'], outputs: ['wh'], attrs: { to: elemType } },
        { op: 'Cast', inputs: ['cb'], outputs: ['cbh'], attrs: { to: elemType } },
        { op: 'Cast', inputs: ['gb'], outputs: ['gbh'], attrs: { to: elemType } },
        { op: 'Cast', inputs: ['gc'], outputs: ['gch'], attrs: { to: elemType } },
        { op: 'Conv', inputs: ['x', 'wh', 'cbh'], outputs: ['c'], name: '/h/Conv', attrs: { pads: [1, 1, 1, 1] } },
        { op: 'Relu', inputs: ['c'], outputs: ['y'], name: '/h/Relu' },
        { op: 'Gemm', inputs: ['a', 'gbh', 'gch'], outputs: ['g'], name: '/h/Gemm' },
      ],
    });
    checkModel('library f16', model(ONNX.f16), { tol: 1e-2 });
    checkModel('library bf16', model(ONNX.bf16), { tol: 2e-2 });
  });
});
