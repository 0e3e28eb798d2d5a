// Attention-family ops: Attention, RotaryEmbedding, SwiGLU, LinearAttention, CausalConvWithState,
// TensorScatter. Expected values come from onnx.reference.ReferenceEvaluator (onnx 1.23.1).

import { describe, expect, it } from 'vitest';
import { attr } from '../../compiler/ir/graph.js';
import { TensorData } from '../../compiler/ir/tensor.js';
import { f32, i64, inferOp, runOp } from '../helpers/op-harness.js';

const vals = (t: TensorData | undefined) => Array.from(t!.values);
const close = (got: number[], want: number[], digits = 5) => {
  expect(got.length).toBe(want.length);
  got.forEach((g, i) => expect(g).toBeCloseTo(want[i]!, digits));
};
const range = (n: number, f: (i: number) => number) => Array.from({ length: n }, (_, i) => Math.fround(f(i)));
const sym = (shape: (number | string)[], dtype: 'f32' | 'i64' | 'bool' = 'f32') => ({ type: { dtype, shape } });

describe('Attention', () => {
  it('applies a bool mask after softcap and returns the softcapped scores (mode 1)', () => {
    const q = f32([1, 2, 2, 2], range(8, Math.sin));
    const k = f32([1, 1, 3, 2], range(6, Math.cos));
    const v = f32([1, 1, 3, 2], range(6, (i) => i * 0.5));
    const mask = TensorData.fromValues('bool', [2, 3], [1, 0, 1, 1, 1, 0]);
    const [y, , , qk] = runOp('Attention', [q, k, v, mask], { softcap: attr.float(1.5), qk_matmul_output_mode: attr.int(1) }, 4);
    close(vals(y), [0.925847, 1.425847, 0.266986, 0.766986, 1.44765, 1.94765, 0.395725, 0.895725]);
    close(vals(qk), [0.316652, -0.560533, 0.168073, 0.650727, -0.359243, -0.383283, -0.80664, 0.801277, 0.156875, 0.053403, -0.369905, 0.258322]);
  });

  it('handles 3-D GQA inputs with a causal mask offset by the past cache', () => {
    const q = f32([1, 2, 4], range(8, (i) => Math.cos(i * 0.7)));
    const k = f32([1, 1, 2], range(2, (i) => Math.sin(i * 1.3 + 0.2)));
    const v = f32([1, 1, 2], [1, -2]);
    const pk = f32([1, 1, 1, 2], [0.5, 0.25]);
    const pv = f32([1, 1, 1, 2], [3, 1]);
    const [y, presentK] = runOp('Attention', [q, k, v, null, pk, pv], { q_num_heads: attr.int(2), kv_num_heads: attr.int(1), is_causal: attr.int(1) }, 3);
    expect(y!.dims).toEqual([1, 2, 4]);
    close(vals(y), [1.904695, -0.642958, 2.150379, -0.274432, 2.146053, -0.28092, 1.898825, -0.651762]);
    expect(presentK!.dims).toEqual([1, 1, 2, 2]);
    close(vals(presentK), [0.5, 0.25, 0.198669, 0.997495]);
  });

  it('gives zero rows for fully masked queries', () => {
    const ones = f32([1, 1, 2, 2], [1, 1, 1, 1]);
    const mask = TensorData.fromValues('bool', [2, 2], [0, 0, 1, 1]);
    const [y] = runOp('Attention', [ones, ones, ones, mask]);
    expect(vals(y)).toEqual([0, 0, 1, 1]);
  });

  it('types outputs with symbolic dims', () => {
    const attrs = { q_num_heads: attr.int(8), kv_num_heads: attr.int(2) };
    const [y, pk, pv, qk] = inferOp('Attention', [sym(['B', 'S', 512]), sym(['B', 'S', 128]), sym(['B', 'S', 256]), sym(['S', 'T']), sym(['B', 2, 'P', 64]), sym(['B', 2, 'P', 128])], attrs, 4);
    expect(y!.shape).toEqual(['B', 'S', 1024]);
    expect(pk!.shape.slice(0, 2)).toEqual(['B', 2]);
    expect(pk!.shape[3]).toBe(64);
    expect(pv!.shape[3]).toBe(128);
    expect(qk!.shape.slice(0, 3)).toEqual(['B', 8, 'S']);
    expect(qk!.shape[3]).toBe(pk!.shape[2]);
    const [y4] = inferOp('Attention', [sym(['B', 4, 'S', 16]), sym(['B', 2, 'L', 16]), sym(['B', 2, 'L', 8])]);
    expect(y4!.shape).toEqual(['B', 4, 'S', 8]);
  });

  it('rejects invalid head layouts', () => {
    expect(() => inferOp('Attention', [sym([1, 3, 4, 8]), sym([1, 2, 4, 8]), sym([1, 2, 4, 8])])).toThrow(/q_num_heads 3 is not a multiple of kv_num_heads 2/);
    expect(() => inferOp('Attention', [sym([1, 4, 8]), sym([1, 4, 8]), sym([1, 4, 8])])).toThrow(/needs attributes 'q_num_heads' and 'kv_num_heads'/);
    expect(() => inferOp('Attention', [sym([1, 2, 4, 8]), sym([1, 2, 4, 8]), sym([1, 2, 4, 8])], { qk_matmul_output_mode: attr.int(4) })).toThrow(/'qk_matmul_output_mode' must be 0..3, got 4/);
  });
});

