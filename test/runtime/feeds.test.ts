// Bad feeds are TypeErrors (name, dtype, container) or RangeErrors (shape) that name the tensor
// and the dimension, with code MCPC5001, raised before anything reaches native code.

import { beforeAll, afterAll, describe, expect, it } from 'vitest';
import { Session, Tensor } from '../../runtime/index.js';
import { compileTinyCnn, randomFloats } from './helpers.js';

let session: Session;
beforeAll(async () => {
  session = await Session.load(compileTinyCnn().artifact);
});
afterAll(() => session.dispose());

const x = randomFloats(3 * 32 * 32, 1);

describe('feed validation', () => {
  it('names an unknown input', async () => {
    const run = session.run({ input: new Tensor('f32', x, [1, 3, 32, 32]), nope: new Tensor('f32', [1], [1]) });
    await expect(run).rejects.toThrow(TypeError);
    await expect(run).rejects.toMatchObject({ code: 'MCPC5001', message: expect.stringMatching(/^feeds\.nope is not an input of the model \(inputs: input\)/) });
  });

  it('names a missing input', async () => {
    await expect(session.run({})).rejects.toMatchObject({ name: 'TypeError', code: 'MCPC5001', message: "feeds.input is missing (the model's inputs: input)" });
  });

  it('names a wrong dtype', async () => {
    await expect(session.run({ input: new Tensor('i32', new Int32Array(3072), [1, 3, 32, 32]) })).rejects.toMatchObject({ name: 'TypeError', code: 'MCPC5001', message: 'feeds.input must have dtype f32 (float32), got i32' });
    await expect(session.run({ input: { type: 'int64', dims: [1, 3, 32, 32], data: new BigInt64Array(3072) } })).rejects.toThrow(TypeError);
  });

  it('names a data array of the wrong class', async () => {
    const bad = { type: 'float32', dims: [1, 3, 32, 32], data: new Float64Array(3072) } as never;
    await expect(session.run({ input: bad })).rejects.toMatchObject({ name: 'TypeError', code: 'MCPC5001', message: 'feeds.input.data must be a Float32Array for dtype f32, got Float64Array' });
  });

  it('names the dimension of a wrong shape', async () => {
    const wrong = { type: 'float32', dims: [1, 3, 16, 64], data: x } as const;
    await expect(session.run({ input: wrong })).rejects.toThrow(RangeError);
    await expect(session.run({ input: wrong })).rejects.toThrow('feeds.input.dims[2] must be 32, got 16');
    await expect(session.run({ input: { type: 'float32', dims: [3, 32, 32], data: x } })).rejects.toMatchObject({ name: 'RangeError', code: 'MCPC5001', message: 'feeds.input.dims must have rank 4 ([1,3,32,32]), got [3,32,32]' });
  });

  it('rejects dims that disagree with the data length', async () => {
    await expect(session.run({ input: { type: 'float32', dims: [1, 3, 32, 32], data: x.subarray(1) } })).rejects.toMatchObject({ name: 'RangeError', code: 'MCPC5001', message: 'feeds.input.data has 3071 elements, dims [1,3,32,32] need 3072' });
  });

  it('keeps the session usable after bad feeds', async () => {
    const { logits } = await session.run({ input: new Tensor('f32', x, [1, 3, 32, 32]) });
    expect(logits!.data.length).toBe(10);
  });
});
