// Generated reduction kernels on the CPU emulator (block-wide tree reductions between real
// barriers) against the reference interpreter: LayerNorm with a prologue, Softmax with an
// epilogue, softmax over an inner axis, the ReduceX family with constant axes, the global pools,
// MaxPool/AveragePool geometry, BatchNormalization, ArgMax/ArgMin, and f16 inputs.

import { afterAll, describe, expect, it } from 'vitest';
import type { ModelSpec, NodeSpec } from '../helpers/onnx-builder.js';
import { checkModel, init, kernelSummary, kernelText, ONNX, printMeasured } from './helpers.js';

const ints = (name: string, values: number[]) => ({ name, dims: [values.length], int64s: values });

afterAll(() => printMeasured('reduction'));

describe('cuda reduction kernels', () => {
  it('LayerNormalization with a fused Add prologue (rows in registers), long rows (read per pass) and short rows (thread per row)', () => {
    const model: ModelSpec = {
      inputs: [{ name: 'x', dims: [2, 16, 300] }, { name: 'r', dims: [2, 16, 300] }, { name: 'v', dims: [5, 3, 12] }, { name: 'z', dims: [2, 4500] }],
      outputs: [{ name: 'y' }, { name: 'w' }, { name: 'u' }, { name: 'zn' }],
      initializers: [init('g', [300], 7), init('be', [300], 8), init('g2', [3, 12], 9), init('g3', [12], 10), init('g4', [4500], 11)],
      nodes: [
        { op: 'LayerNormalization', inputs: ['z', 'g4'], outputs: ['zn'], name: '/ln4/LayerNorm', attrs: { axis: -1 } },
        { op: 'Add', inputs: ['x', 'r'], outputs: ['s'], name: '/ln/Add' },
        { op: 'LayerNormalization', inputs: ['s', 'g', 'be'], outputs: ['y'], name: '/ln/LayerNorm', attrs: { axis: -1, epsilon: { float: 1e-5 } } },
        { op: 'LayerNormalization', inputs: ['v', 'g2'], outputs: ['w'], name: '/ln2/LayerNorm', attrs: { axis: -2 } },
        { op: 'LayerNormalization', inputs: ['v', 'g3'], outputs: ['u'], name: '/ln3/LayerNorm', attrs: { axis: 2, epsilon: { float: 1e-3 } } },
      ],
    };
    const { compiled } = checkModel('reduction layernorm', model);
    expect(kernelSummary(compiled.plan)).toContainEqual(['LayerNormalization', ['Add'], []]);
    expect(compiled.plan.cuda!.source).toContain('mcpc_block_sum<float>');
    // 300-element rows: two elements per thread of 256 kept in registers; 4500: over 16 per thread,
    // read again by each pass.
    const body = (loc: string) => kernelText(compiled.plan, compiled.plan.kernels.find((k) => k.sources.includes(loc))!.cuda!.after[0]!.entry);
    expect(body('/ln/LayerNorm')).toContain('float v[2];');
    expect(body('/ln4/LayerNorm')).not.toContain(' v[');
  });

  it('Softmax with an epilogue, softmax over an inner axis, LogSoftmax', () => {
    const model: ModelSpec = {
      inputs: [{ name: 'x', dims: [4, 300] }, { name: 'z', dims: [2, 5, 3, 4] }, { name: 'q', dims: [3, 40] }],
      outputs: [{ name: 'y' }, { name: 'sz' }, { name: 'lq' }, { name: 'ly' }],
      initializers: [{ name: 'k', dims: [], floats: [3] }],
      nodes: [
        { op: 'Softmax', inputs: ['x'], outputs: ['s'], name: '/sm/Softmax', attrs: { axis: -1 } },
        { op: 'Mul', inputs: ['s', 'k'], outputs: ['y'], name: '/sm/Mul' },
        { op: 'Softmax', inputs: ['z'], outputs: ['sz'], name: '/sm2/Softmax', attrs: { axis: 1 } },
        { op: 'LogSoftmax', inputs: ['q'], outputs: ['lq'], name: '/lsm/LogSoftmax', attrs: { axis: -1 } },
        { op: 'LogSoftmax', inputs: ['x'], outputs: ['ly'], name: '/lsm2/LogSoftmax', attrs: { axis: 0 } },
      ],
    };
    const { compiled } = checkModel('reduction softmax', model, { tol: 2e-6 });
    expect(kernelSummary(compiled.plan)).toContainEqual(['Softmax', [], ['Mul']]);
  });

  it('ReduceX with constant axes, keepdims either way, and a fused Mul prologue', () => {
    const nodes: NodeSpec[] = [
      { op: 'ReduceMean', inputs: ['x', 'a1'], outputs: ['mean1'], attrs: { keepdims: 0 } },
      { op: 'ReduceSum', inputs: ['x'], outputs: ['sumall'], attrs: { keepdims: 1 } },
      { op: 'ReduceMax', inputs: ['x', 'a02'], outputs: ['max02'], attrs: { keepdims: 1 } },
      { op: 'ReduceMin', inputs: ['x', 'a2'], outputs: ['min2'], attrs: { keepdims: 0 } },
      { op: 'ReduceSumSquare', inputs: ['x', 'a12'], outputs: ['ss'] },
      { op: 'ReduceL2', inputs: ['x', 'a2'], outputs: ['l2'] },
      { op: 'ReduceL1', inputs: ['x', 'a0'], outputs: ['l1'] },
      { op: 'ReduceLogSumExp', inputs: ['x', 'a2'], outputs: ['lse'] },
      { op: 'Abs', inputs: ['x'], outputs: ['ax'] },
      { op: 'ReduceLogSum', inputs: ['ax', 'a1'], outputs: ['ls'] },
      { op: 'Mul', inputs: ['x', 'x'], outputs: ['sq'] },
      { op: 'ReduceMean', inputs: ['sq', 'a2'], outputs: ['msq'], attrs: { keepdims: 1 } },
      { op: 'ReduceSum', inputs: ['i', 'a1'], outputs: ['isum'], attrs: { keepdims: 0 } },
    ];
    const model: ModelSpec = {
      inputs: [{ name: 'x', dims: [3, 40, 50] }, { name: 'i', elemType: ONNX.i64, dims: [4, 6] }],
      outputs: ['mean1', 'sumall', 'max02', 'min2', 'ss', 'l2', 'l1', 'lse', 'ls', 'msq', 'isum'].map((name) => ({ name })),
      initializers: [ints('a1', [1]), ints('a02', [0, -1]), ints('a2', [2]), ints('a12', [1, 2]), ints('a0', [0])],
      nodes: nodes.map((n, i) => ({ ...n, name: `/reduce/${n.op}_${i}` })),
      opset: 18,
    };
    const { compiled } = checkModel('reduction reduce', model, { tol: 2e-6 });
    expect(kernelSummary(compiled.plan)).toContainEqual(['ReduceMean', ['Mul'], []]);
  });

  it('global pools, MaxPool and AveragePool with pads, strides, dilations, ceil_mode, count_include_pad', () => {
    const nodes: NodeSpec[] = [
      { op: 'GlobalAveragePool', inputs: ['x'], outputs: ['gap'] },
      { op: 'GlobalMaxPool', inputs: ['x'], outputs: ['gmp'] },
      { op: 'GlobalAveragePool', inputs: ['s'], outputs: ['gaps'] },
      { op: 'MaxPool', inputs: ['x'], outputs: ['mp'], attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] } },
      { op: 'MaxPool', inputs: ['x'], outputs: ['mpc'], attrs: { kernel_shape: [2, 3], strides: [2, 2], ceil_mode: 1, dilations: [2, 1] } },
      { op: 'AveragePool', inputs: ['x'], outputs: ['ap'], attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 0, 1, 2] } },
      { op: 'AveragePool', inputs: ['x'], outputs: ['api'], attrs: { kernel_shape: [3, 3], strides: [2, 1], pads: [1, 1, 2, 1], count_include_pad: 1, ceil_mode: 1 } },
      { op: 'MaxPool', inputs: ['l'], outputs: ['mp1d'], attrs: { kernel_shape: [3], strides: [2], pads: [1, 1] } },
      { op: 'AveragePool', inputs: ['l'], outputs: ['ap1d'], attrs: { kernel_shape: [4], auto_pad: 'SAME_UPPER' } },
    ];
    const model: ModelSpec = {
      inputs: [{ name: 'x', dims: [2, 3, 11, 9] }, { name: 's', dims: [1, 4, 2, 2] }, { name: 'l', dims: [2, 2, 15] }],
      outputs: nodes.map((n) => ({ name: n.outputs[0]! })),
      nodes: nodes.map((n, i) => ({ ...n, name: `/pool/${n.op}_${i}` })),
    };
    checkModel('reduction pools', model, { tol: 2e-6 });
  });

  it('BatchNormalization (inference, per channel) with an epilogue, ArgMax and ArgMin', () => {
    const model: ModelSpec = {
      inputs: [{ name: 'x', dims: [2, 3, 5, 5] }, { name: 'v', dims: [4, 7, 3] }],
      outputs: [{ name: 'y' }, { name: 'am' }, { name: 'an' }],
      initializers: [
        init('sc', [3], 1), init('bi', [3], 2), init('mu', [3], 3),
        { name: 'var', dims: [3], floats: [0.5, 1.5, 2.5] },
      ],
      nodes: [
        { op: 'BatchNormalization', inputs: ['x', 'sc', 'bi', 'mu', 'var'], outputs: ['b'], name: '/bn/BatchNorm', attrs: { epsilon: { float: 1e-3 } } },
        { op: 'Relu', inputs: ['b'], outputs: ['y'], name: '/bn/Relu' },
        { op: 'ArgMax', inputs: ['v'], outputs: ['am'], name: '/arg/ArgMax', attrs: { axis: 1, keepdims: 0 } },
        { op: 'ArgMin', inputs: ['v'], outputs: ['an'], name: '/arg/ArgMin', attrs: { axis: -1, select_last_index: 1 } },
      ],
    };
    const { compiled } = checkModel('reduction batchnorm argmax', model);
    expect(kernelSummary(compiled.plan)).toContainEqual(['BatchNormalization', [], ['Relu']]);
  });

  it('LayerNorm and Softmax on f16 slots', () => {
    const model: ModelSpec = {
      inputs: [{ name: 'x', elemType: ONNX.f16, dims: [8, 96] }],
      outputs: [{ name: 'y', elemType: ONNX.f16 }, { name: 's', elemType: ONNX.f16 }],
      initializers: [init('g', [96], 7), init('b', [96], 8)],
      nodes: [
        { op: 'Cast', inputs: ['g'], outputs: ['gh'], attrs: { to: ONNX.f16 } },
        { op: 'Cast', inputs: ['b'], outputs: ['bh'], attrs: { to: ONNX.f16 } },
        { op: 'LayerNormalization', inputs: ['x', 'gh', 'bh'], outputs: ['y'], name: '/h/LayerNorm' },
        { op: 'Softmax', inputs: ['x'], outputs: ['s'], name: '/h/Softmax' },
      ],
    };
    checkModel('reduction f16', model, { tol: 1e-2 });
  });
});
