// Values whose dims are known only at run time (compiler/plan/dynamic-shapes.ts): data-dependent
// ops (NonZero, Compress, Unique, NonMaxSuppression, Range) and elementwise kernels downstream of
// them, compiled for the cpu target and run natively against the reference interpreter, with
// different dims from run to run; plus what is refused at compile time and what a bad input does.

import { describe, expect, it } from 'vitest';
import { compileModel } from '../../compiler/compile.js';
import { readArtifact, Session, Tensor } from '../../runtime/index.js';
import { loadNativeAddon, type NativeLoadArgs } from '../../runtime/native-addon.js';
import { buildModel } from '../helpers/onnx-builder.js';
import { mulberry32 } from '../helpers/fixture-models.js';
import { compileBytes } from './helpers.js';
import { expectNativeMatchesReference } from './native-vs-reference.js';

const I64 = 7, BOOL = 9;

function ints(n: number, seed: number, max: number): number[] {
  const rand = mulberry32(seed);
  return Array.from({ length: n }, () => Math.floor(rand() * max));
}

/** y = Cast(NonZero(x), f32) * 2 + b: a bounded dynamic value, then a broadcast kernel. */
const nonZeroModel = buildModel({
  inputs: [{ name: 'x', dims: [3, 4] }],
  outputs: [{ name: 'nz', elemType: I64 }, { name: 'y' }],
  initializers: [{ name: 'two', dims: [], floats: [2] }, { name: 'b', dims: [2, 1], floats: [0.5, -1] }],
  nodes: [
    { op: 'NonZero', inputs: ['x'], outputs: ['nz'], name: '/nonzero' },
    { op: 'Cast', inputs: ['nz'], outputs: ['f'], attrs: { to: 1 } },
    { op: 'Mul', inputs: ['f', 'two'], outputs: ['m'] },
    { op: 'Add', inputs: ['m', 'b'], outputs: ['y'] },
  ],
});

