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
  it('LayerNormalization with a fused Add prologue (warp rows in registers), long rows (block per row, read per pass) and short rows (thread per row)', () => {
    const model: ModelSpec = {
      inputs: [
        { name: 'x', dims: [2, 16, 300] }, { name: 'r', dims: [2, 16, 300] }, { name: 'v', dims: [5, 3, 12] }, { name: 'z', dims: [2, 4500] },
        { name: 'h', dims: [3, 768] },
      ],
      outputs: [{ name: 'y' }, { name: 'w' }, { name: 'u' }, { name: 'zn' }, { name: 'hn' }],
      initializers: [
        init('g', [300], 7), init('be', [300], 8), init('g2', [3, 12], 9), init('g3', [12], 10), init('g4', [4500], 11), init('g5', [768], 12),
      ],
      nodes: [
        { op: 'LayerNormalization', inputs: ['z', 'g4'], outputs: ['zn'], name: '/ln4/LayerNorm', attrs: { axis: -1 } },
        { op: 'LayerNormalization', inputs: ['h', 'g5'], outputs: ['hn'], name: '/ln5/LayerNorm', attrs: { axis: -1 } },
        { op: 'Add', inputs: ['x', 'r'], outputs: ['s'], name: '/ln/Add' },
        { op: 'LayerNormalization', inputs: ['s', 'g', 'be'], outputs: ['y'], name: '/ln/LayerNorm', attrs: { axis: -1, epsilon: { float: 1e-5 } } },
        { op: 'LayerNormalization', inputs: ['v', 'g2'], outputs: ['w'], name: '/ln2/LayerNorm', attrs: { axis: -2 } },
        { op: 'LayerNormalization', inputs: ['v', 'g3'], outputs: ['u'], name: '/ln3/LayerNorm', attrs: { axis: 2, epsilon: { float: 1e-3 } } },
      ],
    };
    const { compiled } = checkModel('reduction layernorm', model);
    expect(kernelSummary(compiled.plan)).toContainEqual(['LayerNormalization', ['Add'], []]);
    // Rows of up to 1024 elements: one warp each, kept in registers (300: 10 per lane, 768: 24;
    // 36-element rows of axis -2, 5 of them: the block's last warps have no row); 4500: a block
    // per row, over 16 per thread, read again by each pass.
    const kernel = (loc: string) => compiled.plan.kernels.find((k) => k.sources.includes(loc))!.cuda!.after[0]!;
    const body = (loc: string) => kernelText(compiled.plan, kernel(loc).entry);
    expect(body('/ln/LayerNorm')).toContain('float v[10];');
    expect(body('/ln/LayerNorm')).toContain('mcpc_warp_sum<float>');
    expect(kernel('/ln/LayerNorm').grid[0]).toBe(4); // 32 rows, 8 per block
    expect(body('/ln5/LayerNorm')).toContain('float v[24];');
    expect(body('/ln2/LayerNorm')).toContain('mcpc_warp_sum<float>');
    expect(body('/ln4/LayerNorm')).not.toContain(' v[');
    expect(body('/ln4/LayerNorm')).toContain('mcpc_block_sum<float>');
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

  for (const dt of ['f16', 'bf16'] as const) {
    it(`LayerNorm of ${dt} rows of 256 to 1024 elements reads and writes 16-byte vectors, one warp per row`, () => {
      const half = (name: string, dims: number[]) => ({ name, elemType: ONNX[dt], dims });
      const cast = (from: string): NodeSpec => ({ op: 'Cast', inputs: [from], outputs: [`${from}h`], attrs: { to: ONNX[dt] } });
      const model: ModelSpec = {
        inputs: [half('x', [11, 768]), half('z', [3, 2, 512]), half('w', [4, 300])],
        outputs: [{ name: 'y', elemType: ONNX[dt] }, { name: 'zn', elemType: ONNX[dt] }, { name: 'wn', elemType: ONNX[dt] }],
        initializers: [init('g', [768], 7), init('b', [768], 8), init('g2', [512], 9), init('g3', [300], 10)],
        nodes: [
          cast('g'), cast('b'), cast('g2'), cast('g3'),
          { op: 'LayerNormalization', inputs: ['x', 'gh', 'bh'], outputs: ['y'], name: '/v/LayerNorm' },
          { op: 'LayerNormalization', inputs: ['z', 'g2h'], outputs: ['zn'], name: '/nb/LayerNorm', attrs: { axis: -1 } },
          { op: 'LayerNormalization', inputs: ['w', 'g3h'], outputs: ['wn'], name: '/odd/LayerNorm' },
        ],
      };
      const { compiled } = checkModel(`reduction layernorm vectors ${dt}`, model, { tol: dt === 'f16' ? 1e-2 : 3e-2 });
      const kernel = (loc: string) => compiled.plan.kernels.find((k) => k.sources.includes(loc))!.cuda!.after[0]!;
      const body = (loc: string) => kernelText(compiled.plan, kernel(loc).entry);
      // 768 = 3 vectors of 8 per lane; 11 rows: two blocks of 8 warps, the last 5 warps idle.
      expect(body('/v/LayerNorm')).toContain('float v[24];');
      expect(body('/v/LayerNorm')).toContain('reinterpret_cast<const uint4*>');
      expect(kernel('/v/LayerNorm').grid[0]).toBe(2);
      expect(body('/nb/LayerNorm')).toContain('float v[16];');
      // 300 is no multiple of 256: scalar loads, still a warp per row.
      expect(body('/odd/LayerNorm')).not.toContain('uint4');
      expect(body('/odd/LayerNorm')).toContain('mcpc_warp_sum<float>');
    });
  }
});
