// The tensor-core Attention kernel (attention-mma.ts) on the emulator, whose mma and shuffles
// follow the PTX fragment layouts lane by lane, against the reference interpreter: the BERT pattern
// compiled in fp16 (fuse-attention runs for half-precision cuda plans), causal rows, key counts
// that are not a multiple of the tile, fully masked rows, bf16 with grouped heads and 3-D packed
// inputs (BERT's head splits folded in, and GPT-2's at batch 2 with its merge flattened), a launch with several warps per block, the row-kernel fallback, and kernels broken on
// purpose that must fail.

import { afterAll, describe, expect, it } from 'vitest';
import type { KernelPlan } from '../../compiler/artifact/format.js';
import { interpret } from '../../compiler/interpreter/interpret.js';
import { buildModel, type ModelSpec, type NodeSpec } from '../helpers/onnx-builder.js';
import { compileCuda, runEmulated } from './harness.js';
import { bertPattern, checkModel, maxRelativeError, MEASURED, ONNX, printMeasured, randomFeeds, tensor } from './helpers.js';

afterAll(() => printMeasured('mma'));

const entries = (plan: KernelPlan) => plan.kernels.flatMap((k) => (k.cuda?.after ?? []).map((l) => l.entry));


/** A padding mask [B,1,1,S]: batch b keeps its first S - 13b keys (0), the rest get -10000. */
function paddingMask(B: number, S: number) {
  return tensor('f32', [B, 1, 1, S], Array.from({ length: B * S }, (_, i) => (i % S < S - 13 * Math.floor(i / S) ? 0 : -10000)));
}

/** One ONNX Attention node (opset 23) over inputs of `elemType`. */
function attentionOp(elemType: number, inputs: ModelSpec['inputs'], attrs: NodeSpec['attrs'] = {}): ModelSpec {
  return {
    inputs: inputs.map((x) => (x.name === 'mask' && x.elemType === ONNX.bool ? x : { ...x, elemType: x.elemType ?? elemType })),
    outputs: [{ name: 'y', elemType }],
    nodes: [{ op: 'Attention', inputs: inputs.map((x) => x.name), outputs: ['y'], name: '/h/Attention', attrs }],
    opset: 23,
  };
}

