// Session on tiny-cnn against the reference interpreter, the ORT-shaped feed form, device and
// dispose behaviour, and concurrent runs on one session.

import { describe, expect, it } from 'vitest';
import { Tensor as OrtTensor } from 'onnxruntime-common';
import { interpret } from '../../compiler/interpreter/interpret.js';
import { TensorData } from '../../compiler/ir/tensor.js';
import { Session, Tensor } from '../../runtime/index.js';
import { compileTinyCnn, randomFloats, relativeError } from './helpers.js';

const { artifact, result } = compileTinyCnn();
const SHAPE = [1, 3, 32, 32];

function reference(x: Float32Array): Float64Array {
  const out = interpret(result.graph, { input: TensorData.fromValues('f32', SHAPE, Array.from(x)) });
  return out.get('logits')!.values;
}

describe('Session', () => {
  it('runs tiny-cnn like the reference interpreter (1e-4 relative)', async () => {
    const session = await Session.load(artifact, { threads: 2 });
    expect(session.inputs).toEqual([{ name: 'input', dtype: 'f32', shape: SHAPE }]);
    expect(session.outputs).toEqual([{ name: 'logits', dtype: 'f32', shape: [1, 10] }]);
    for (const seed of [1, 2, 3]) {
      const x = randomFloats(3 * 32 * 32, seed);
      const { logits } = await session.run({ input: new Tensor('f32', x, SHAPE) });
      expect(logits).toBeInstanceOf(Tensor);
      expect(logits!.dims).toEqual([1, 10]);
      expect(logits!.data).toBeInstanceOf(Float32Array);
      expect(relativeError(logits!.data as Float32Array, reference(x))).toBeLessThan(1e-4);
    }
    session.dispose();
  });

  it('gives the same answer with one thread and from a file path', async () => {
    const x = randomFloats(3 * 32 * 32, 11);
    const a = await Session.load(artifact, { threads: 1 });
    const b = await Session.load(artifact);
    const ya = (await a.run({ input: new Tensor('f32', x, SHAPE) })).logits!.data;
    const yb = (await b.run({ input: new Tensor('f32', x, SHAPE) })).logits!.data;
    expect(relativeError(ya as Float32Array, yb as Float32Array)).toBeLessThan(1e-5);
    expect(a.threads).toBe(1);
    a.dispose();
    b.dispose();
  });

  it("accepts onnxruntime-common's Tensor and plain {type, dims, data} objects", async () => {
    const session = await Session.load(artifact);
    const x = randomFloats(3 * 32 * 32, 5);
    const want = (await session.run({ input: new Tensor('float32', x, SHAPE) })).logits!.data as Float32Array;
    const viaOrt = (await session.run({ input: new OrtTensor('float32', x, SHAPE) })).logits!.data as Float32Array;
    const viaPlain = (await session.run({ input: { type: 'float32', dims: SHAPE, data: x } })).logits!.data as Float32Array;
    expect(Array.from(viaOrt)).toEqual(Array.from(want));
    expect(Array.from(viaPlain)).toEqual(Array.from(want));
    session.dispose();
  });

  it('writes into preallocated outputs', async () => {
    const session = await Session.load(artifact);
    const out = new Float32Array(10);
    const { logits } = await session.run({ input: new Tensor('f32', randomFloats(3072, 9), SHAPE) }, { outputs: { logits: out } });
    expect(logits!.data).toBe(out);
    expect(out.some((v) => v !== 0)).toBe(true);
    session.dispose();
  });

  it('gives correct results for concurrent run() calls on one session', async () => {
    const session = await Session.load(artifact, { threads: 2 });
    const inputs = Array.from({ length: 12 }, (_, i) => randomFloats(3072, 100 + i));
    const sequential: Float32Array[] = [];
    for (const x of inputs) sequential.push((await session.run({ input: new Tensor('f32', x, SHAPE) })).logits!.data as Float32Array);
    const concurrent = await Promise.all(inputs.map((x) => session.run({ input: new Tensor('f32', x, SHAPE) })));
    concurrent.forEach((r, i) => expect(Array.from(r.logits!.data as Float32Array)).toEqual(Array.from(sequential[i]!)));
    session.dispose();
  });

  it('rejects a device other than cpu with a code', async () => {
    await expect(Session.load(artifact, { device: 'cuda:0' })).rejects.toMatchObject({
      code: 'MCPC5006',
      message: expect.stringContaining('device cuda:0 is not available in this build'),
    });
    await expect(Session.load(artifact, { threads: 0 })).rejects.toThrow(RangeError);
  });

  it('disposes idempotently; run after dispose rejects with MCPC5004', async () => {
    const session = await Session.load(artifact);
    const x = new Tensor('f32', randomFloats(3072, 1), SHAPE);
    const inFlight = session.run({ input: x });
    session.dispose();
    session.dispose();
    expect(session.disposed).toBe(true);
    // A run queued before dispose() had already reached native code finishes normally.
    await expect(inFlight).resolves.toHaveProperty('logits');
    await expect(session.run({ input: x })).rejects.toMatchObject({ code: 'MCPC5004' });
  });

  it('re-raises native errors at the call site', async () => {
    const session = await Session.load(artifact);
    session.dispose();
    const err = await session.run({ input: new Tensor('f32', randomFloats(3072, 1), SHAPE) }).catch((e: Error) => e);
    expect(err.stack).toContain('session.test.ts');
  });
});
