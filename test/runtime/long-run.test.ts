// run() works off the main thread: timers fire while a run of a few hundred milliseconds (a chain
// of 1024x1024 MatMuls) is in flight, and a big-arena model loaded, run and disposed 50 times
// leaves the resident set flat.

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { Session, Tensor } from '../../runtime/index.js';
import { bigArenaModel, compileBytes, matmulChainModel, randomFloats } from './helpers.js';

describe('long runs and many sessions', () => {
  it('keeps the event loop turning during a long run', async () => {
    const n = 1024;
    const session = await Session.load(compileBytes(matmulChainModel(n, 24)).artifact, { threads: 2 });
    const x = new Tensor('f32', randomFloats(n * n, 4), [n, n]);
    await session.run({ x }); // warm-up: page in the arena and weights
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const t0 = performance.now();
    const { y } = await session.run({ x });
    const ms = performance.now() - t0;
    clearInterval(timer);
    session.dispose();
    console.log(`MatMul chain 24 x ${n}^3: ${ms.toFixed(1)} ms, ${ticks} timer ticks`);
    expect(y!.data.every((v) => Number.isFinite(v as number))).toBe(true);
    expect(ms).toBeGreaterThan(50);
    // A blocked loop would fire at most one tick; an idle one about ms / 5.
    expect(ticks).toBeGreaterThanOrEqual(Math.min(5, Math.floor(ms / 20)));
  });

  it('leaves RSS flat over 50 load/run/dispose cycles', async () => {
    const rows = 1024; // x and the arena values are 4 MiB each
    const bytes = compileBytes(bigArenaModel(rows)).artifact;
    const x = new Tensor('f32', randomFloats(rows * 1024, 8), [rows, 1024]);
    const cycle = async () => {
      const session = await Session.load(bytes, { threads: 2 });
      const { y } = await session.run({ x });
      session.dispose();
      return y!.data.length;
    };
    // A full collection before each reading keeps output tensors the collector has not reached
    // yet out of the measurement; a fresh context exposes gc() once the flag is set.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    for (let i = 0; i < 5; i++) await cycle();
    gc();
    const before = process.memoryUsage().rss;
    for (let i = 0; i < 50; i++) {
      expect(await cycle()).toBe(rows);
      if (i % 10 === 9) gc();
    }
    gc();
    const growth = (process.memoryUsage().rss - before) / 2 ** 20;
    console.log(`RSS growth over 50 sessions: ${growth.toFixed(1)} MiB`);
    // Allocator and heap noise moves this by about +-30 MiB; a leaked arena would add 50 x 8+ MiB
    // and a single leaked 4 MiB buffer per cycle 200 MiB.
    expect(growth).toBeLessThan(100);
  });
});