describe('data-dependent dims on the native executor', () => {
  it('NonZero and the elementwise ops after it, with a different count each run', async () => {
    for (const seed of [1, 2, 3]) {
      const x = ints(12, seed, 3);
      const out = await expectNativeMatchesReference(nonZeroModel, { x: { dtype: 'f32', dims: [3, 4], values: x } });
      expect(out.nz!.dims).toEqual([2, x.filter((v) => v !== 0).length]);
    }
    // All zeros: empty outputs.
    const out = await expectNativeMatchesReference(nonZeroModel, { x: { dtype: 'f32', dims: [3, 4], values: new Array(12).fill(0) } });
    expect(out.y!.dims).toEqual([2, 0]);
  });

  it('reports run-time dims as -1 in the session outputs', async () => {
    const session = await Session.load(compileBytes(nonZeroModel).artifact);
    expect(session.outputs.map((o) => o.shape)).toEqual([[2, -1], [2, -1]]);
    const a = await session.run({ x: new Tensor('f32', Float32Array.from([1, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 3]), [3, 4]) });
    expect(a.nz!.dims).toEqual([2, 3]);
    expect(Array.from(a.nz!.data as BigInt64Array, Number)).toEqual([0, 1, 2, 0, 1, 3]);
    const b = await session.run({ x: new Tensor('f32', new Float32Array(12).fill(1), [3, 4]) });
    expect(b.nz!.dims).toEqual([2, 12]);
    session.dispose();
  });

  it('Range from run-time scalars (no bound: allocated at run time), then elementwise ops', async () => {
    const onnx = buildModel({
      opset: 17,
      inputs: [{ name: 'start', dims: [] }, { name: 'limit', dims: [] }, { name: 'delta', dims: [] }],
      outputs: [{ name: 'y' }],
      initializers: [{ name: 'k', dims: [], floats: [0.25] }],
      nodes: [
        { op: 'Range', inputs: ['start', 'limit', 'delta'], outputs: ['r'], name: '/range' },
        { op: 'Mul', inputs: ['r', 'k'], outputs: ['m'] },
        { op: 'Cos', inputs: ['m'], outputs: ['c'] },
        { op: 'Add', inputs: ['c', 'r'], outputs: ['y'] },
      ],
    });
    for (const [start, limit, delta] of [[0, 10, 1], [2, 100, 0.5], [5, 1, -1.5], [3, 3, 1]]) {
      const s = (v: number) => ({ dtype: 'f32' as const, dims: [], values: [v] });
      const out = await expectNativeMatchesReference(onnx, { start: s(start!), limit: s(limit!), delta: s(delta!) });
      expect(out.y!.dims).toEqual([Math.max(0, Math.ceil((limit! - start!) / delta!))]);
    }
  });

  it('Unique with all four outputs, over an axis and flattened, sorted and not', async () => {
    for (const [axis, sorted] of [[undefined, 1], [undefined, 0], [1, 1], [0, 0]] as const) {
      const onnx = buildModel({
        opset: 11,
        inputs: [{ name: 'x', dims: [4, 5] }],
        outputs: [{ name: 'y' }, { name: 'idx', elemType: I64 }, { name: 'inv', elemType: I64 }, { name: 'cnt', elemType: I64 }],
        nodes: [{ op: 'Unique', inputs: ['x'], outputs: ['y', 'idx', 'inv', 'cnt'], attrs: { sorted, ...(axis !== undefined ? { axis } : {}) } }],
      });
      const x = ints(20, 5 + (axis ?? 2), 3);
      if (axis === 1) x.splice(0, 8, 1, 1, 2, 0, 2, 1, 1, 2); // repeated columns 0 and 1
      await expectNativeMatchesReference(onnx, { x: { dtype: 'f32', dims: [4, 5], values: x } });
    }
  });

  it('Compress over an axis and flattened', async () => {
    for (const axis of [undefined, 0, 1, -1]) {
      const n = axis === undefined ? 12 : axis === 0 ? 3 : 4;
      const onnx = buildModel({
        opset: 11,
        inputs: [{ name: 'x', dims: [3, 4] }, { name: 'c', elemType: BOOL, dims: [n] }],
        outputs: [{ name: 'y' }],
        nodes: [{ op: 'Compress', inputs: ['x', 'c'], outputs: ['y'], attrs: axis !== undefined ? { axis } : {} }],
      });
      for (const seed of [1, 2]) {
        await expectNativeMatchesReference(onnx, { x: { dtype: 'f32', dims: [3, 4], values: ints(12, seed, 9) }, c: { dtype: 'bool', dims: [n], values: ints(n, seed + 7, 2) } });
      }
    }
  });

  it('NonMaxSuppression with thresholds, both box formats', async () => {
    for (const center of [0, 1]) {
      const onnx = buildModel({
        opset: 11,
        inputs: [{ name: 'boxes', dims: [2, 6, 4] }, { name: 'scores', dims: [2, 2, 6] }, { name: 'max', elemType: I64, dims: [1] }, { name: 'iou', dims: [1] }, { name: 'score', dims: [1] }],
        outputs: [{ name: 'sel', elemType: I64 }],
        nodes: [{ op: 'NonMaxSuppression', inputs: ['boxes', 'scores', 'max', 'iou', 'score'], outputs: ['sel'], attrs: { center_point_box: center } }],
      });
      const rand = mulberry32(11 + center);
      const boxes = Array.from({ length: 48 }, (_, i) => (i % 4 < 2 ? rand() * 4 : 1 + rand() * 3));
      const scores = Array.from({ length: 24 }, () => rand());
      for (const max of [0, 2, 10]) {
        await expectNativeMatchesReference(onnx, {
          boxes: { dtype: 'f32', dims: [2, 6, 4], values: boxes }, scores: { dtype: 'f32', dims: [2, 2, 6], values: scores },
          max: { dtype: 'i64', dims: [1], values: [max] }, iou: { dtype: 'f32', dims: [1], values: [0.3] }, score: { dtype: 'f32', dims: [1], values: [0.2] },
        });
      }
    }
  });

  it('a bad run-time input is a coded error naming the node, and the session stays usable', async () => {
    const onnx = buildModel({
      inputs: [{ name: 'start', dims: [] }, { name: 'limit', dims: [] }, { name: 'delta', dims: [] }],
      outputs: [{ name: 'y' }],
      nodes: [{ op: 'Range', inputs: ['start', 'limit', 'delta'], outputs: ['y'], name: '/range' }],
    });
    const session = await Session.load(compileBytes(onnx).artifact);
    const s = (v: number) => new Tensor('f32', Float32Array.of(v), []);
    await expect(session.run({ start: s(0), limit: s(4), delta: s(0) })).rejects.toMatchObject({ code: 'MCPC5003', message: expect.stringContaining('/range') });
    await expect(session.run({ start: s(0), limit: s(1e12), delta: s(1) })).rejects.toMatchObject({ code: 'MCPC5003' });
    const ok = await session.run({ start: s(0), limit: s(4), delta: s(1) });
    expect(Array.from(ok.y!.data as Float32Array)).toEqual([0, 1, 2, 3]);
    session.dispose();
  });
});