describe('RotaryEmbedding', () => {
  it('rotates interleaved pairs using position ids', () => {
    const x = f32([1, 2, 2, 4], range(16, (i) => i * 0.1));
    const cos = f32([3, 2], range(6, (i) => Math.cos(i * 0.3)));
    const sin = f32([3, 2], range(6, (i) => Math.sin(i * 0.3)));
    const [y] = runOp('RotaryEmbedding', [x, cos, sin, i64([1, 2], [2, 0])], { interleaved: attr.int(1) });
    close(vals(y), [-0.093204, 0.036236, -0.285101, 0.22072, 0.4, 0.5, 0.366338, 0.846048, -0.548949, 1.071753, -1.026507, 1.075306, 1.2, 1.3, 0.894191, 1.846733]);
  });
  it('needs num_heads for 3-D inputs', () => {
    expect(() => inferOp('RotaryEmbedding', [sym(['B', 'S', 64]), sym([16, 32]), sym([16, 32])])).toThrow(/'num_heads'/);
  });
});

describe('SwiGLU', () => {
  it('gates B with Swish(A) rounding like the f16 reference', () => {
    const a = TensorData.fromValues('f16', [5], [-2, -0.5, 0, 1.5, 3]);
    const b = TensorData.fromValues('f16', [5], [1, 2, -1, 0.5, 0.25]);
    const [y] = runOp('SwiGLU', [a, b], { alpha: attr.float(1.702) });
    expect(vals(y)).toEqual([-0.064331, -0.299316, -0, 0.695801, 0.745605].map((x) => TensorData.fromValues('f16', [1], [x]).values[0]));
  });
  it('does not broadcast', () => {
    expect(() => inferOp('SwiGLU', [sym([2, 3]), sym([1, 3])])).toThrow(/identical shapes/);
  });
});

describe('LinearAttention', () => {
  it('runs the gated delta recurrence with GQA', () => {
    const q = f32([1, 2, 4], range(8, Math.sin));
    const k = f32([1, 2, 2], range(4, (i) => Math.cos(i) * 0.5));
    const v = f32([1, 2, 2], range(4, (i) => i * 0.3));
    const decay = f32([1, 2, 1], [-0.1, -0.3]);
    const beta = f32([1, 2, 1], [0.9, 0.4]);
    const [out, state] = runOp('LinearAttention', [q, k, v, null, decay, beta], { q_num_heads: attr.int(2), kv_num_heads: attr.int(1) }, 2);
    close(vals(out), [0, 0.0434, 0, 0.09408, 0.107277, 0.079259, -0.045323, -0.066233]);
    expect(state!.dims).toEqual([1, 1, 2, 2]);
    close(vals(state), [-0.049938, 0.021146, -0.118799, -0.133579]);
  });
  it('requires decay for gated rules', () => {
    expect(() => inferOp('LinearAttention', [sym([1, 2, 4]), sym([1, 2, 4]), sym([1, 2, 4])], { q_num_heads: attr.int(2), kv_num_heads: attr.int(2), update_rule: attr.string('gated') }))
      .toThrow(/update_rule 'gated' requires input 'decay'/);
  });
});

describe('CausalConvWithState', () => {
  it('convolves over the carried state and applies SiLU', () => {
    const x = f32([1, 2, 3], range(6, (i) => i * 0.5 - 1));
    const w = f32([2, 1, 3], [0.5, -1, 2, 1, 1, 1]);
    const [y, st] = runOp('CausalConvWithState', [x, w, f32([2], [0.1, -0.2]), f32([1, 2, 2], [1, 2, -1, 0.5])], { activation: attr.string('silu') }, 2);
    close(vals(y), [-0.109805, 0.825286, 0.052498, -0.090033, 1.544668, 2.639492]);
    expect(vals(st)).toEqual([-0.5, 0, 1, 1.5]);
  });
  it('sizes the state from the kernel with symbolic dims', () => {
    const [, st] = inferOp('CausalConvWithState', [sym(['B', 4, 'L']), sym([4, 1, 3])], {}, 2);
    expect(st!.shape).toEqual(['B', 4, 2]);
  });
});

describe('TensorScatter', () => {
  it('writes updates at per-batch indices, wrapping in circular mode', () => {
    const cache = f32([2, 3, 2], new Array(12).fill(0));
    const upd = f32([2, 2, 2], range(8, (i) => i + 1));
    const [y] = runOp('TensorScatter', [cache, upd, i64([2], [2, 0])], { mode: attr.string('circular') });
    expect(vals(y)).toEqual([3, 4, 0, 0, 1, 2, 5, 6, 7, 8, 0, 0]);
  });
  it('rejects the batch axis', () => {
    expect(() => inferOp('TensorScatter', [sym([2, 3]), sym([2, 1])], { axis: attr.int(0) })).toThrow(/must not be the batch axis/);
  });
});