describe('cuda tensor-core attention kernel', () => {
  it('runs the fused BERT pattern of an fp16 plan (S = 128, D = 64, padding mask)', () => {
    const model = bertPattern(2, 2, 128, 64);
    const { compiled } = checkModel('mma bert fp16', model, { precision: 'fp16', tol: 1e-2, feeds: { mask: paddingMask(2, 128) } });
    expect(compiled.plan.kernels.map((k) => k.op)).toContain('Attention');
    expect(entries(compiled.plan).some((e) => e.endsWith('AttentionMma'))).toBe(true);
  });

  it('runs the BERT pattern with its head splits folded in (3-D packed operands)', () => {
    const [B, H, S, D] = [2, 2, 128, 64];
    const base = bertPattern(B, H, S, D);
    const model: ModelSpec = {
      ...base,
      inputs: [...['xq', 'xk', 'xv'].map((name) => ({ name, dims: [B, S, H * D] })), base.inputs[3]!],
      initializers: [...base.initializers!, { name: 'split', dims: [4], int64s: [B, S, H, D] }, { name: 'merge', dims: [3], int64s: [B, S, H * D] }],
      nodes: [
        ...['q', 'k', 'v'].flatMap((x): NodeSpec[] => [
          { op: 'Reshape', inputs: [`x${x}`, 'split'], outputs: [`r${x}`], name: `/attn/Reshape_${x}` },
          { op: 'Transpose', inputs: [`r${x}`], outputs: [x], attrs: { perm: [0, 2, 1, 3] }, name: `/attn/Transpose_${x}` },
        ]),
        ...base.nodes.map((n) => (n.outputs[0] === 'y' ? { ...n, outputs: ['y4'] } : n)),
        { op: 'Transpose', inputs: ['y4'], outputs: ['yt'], attrs: { perm: [0, 2, 1, 3] }, name: '/attn/Transpose_3' },
        { op: 'Reshape', inputs: ['yt', 'merge'], outputs: ['y'], name: '/attn/Reshape_3' },
      ],
    };
    const { compiled } = checkModel('mma bert packed fp16', model, { precision: 'fp16', tol: 1e-2, feeds: { mask: paddingMask(B, S) } });
    expect(compiled.plan.kernels.filter((k) => k.op !== 'Cast' && k.op !== 'Elementwise').map((k) => k.op)).toEqual(['Attention']);
    expect(entries(compiled.plan).some((e) => e.endsWith('AttentionMma'))).toBe(true);
  });

  it("runs GPT-2's pattern at batch 2: Q, K, V split off one projection, the merge flattened to [B*S, H*D]", () => {
    const [B, H, S, D] = [2, 2, 128, 64];
    const E = H * D;
    const base = bertPattern(B, H, S, D);
    const model: ModelSpec = {
      ...base,
      inputs: [{ name: 'qkv', dims: [B, S, 3 * E] }, base.inputs[3]!],
      outputs: [{ name: 'rows' }],
      initializers: [
        ...base.initializers!,
        { name: 'parts', dims: [3], int64s: [E, E, E] },
        { name: 'split', dims: [4], int64s: [B, S, H, D] },
        { name: 'flat', dims: [2], int64s: [-1, E] },
      ],
      nodes: [
        { op: 'Split', inputs: ['qkv', 'parts'], outputs: ['xq', 'xk', 'xv'], attrs: { axis: 2 }, name: '/attn/Split' },
        ...['q', 'k', 'v'].flatMap((x): NodeSpec[] => [
          { op: 'Reshape', inputs: [`x${x}`, 'split'], outputs: [`r${x}`], name: `/attn/Reshape_${x}` },
          // K^T straight from the split, as GPT-2 exports it; the pattern's own K Transpose goes.
          { op: 'Transpose', inputs: [`r${x}`], outputs: [x === 'k' ? 'kt' : x], attrs: { perm: x === 'k' ? [0, 2, 3, 1] : [0, 2, 1, 3] }, name: `/attn/Transpose_${x}` },
        ]),
        ...base.nodes.filter((n) => n.op !== 'Transpose').map((n) => (n.outputs[0] === 'y' ? { ...n, outputs: ['y4'] } : n)),
        { op: 'Transpose', inputs: ['y4'], outputs: ['yt'], attrs: { perm: [0, 2, 1, 3] }, name: '/attn/Transpose_3' },
        { op: 'Reshape', inputs: ['yt', 'flat'], outputs: ['rows'], name: '/attn/c_proj/Reshape' },
      ],
    };
    const { compiled } = checkModel('mma gpt2 flattened fp16', model, { precision: 'fp16', tol: 1e-2, feeds: { mask: paddingMask(B, S) } });
    expect(compiled.plan.kernels.filter((k) => k.op !== 'Cast' && k.op !== 'Elementwise').map((k) => k.op)).toEqual(['Split', 'Attention']);
    // The merge to [B*S, H*D] is a view of the Attention's output: a slot, not a kernel.
    expect(compiled.plan.slots.filter((s) => s.view).map((s) => s.shape)).toContainEqual([B * S, E]);
    const attention = compiled.plan.kernels.find((k) => k.op === 'Attention')!;
    expect(compiled.plan.slots[attention.outputs[0]!]!.shape).toEqual([B, S, E]);
    expect(entries(compiled.plan).some((e) => e.endsWith('AttentionMma'))).toBe(true);
  });

  it('keeps the BERT pattern decomposed in fp32 plans', () => {
    const c = compileCuda(buildModel(bertPattern(1, 1, 16, 16)), { precision: 'fp32' });
    expect(c.plan.kernels.map((k) => k.op)).not.toContain('Attention');
  });

  it('runs causal attention with T not a multiple of the key tile (S = T = 77, D = 64)', () => {
    const model = attentionOp(ONNX.f16, [{ name: 'q', dims: [1, 2, 77, 64] }, { name: 'k', dims: [1, 2, 77, 64] }, { name: 'v', dims: [1, 2, 77, 64] }], { is_causal: 1 });
    const { compiled } = checkModel('mma causal f16', model, { tol: 1e-2 });
    expect(entries(compiled.plan)).toEqual(['k0_AttentionMma']);
  });

  it('gives zeros for fully masked rows (bool mask, Sq = 20, T = 70, D = 32, Dv = 16)', () => {
    const model = attentionOp(ONNX.f16, [
      { name: 'q', dims: [2, 1, 20, 32] }, { name: 'k', dims: [2, 1, 70, 32] }, { name: 'v', dims: [2, 1, 70, 16] },
      { name: 'mask', elemType: ONNX.bool, dims: [2, 1, 20, 70] },
    ]);
    // Rows 0 and 19 of batch 0 and row 5 of batch 1 are fully masked; elsewhere about 1 key in 3.
    const bm = Array.from({ length: 2 * 20 * 70 }, (_, x) => {
      const [b, i] = [Math.floor(x / 1400), Math.floor(x / 70) % 20];
      if ((b === 0 && (i === 0 || i === 19)) || (b === 1 && i === 5)) return 0;
      return (x * 37) % 3 === 0 ? 0 : 1;
    });
    const { compiled, errors } = checkModel('mma masked rows f16', model, { tol: 1e-2, feeds: { mask: tensor('bool', [2, 1, 20, 70], bm) } });
    expect(entries(compiled.plan)).toEqual(['k0_AttentionMma']);
    expect(errors.y).toBeLessThan(1e-2);
  });

  it('runs bf16 with grouped heads, a float mask and 3-D packed inputs', () => {
    // The interpreter follows numpy's bf16 arithmetic (scores and sums rounded to bf16, several
    // ulps off the exact result), so the bf16 kernel is measured against the f32 graph run on the
    // same bf16 values.
    const cases: [string, ModelSpec['inputs'], NodeSpec['attrs']][] = [
      ['grouped', [{ name: 'q', dims: [2, 4, 33, 32] }, { name: 'k', dims: [2, 2, 90, 32] }, { name: 'v', dims: [2, 2, 90, 48] }, { name: 'mask', dims: [33, 90] }], { scale: { float: 0.2 } }],
      ['packed', [{ name: 'q', dims: [2, 40, 4 * 16] }, { name: 'k', dims: [2, 40, 2 * 16] }, { name: 'v', dims: [2, 40, 2 * 16] }], { q_num_heads: 4, kv_num_heads: 2, is_causal: 1 }],
    ];
    for (const [name, inputs, attrs] of cases) {
      const c = compileCuda(buildModel(attentionOp(ONNX.bf16, inputs, attrs)));
      expect(entries(c.plan)).toEqual(['k0_AttentionMma']);
      const feeds = randomFeeds(c, 11);
      const got = runEmulated(c.plan, c.weights, c.graph.inputs.map((v) => feeds[v.name]!))[0]!;
      const exact = compileCuda(buildModel(attentionOp(ONNX.f32, inputs, attrs)));
      const f32Feeds = Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, tensor('f32', [...t.dims], Array.from(t.values, Number))]));
      const want = interpret(exact.graph, f32Feeds).get('y')!;
      const e = maxRelativeError(tensor('f32', [...got.dims], Array.from(got.values, Number)), want);
      MEASURED[`mma ${name} bf16: y`] = e;
      expect(e, name).toBeLessThan(1e-2);
    }
  });

  it('runs a launch of 4-warp blocks (B = 2, H = 66, S = 128)', () => {
    const model = attentionOp(ONNX.f16, [{ name: 'q', dims: [2, 66, 128, 16] }, { name: 'k', dims: [2, 66, 128, 16] }, { name: 'v', dims: [2, 66, 128, 16] }], { is_causal: 1 });
    const { compiled } = checkModel('mma 4 warps f16', model, { tol: 1e-2 });
    const launch = compiled.plan.kernels[0]!.cuda!.after[0]!;
    expect(launch.block).toEqual([128, 1, 1]);
    expect(launch.grid).toEqual([2, 66, 2]);
  });

  it('falls back to the row kernel for head sizes that are not a multiple of 16', () => {
    const model = attentionOp(ONNX.f16, [{ name: 'q', dims: [1, 2, 9, 40] }, { name: 'k', dims: [1, 2, 9, 40] }, { name: 'v', dims: [1, 2, 9, 40] }]);
    const { compiled } = checkModel('mma fallback f16', model, { tol: 1e-2 });
    expect(entries(compiled.plan)).toEqual(['k0_Attention']);
  });

  it('fails kernels with a wrong fragment layout, a missing rescale or a missing row reduction', () => {
    const model = attentionOp(ONNX.f16, [{ name: 'q', dims: [1, 1, 32, 32] }, { name: 'k', dims: [1, 1, 150, 32] }, { name: 'v', dims: [1, 1, 150, 32] }]);
    const c = compileCuda(buildModel(model));
    const feeds = randomFeeds(c, 7);
    const want = interpret(c.graph, feeds).get('y')!;
    const inputs = c.graph.inputs.map((v) => feeds[v.name]!);
    const error = (source: string) => maxRelativeError(runEmulated({ ...c.plan, cuda: { ...c.plan.cuda!, source } }, c.weights, inputs)[0]!, want);
    const src = c.plan.cuda!.source;
    expect(error(src)).toBeLessThan(1e-2);
    const broken = [
      src.replace('kr[0], kr[4]', 'kr[4], kr[0]'),
      src.replace('o[n][0] *= alpha[0]; o[n][1] *= alpha[0];', ''),
      src.replace('mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));', ''),
      src.replace(/vc\[(\d+)\] << 16\);\n(\s*const mcpc_u32 b1)/, 'vc[0] << 16);\n$2'),
    ];
    for (const b of broken) {
      expect(b).not.toBe(src);
      expect(error(b)).toBeGreaterThan(5e-2);
    }
  });
});
