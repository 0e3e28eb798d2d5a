// The fp16 range guard (lower-precision with calibrated value ranges, cli/calibrate.ts): a
// network whose middle activations shrink far below float16's smallest normal (as random-init
// MobileNetV2's do) loses them in a plain fp16 plan; calibrated on the CPU runtime, the plan keeps
// those nodes in float32, with Casts at the edges, and matches the float32 result.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { calibrateRanges } from '../../cli/calibrate.js';
import { compileModel } from '../../compiler/compile.js';
import { interpret } from '../../compiler/interpreter/interpret.js';
import { float32Nodes, f16RangeProblem, F16_SAFE_RANGE, WIDEN_CHUNK_BYTES } from '../../compiler/passes/lower-precision.js';
import { buildModel, type ModelSpec } from '../helpers/onnx-builder.js';
import { compileCuda, runEmulated } from './harness.js';
import { checkModel, init, maxRelativeError, randomFeeds } from './helpers.js';

// x -> Conv+Relu (O(1)) -> 1x1 Conv * 1e-4 + Relu (~1e-4) -> depthwise Conv * 1e-4 (~1e-8: below
// float16's subnormals) -> two 1x1 Convs * 1e4 (~1e-2, then large again) -> + residual -> pool ->
// Gemm. Every weight fits float16; only the activations leave its range.
const MODEL: ModelSpec = {
  inputs: [{ name: 'x', dims: [1, 8, 10, 10] }],
  outputs: [{ name: 'y', dims: [1, 10] }],
  initializers: [
    init('w1', [16, 8, 3, 3], 1, 0.3), init('b1', [16], 2, 0.1),
    init('w2', [16, 16, 1, 1], 3, 1e-4),
    init('w3', [16, 1, 3, 3], 4, 1e-4),
    init('w4', [16, 16, 1, 1], 5, 1e4), init('w5', [16, 16, 1, 1], 8, 1e4),
    init('wf', [10, 16], 6, 0.5), init('bf', [10], 7, 0.1),
  ],
  nodes: [
    { op: 'Conv', inputs: ['x', 'w1', 'b1'], outputs: ['c1'], name: '/stem/Conv', attrs: { pads: [1, 1, 1, 1] } },
    { op: 'Relu', inputs: ['c1'], outputs: ['a1'], name: '/stem/Relu' },
    { op: 'Conv', inputs: ['a1', 'w2'], outputs: ['c2'], name: '/small/Conv' },
    { op: 'Relu', inputs: ['c2'], outputs: ['a2'], name: '/small/Relu' },
    { op: 'Conv', inputs: ['a2', 'w3'], outputs: ['c3'], name: '/tiny/Conv', attrs: { group: 16, pads: [1, 1, 1, 1] } },
    { op: 'Conv', inputs: ['c3', 'w4'], outputs: ['c4'], name: '/back/Conv' },
    { op: 'Conv', inputs: ['c4', 'w5'], outputs: ['c5'], name: '/back/Conv2' },
    { op: 'Add', inputs: ['c5', 'a1'], outputs: ['r'], name: '/back/Add' },
    { op: 'GlobalAveragePool', inputs: ['r'], outputs: ['p'], name: '/head/Pool' },
    { op: 'Flatten', inputs: ['p'], outputs: ['f'], name: '/head/Flatten' },
    { op: 'Gemm', inputs: ['f', 'wf', 'bf'], outputs: ['y'], name: '/head/Gemm', attrs: { transB: 1 } },
  ],
};

/** The model as a file, for the GPU test (test/gpu/cuda-models.test.mjs): MCPC_WRITE_FIXTURES=1 rewrites it. */
const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'range-guard.onnx');