describe('plans with dynamic dims, validated natively', () => {
  const { artifact } = compileBytes(nonZeroModel);
  function loadArgs(edit: (a: NativeLoadArgs) => void): NativeLoadArgs {
    const a = readArtifact(new Uint8Array(artifact));
    const w = a.header.sections.find((x) => x.name === 'weights')!;
    const args: NativeLoadArgs = {
      plan: structuredClone(a.plan), arenaSize: a.header.arena.size, bytes: a.bytes, weightsOffset: w.offset, weightsLength: w.length,
      weights: a.header.weights.map((x) => ({ offset: x.offset, byteLength: x.byteLength })),
    };
    edit(args);
    return args;
  }
  const addon = loadNativeAddon();

  it('loads the plan as compiled', async () => {
    const session = await addon.loadSession(loadArgs(() => undefined));
    expect(session).toBeDefined();
    session.dispose();
  });

  it('refuses a kernel reading a dynamic value without shapes: broadcast, or writing one with static shapes', async () => {
    await expect(addon.loadSession(loadArgs((a) => void delete a.plan.kernels[1]!.shapes))).rejects.toMatchObject({ code: 'MCPC4010', message: expect.stringContaining('without shapes: broadcast') });
    await expect(addon.loadSession(loadArgs((a) => void delete a.plan.kernels[0]!.shapes))).rejects.toMatchObject({ code: 'MCPC4010', message: expect.stringContaining('with static shapes') });
  });

  it('refuses a dynamic slot that is not an arena or heap slot, and a heap slot that is not unbounded', async () => {
    await expect(addon.loadSession(loadArgs((a) => void (a.plan.slots[0]!.dynamic = 'bounded')))).rejects.toMatchObject({ code: 'MCPC4010', message: expect.stringContaining('must be an arena or heap slot') });
    await expect(addon.loadSession(loadArgs((a) => {
      const nz = a.plan.slots.find((x) => x.name === 'nz')!;
      nz.kind = 'heap';
    }))).rejects.toMatchObject({ code: 'MCPC4010', message: expect.stringContaining('heap slots') });
  });
});

describe('data-dependent dims at compile time', () => {
  it('refuses a non-elementwise op reading a run-time-sized value, naming the node', () => {
    const onnx = buildModel({
      inputs: [{ name: 'x', dims: [3, 4] }],
      outputs: [{ name: 'y', elemType: I64 }],
      initializers: [{ name: 'axes', dims: [1], int64s: [1] }],
      nodes: [
        { op: 'NonZero', inputs: ['x'], outputs: ['nz'] },
        { op: 'ReduceSum', inputs: ['nz', 'axes'], outputs: ['y'], name: '/sum' },
      ],
    });
    expect(() => compileModel({ bytes: onnx }, { target: 'cpu' })).toThrow(expect.objectContaining({ code: 'MCPC2014', message: expect.stringContaining("'/sum'") }));
  });

  it('the cuda target refuses data-dependent kernels', () => {
    expect(() => compileModel({ bytes: nonZeroModel }, { target: 'cuda' })).toThrow(expect.objectContaining({ code: 'MCPC2015', message: expect.stringContaining("'/nonzero'") }));
  });

  it('plans bound NonZero by rank x numel and put an unbounded Range on the heap', () => {
    const { plan } = compileModel({ bytes: nonZeroModel }, { target: 'cpu' }).emitted!;
    const nz = plan.slots.find((s) => s.name === 'nz')!;
    expect(nz).toMatchObject({ kind: 'arena', dynamic: 'bounded', shape: [2, 12], byteLength: 2 * 12 * 8 });
    expect(plan.kernels.map((k) => k.shapes)).toEqual(['computed', 'broadcast']);
  });

  it('loads artifacts of format version 1 (no dynamic dims), and names the versions it reads', async () => {
    const { artifact } = compileBytes(buildModel({ inputs: [{ name: 'x', dims: [2] }], outputs: [{ name: 'y' }], nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['y'] }] }));
    const v1 = Buffer.from(artifact);
    v1.writeUInt32LE(1, 8);
    const session = await Session.load(new Uint8Array(v1));
    const out = await session.run({ x: new Tensor('f32', Float32Array.of(-1, 2), [2]) });
    expect(Array.from(out.y!.data as Float32Array)).toEqual([0, 2]);
    session.dispose();
    const v3 = Buffer.from(artifact);
    v3.writeUInt32LE(3, 8);
    await expect(Session.load(new Uint8Array(v3))).rejects.toThrow('this build reads versions 1 to 2');
  });
});
