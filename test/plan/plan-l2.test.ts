// Tests of the L2 tier (compiler/plan/plan-l2.ts): a whole arena under the budget is all window;
// over it, the window holds the most-read buffers within the budget, the other buffers go around
// them (into the window's bytes where its buffers are dead), and the placement stays valid. A cuda plan reports its window in the artifact and in
// `mcpc inspect --memory`.

import { describe, expect, it } from 'vitest';
import { compileModel } from '../../compiler/compile.js';
import { L2_WINDOW_ALIGNMENT, planTieredMemory, type L2Request } from '../../compiler/plan/plan-l2.js';
import { ARENA_ALIGNMENT } from '../../compiler/plan/plan-memory.js';
import { buildModel } from '../helpers/onnx-builder.js';

const aligned = (n: number) => Math.ceil(n / ARENA_ALIGNMENT) * ARENA_ALIGNMENT;

function randomBuffers(seed: number, count: number): L2Request[] {
  let s = seed;
  // High bits: the low bits of this generator repeat with a short period.
  const r = (n: number) => ((s = (s * 1664525 + 1013904223) >>> 0) >>> 8) % n;
  return Array.from({ length: count }, (_, id) => {
    const [a, b] = [r(40), r(40)];
    return { id, bytes: 64 + r(100_000), first: Math.min(a, b), last: Math.max(a, b), reads: r(4) };
  });
}

describe('plan-l2', () => {
  it('puts a whole arena under the budget in the window', () => {
    const buffers = randomBuffers(3, 30);
    const plan = planTieredMemory(buffers, 64 * 2 ** 20);
    expect(plan.l2Window).toBe(plan.size);
    expect(plan.l2.size).toBe(buffers.length);
  });

  it('fills a smaller window with the most-read buffers and places the rest around them', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const buffers = randomBuffers(seed, 60);
      const budget = 300_000;
      const plan = planTieredMemory(buffers, budget);
      expect(plan.l2Window).toBeLessThanOrEqual(Math.ceil(budget / L2_WINDOW_ALIGNMENT) * L2_WINDOW_ALIGNMENT);
      expect(plan.l2Window % L2_WINDOW_ALIGNMENT).toBe(0);
      for (const b of buffers) {
        const at = plan.offsets.get(b.id)!;
        expect(at % ARENA_ALIGNMENT).toBe(0);
        if (plan.l2.has(b.id)) expect(at + aligned(b.bytes)).toBeLessThanOrEqual(plan.l2Window);
        expect(at + aligned(b.bytes)).toBeLessThanOrEqual(plan.size);
      }
      for (const a of buffers) {
        for (const b of buffers) {
          if (a.id >= b.id || a.last < b.first || b.last < a.first) continue;
          const [oa, ob] = [plan.offsets.get(a.id)!, plan.offsets.get(b.id)!];
          expect(oa + aligned(a.bytes) <= ob || ob + aligned(b.bytes) <= oa, `buffers ${a.id} and ${b.id} overlap`).toBe(true);
        }
      }
      // Nothing unread is in L2, and the first in rank (most reads, then smallest) always is.
      expect([...plan.l2].every((id) => buffers[id]!.reads > 0)).toBe(true);
      const top = [...buffers].sort((a, b) => b.reads - a.reads || a.bytes - b.bytes || a.id - b.id)[0]!;
      expect(plan.l2.has(top.id), `buffer ${top.id} (${top.reads} reads)`).toBe(true);
    }
  });

  it('reuses the window\'s bytes at steps where its buffers are dead', () => {
    // Two small buffers read often (the window) live at steps 0-1; a big one at steps 2-3 fits in
    // their bytes once they are dead, where stacking it after the window would not.
    const buffers: L2Request[] = [
      { id: 0, bytes: 1024, first: 0, last: 1, reads: 3 },
      { id: 1, bytes: 1024, first: 0, last: 1, reads: 3 },
      { id: 2, bytes: 4096, first: 2, last: 3, reads: 1 },
    ];
    const plan = planTieredMemory(buffers, 3000);
    expect([...plan.l2].sort()).toEqual([0, 1]);
    expect(plan.l2Window).toBe(2048);
    expect(plan.offsets.get(2)).toBe(0);
    expect(plan.size).toBe(4096); // after the window it would take 2048 + 4096
  });

  it('reports the window of a cuda plan in the artifact, and none for cpu', () => {
    const model = buildModel({
      inputs: [{ name: 'x', dims: [2, 64] }],
      outputs: [{ name: 'y' }],
      nodes: [
        { op: 'Relu', inputs: ['x'], outputs: ['a'], name: '/a' },
        { op: 'Softmax', inputs: ['a'], outputs: ['b'], name: '/b', attrs: { axis: -1 } },
        { op: 'Add', inputs: ['b', 'a'], outputs: ['y'], name: '/c' },
      ],
    });
    const cuda = compileModel({ bytes: model }, { target: 'cuda' }).emitted!;
    expect(cuda.arena.l2Window).toBeGreaterThan(0);
    expect(cuda.plan.l2WindowBytes).toBe(cuda.arena.l2Window);
    const cpu = compileModel({ bytes: model }, { target: 'cpu' }).emitted!;
    expect(cpu.arena.l2Window).toBeUndefined();
    expect(cpu.plan.l2WindowBytes).toBeUndefined();
  });
});
