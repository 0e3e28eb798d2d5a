// The generated Attention kernel on the emulator against the reference interpreter: the op as the
// fuse-attention pass makes it from an exported BERT pattern, and the ONNX Attention op directly
// with float and bool masks, causal masking, grouped KV heads, 3-D packed inputs, softcap, rows
// longer than a block and fully masked rows.

import { afterAll, describe, expect, it } from 'vitest';
import { buildModel, type ModelSpec, type NodeSpec } from '../helpers/onnx-builder.js';
import { compileCuda } from './harness.js';
import { bertPattern, checkModel, kernelSummary, ONNX, printMeasured, tensor } from './helpers.js';

afterAll(() => printMeasured('attention'));

describe('cuda attention kernel', () => {
  it('runs the Attention that fuse-attention makes of the eager BERT pattern', () => {
    const model = bertPattern(2, 3, 7, 16);
    const compiled0 = compileCuda(buildModel(model), { enable: ['fuse-attention'] });
    const { compiled } = checkModel('attention fused bert', model, { tol: 2e-6, compiled: compiled0 });
    expect(kernelSummary(compiled.plan).map(([op]) => op)).toEqual(['Attention']);
  });

  it('runs the ONNX Attention op: masks, causal, grouped heads, 3-D inputs, softcap, long rows', () => {
    const nodes: NodeSpec[] = [
      { op: 'Attention', inputs: ['q', 'k', 'v', 'fmask'], outputs: ['y_float'] },
      { op: 'Attention', inputs: ['q', 'k', 'v', 'bmask'], outputs: ['y_bool'], attrs: { scale: { float: 0.3 } } },
      { op: 'Attention', inputs: ['q', 'k', 'v'], outputs: ['y_causal'], attrs: { is_causal: 1 } },
      { op: 'Attention', inputs: ['q', 'kg', 'vg'], outputs: ['y_gqa'], attrs: { softcap: { float: 2 } } },
      { op: 'Attention', inputs: ['q3', 'k3', 'v3'], outputs: ['y_3d'], attrs: { q_num_heads: 4, kv_num_heads: 2 } },
      { op: 'Attention', inputs: ['ql', 'kl', 'vl', 'lmask'], outputs: ['y_long'] },
    ];
    const model: ModelSpec = {
      inputs: [
        { name: 'q', dims: [1, 4, 6, 8] }, { name: 'k', dims: [1, 4, 9, 8] }, { name: 'v', dims: [1, 4, 9, 5] },
        { name: 'fmask', dims: [6, 9] }, { name: 'bmask', elemType: ONNX.bool, dims: [1, 4, 6, 7] },
        { name: 'kg', dims: [1, 2, 9, 8] }, { name: 'vg', dims: [1, 2, 9, 8] },
        { name: 'q3', dims: [2, 5, 32] }, { name: 'k3', dims: [2, 6, 16] }, { name: 'v3', dims: [2, 6, 12] },
        { name: 'ql', dims: [1, 1, 3, 4] }, { name: 'kl', dims: [1, 1, 300, 4] }, { name: 'vl', dims: [1, 1, 300, 3] },
        { name: 'lmask', dims: [1, 300] },
      ],
      outputs: nodes.map((n) => ({ name: n.outputs[0]! })),
      nodes: nodes.map((n, i) => ({ ...n, name: `/attention/${n.outputs[0]}_${i}` })),
      opset: 23,
    };
    // bmask: row 0 of head 0 fully masked (gives zeros), other rows random.
    const bm = Array.from({ length: 4 * 6 * 7 }, (_, i) => (i < 7 ? 0 : (i * 37) % 5 !== 0 ? 1 : 0));
    const { compiled } = checkModel('attention op', model, { tol: 2e-6, feeds: { bmask: tensor('bool', [1, 4, 6, 7], bm) } });
    expect(compiled.plan.kernels.every((k) => k.op === 'Attention')).toBe(true);
  });

  it('runs on f16 slots', () => {
    const model: ModelSpec = {
      inputs: [{ name: 'q', elemType: ONNX.f16, dims: [1, 2, 5, 16] }, { name: 'k', elemType: ONNX.f16, dims: [1, 2, 5, 16] }, { name: 'v', elemType: ONNX.f16, dims: [1, 2, 5, 16] }],
      outputs: [{ name: 'y', elemType: ONNX.f16 }],
      nodes: [{ op: 'Attention', inputs: ['q', 'k', 'v'], outputs: ['y'], name: '/h/Attention', attrs: { is_causal: 1 } }],
      opset: 23,
    };
    checkModel('attention f16', model, { tol: 1e-2 });
  });
});