describe('fp16 range guard', () => {
  it('the GPU test\'s fixture is this model', () => {
    const bytes = buildModel(MODEL);
    if (process.env.MCPC_WRITE_FIXTURES === '1') writeFileSync(FIXTURE, bytes);
    expect(Buffer.from(readFileSync(FIXTURE)).equals(Buffer.from(bytes)), `${FIXTURE} is stale: rerun with MCPC_WRITE_FIXTURES=1`).toBe(true);
  });

  it('classifies magnitudes against float16 (all-zero and mask sentinels are not problems)', () => {
    expect(f16RangeProblem(1)).toBeUndefined();
    expect(f16RangeProblem(0)).toBeUndefined();
    expect(f16RangeProblem(F16_SAFE_RANGE.low / 2)).toBe('underflow');
    expect(f16RangeProblem(1e5)).toBe('overflow');
    expect(f16RangeProblem(3.4e38)).toBeUndefined();
  });

  it('keeps the nodes around the tiny values in float32 and matches the float32 result', async () => {
    const bytes = buildModel(MODEL);
    const calibration = await calibrateRanges({ bytes });
    expect(calibration.generated).toEqual(['x']);
    // The calibration saw what the model does: O(1), then ~1e-4, ~1e-8, and O(1) again.
    expect(calibration.ranges.get('a1')!).toBeGreaterThan(0.1);
    expect(calibration.ranges.get('c2')!).toBeLessThan(F16_SAFE_RANGE.low);
    expect(calibration.ranges.get('c3')!).toBeLessThan(1e-6);
    expect(calibration.ranges.get('c4')!).toBeGreaterThan(F16_SAFE_RANGE.low);
    expect(calibration.ranges.get('c5')!).toBeGreaterThan(1);

    const fp32 = compileCuda(bytes, { precision: 'fp32' });
    const plain = compileCuda(bytes, { precision: 'fp16' });
    const guarded = compileCuda(bytes, { precision: 'fp16', valueRanges: calibration.ranges });
    const feeds = randomFeeds(fp32);
    const want = interpret(fp32.graph, feeds).get('y')!;
    const inputs = [feeds['x']!];
    const plainErr = maxRelativeError(runEmulated(plain.plan, plain.weights, inputs)[0]!, want);
    const guardedErr = maxRelativeError(runEmulated(guarded.plan, guarded.weights, inputs)[0]!, want);
    // Plain fp16 loses the 1e-8 branch entirely; the guarded plan keeps fp16's accuracy.
    expect(plainErr).toBeGreaterThan(0.05);
    expect(guardedErr).toBeLessThan(5e-3);

    // The float32 kernels: the small and tiny convolutions, their Relu, and the Conv reading the
    // tiny values (its O(1) output goes back to float16 for the residual Add).
    const slotDtype = (name: string) => guarded.plan.slots.find((s) => s.name === name)?.dtype;
    // (c2 is inside the small Conv's kernel: its Relu is the epilogue.)
    expect(['a2', 'c3', 'a1'].map(slotDtype)).toEqual(['f32', 'f32', 'f16']);
    const kept = float32Nodes(compileCuda(bytes, { precision: 'fp32' }).graph, calibration.ranges);
    expect([...kept.keys()].map((n) => n.loc).sort()).toEqual(['/back/Conv', '/small/Conv', '/small/Relu', '/tiny/Conv'].sort());
    expect(kept.get([...kept.keys()].find((n) => n.loc === '/tiny/Conv')!)).toMatch(/^reads a2 \(largest \|x\| .*below float16's range\)$/);
  });

  it('runs the guarded plan through checkModel (and the GPU bundle)', async () => {
    const bytes = buildModel(MODEL);
    const { ranges } = await calibrateRanges({ bytes });
    checkModel('range guard fp16', bytes, { compiled: compileCuda(bytes, { precision: 'fp16', valueRanges: ranges }), tol: 5e-3 });
  });

  it('bf16 plans ignore the ranges: bfloat16 has float32\'s exponent range', async () => {
    const bytes = buildModel(MODEL);
    const { ranges } = await calibrateRanges({ bytes });
    const bf16 = compileCuda(bytes, { precision: 'bf16', valueRanges: ranges });
    expect(bf16.plan.slots.filter((s) => s.kind !== 'input' && s.kind !== 'output' && s.dtype === 'f32')).toEqual([]);
  });

  it('stores a float32 node\'s large weights in float16 and widens them at their step', async () => {
    // x * 1e-6 -> Gemm (a 256x256 weight: LOW_WEIGHT_MIN_ELEMENTS) -> tiny y: the Gemm stays float32.
    const model: ModelSpec = {
      inputs: [{ name: 'x', dims: [4, 256] }],
      outputs: [{ name: 'y', dims: [4, 256] }],
      initializers: [init('s', [256], 1, 1e-6), init('w', [256, 256], 2, 0.5), init('b', [256], 3, 1e-7)],
      nodes: [
        { op: 'Mul', inputs: ['x', 's'], outputs: ['m'], name: '/scale/Mul' },
        { op: 'Gemm', inputs: ['m', 'w', 'b'], outputs: ['y'], name: '/fc/Gemm' },
      ],
    };
    const bytes = buildModel(model);
    const { ranges } = await calibrateRanges({ bytes });
    const c = compileCuda(bytes, { precision: 'fp16', valueRanges: ranges });
    const weight = (name: string) => c.plan.slots.find((s) => s.kind === 'weight' && s.name.startsWith(name));
    expect([weight('w')?.dtype, weight('b')?.dtype]).toEqual(['f16', 'f32']);
    expect(c.plan.kernels.map((k) => k.op)).toContain('Cast');
    const fp32 = compileCuda(bytes, { precision: 'fp32' });
    const feeds = randomFeeds(fp32);
    const want = interpret(fp32.graph, feeds).get('y')!;
    expect(maxRelativeError(runEmulated(c.plan, c.weights, [feeds['x']!])[0]!, want)).toBeLessThan(2e-3);
  });

  it('runs a float32 product with a weight over WIDEN_CHUNK_BYTES as column chunks, each widened at its step', async () => {
    // x * 1e-6 -> Gemm with a 1000x1280 weight (transB, as a classifier is exported): 4.9 MiB in float32.
    const model: ModelSpec = {
      inputs: [{ name: 'x', dims: [2, 1280] }],
      outputs: [{ name: 'y', dims: [2, 1000] }],
      initializers: [init('s', [1280], 1, 1e-6), init('w', [1000, 1280], 2, 0.05), init('b', [1000], 3, 1e-7)],
      nodes: [
        { op: 'Mul', inputs: ['x', 's'], outputs: ['m'], name: '/scale/Mul' },
        { op: 'Gemm', inputs: ['m', 'w', 'b'], outputs: ['y'], name: '/fc/Gemm', attrs: { transB: 1 } },
      ],
    };
    const bytes = buildModel(model);
    const { ranges } = await calibrateRanges({ bytes });
    const c = compileCuda(bytes, { precision: 'fp16', valueRanges: ranges });
    const gemms = c.plan.kernels.filter((k) => k.op === 'Gemm');
    // Chunks of at most WIDEN_CHUNK_BYTES of float32 weight: 3 of 336, 336 and 328 rows of W.
    expect(gemms.map((k) => c.plan.slots[k.outputs[0]!]!.shape)).toEqual([[2, 336], [2, 336], [2, 328]]);
    expect(gemms.every((k) => c.plan.slots[k.inputs[1]!]!.byteLength <= WIDEN_CHUNK_BYTES)).toBe(true);
    expect(c.plan.kernels.filter((k) => k.op === 'Cast').length).toBeGreaterThanOrEqual(3);
    expect(c.plan.kernels.at(-1)!.op).toBe('Concat');
    const fp32 = compileCuda(bytes, { precision: 'fp32' });
    const feeds = randomFeeds(fp32);
    const want = interpret(fp32.graph, feeds).get('y')!;
    expect(maxRelativeError(runEmulated(c.plan, c.weights, [feeds['x']!])[0]!, want)).toBeLessThan(2e-3);
  });

  it('calibrates every value of a transformer block the cuda plan stores (fused attention, batched projections)', async () => {
    // x -> Q/K/V projections -> heads -> QK^T / sqrt(d) -> Softmax -> .V -> merged heads.
    const heads = (m: string, out: string, perm: number[]) => [
      { op: 'Reshape', inputs: [m, 'shape4'], outputs: [`${out}r`], name: `/${out}/Reshape` },
      { op: 'Transpose', inputs: [`${out}r`], outputs: [out], name: `/${out}/Transpose`, attrs: { perm } },
    ];
    const model: ModelSpec = {
      inputs: [{ name: 'x', dims: [1, 16, 32] }],
      outputs: [{ name: 'y', dims: [1, 16, 32] }],
      initializers: [
        init('ln_w', [32], 1, 1), init('wq', [32, 32], 2, 0.3), init('wk', [32, 32], 3, 0.3), init('wv', [32, 32], 4, 0.3),
        { name: 'shape4', dims: [4], int64s: [1, 16, 2, 16] }, { name: 'shape3', dims: [3], int64s: [1, 16, 32] }, { name: 'd', dims: [], floats: [4] },
      ],
      nodes: [
        { op: 'Mul', inputs: ['x', 'ln_w'], outputs: ['h'], name: '/in/Mul' },
        { op: 'MatMul', inputs: ['h', 'wq'], outputs: ['qm'], name: '/q/MatMul' },
        { op: 'MatMul', inputs: ['h', 'wk'], outputs: ['km'], name: '/k/MatMul' },
        { op: 'MatMul', inputs: ['h', 'wv'], outputs: ['vm'], name: '/v/MatMul' },
        ...heads('qm', 'q', [0, 2, 1, 3]), ...heads('km', 'k', [0, 2, 1, 3]), ...heads('vm', 'v', [0, 2, 1, 3]),
        { op: 'Transpose', inputs: ['k'], outputs: ['kt'], name: '/attn/TransposeK', attrs: { perm: [0, 1, 3, 2] } },
        { op: 'MatMul', inputs: ['q', 'kt'], outputs: ['s'], name: '/attn/MatMul' },
        { op: 'Div', inputs: ['s', 'd'], outputs: ['sd'], name: '/attn/Div' },
        { op: 'Softmax', inputs: ['sd'], outputs: ['p'], name: '/attn/Softmax', attrs: { axis: -1 } },
        { op: 'MatMul', inputs: ['p', 'v'], outputs: ['o'], name: '/attn/MatMul_1' },
        { op: 'Transpose', inputs: ['o'], outputs: ['ot'], name: '/attn/TransposeOut', attrs: { perm: [0, 2, 1, 3] } },
        { op: 'Reshape', inputs: ['ot', 'shape3'], outputs: ['y'], name: '/attn/Reshape' },
      ],
    };
    const bytes = buildModel(model);
    const { ranges } = await calibrateRanges({ bytes });
    const c = compileModel({ bytes }, { target: 'cuda', precision: 'fp16', valueRanges: ranges });
    const ops = c.emitted!.plan.kernels.map((k) => k.op);
    expect(ops).toContain('Attention');
    expect(ops.filter((o) => o === 'MatMul')).toHaveLength(1);
    expect(c.pipeline.ctx.stats.get('lower-precision')?.['values without a calibrated range']).toBeUndefined();
  });

  it('judges values, not constants: a tiny bias on O(1) values stays float16, a tiny layer scale\'s product does not', () => {
    const model: ModelSpec = {
      inputs: [{ name: 'x', dims: [2, 16] }],
      outputs: [{ name: 'y', dims: [2, 16] }],
      initializers: [init('gamma', [16], 1, 1e-6), init('bias', [16], 2, 1e-6)],
      nodes: [
        { op: 'Mul', inputs: ['x', 'gamma'], outputs: ['m'], name: '/scale/Mul' },
        { op: 'Add', inputs: ['x', 'bias'], outputs: ['b'], name: '/bias/Add' },
        { op: 'Add', inputs: ['m', 'b'], outputs: ['y'], name: '/out/Add' },
      ],
    };
    const c = compileCuda(buildModel(model), { precision: 'fp32' });
    expect(float32Nodes(c.graph, new Map()).size).toBe(0);
    const ranges = new Map([['x', 1], ['m', 1e-6], ['b', 1], ['y', 1]]);
    expect([...float32Nodes(c.graph, ranges)].map(([n, why]) => [n.loc, why])).toEqual([
      ['/scale/Mul', "writes m (largest |x| 1.0e-6, below float16's range)"],
      ['/out/Add', "reads m (largest |x| 1.0e-6, below float16's range)"],
    ]);
  });
});
