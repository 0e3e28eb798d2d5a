// Tests of the arena placement (compiler/plan/plan-memory.ts): placements are valid (buffers live
// at the same step never share bytes), the search stops at the lower bound, and refining an order
// (buffers that end above the bound go first) reaches the bound where every fixed order fragments,
// on a small case and on BERT's buffers as the dynamo export left them
// (test/plan/golden/bert-dynamo-buffers.json).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ARENA_ALIGNMENT, freeRegions, planMemory, type BufferRequest, type MemoryPlan } from '../../compiler/plan/plan-memory.js';

const aligned = (n: number) => Math.ceil(n / ARENA_ALIGNMENT) * ARENA_ALIGNMENT;

function expectValid(buffers: readonly BufferRequest[], plan: MemoryPlan): void {
  for (const b of buffers) {
    const at = plan.offsets.get(b.id)!;
    expect(at % ARENA_ALIGNMENT).toBe(0);
    expect(at + aligned(b.bytes)).toBeLessThanOrEqual(plan.size);
  }
  for (const a of buffers) {
    for (const b of buffers) {
      if (a.id >= b.id || a.last < b.first || b.last < a.first) continue;
      const [oa, ob] = [plan.offsets.get(a.id)!, plan.offsets.get(b.id)!];
      expect(oa + aligned(a.bytes) <= ob || ob + aligned(b.bytes) <= oa, `buffers ${a.id} and ${b.id} overlap`).toBe(true);
    }
  }
  expect(plan.size).toBeGreaterThanOrEqual(plan.lowerBound);
  expect(plan.size).toBeLessThanOrEqual(plan.naiveSize);
}

describe('plan-memory', () => {
  it('places random buffer sets validly', () => {
    let s = 9;
    const r = (n: number) => ((s = (s * 1664525 + 1013904223) >>> 0) % n);
    for (let t = 0; t < 200; t++) {
      const buffers = Array.from({ length: 2 + r(40) }, (_, id) => {
        const [a, b] = [r(30), r(30)];
        return { id, bytes: 1 + r(5000), first: Math.min(a, b), last: Math.max(a, b) };
      });
      expectValid(buffers, planMemory(buffers));
    }
  });
  it('stops at the first order that meets the lower bound', () => {
    const plan = planMemory([
      { id: 0, bytes: 100, first: 0, last: 1 },
      { id: 1, bytes: 64, first: 1, last: 2 },
      { id: 2, bytes: 64, first: 2, last: 3 },
    ]);
    expect(plan).toMatchObject({ size: 192, lowerBound: 192, naiveSize: 256, strategy: 'greedy-by-size', refinements: 0 });
  });
  it('refines an order that fragments: the buffers above the bound go first', () => {
    // Every fixed order (with best or first fit) needs 448 bytes here.
    const buffers = [
      { id: 0, bytes: 192, first: 4, last: 5 },
      { id: 1, bytes: 128, first: 0, last: 3 },
      { id: 2, bytes: 128, first: 1, last: 2 },
      { id: 3, bytes: 128, first: 2, last: 3 },
      { id: 4, bytes: 128, first: 3, last: 4 },
    ];
    const plan = planMemory(buffers);
    expectValid(buffers, plan);
    expect(plan).toMatchObject({ size: 384, lowerBound: 384, strategy: 'greedy-by-size', refinements: 1 });
  });
  it('meets the lower bound on the BERT dynamo buffers', () => {
    const fixture = JSON.parse(readFileSync(join(import.meta.dirname, 'golden', 'bert-dynamo-buffers.json'), 'utf8')) as { buffers: [number, number, number][] };
    const buffers = fixture.buffers.map(([bytes, first, last], id) => ({ id, bytes, first, last }));
    const plan = planMemory(buffers);
    expectValid(buffers, plan);
    expect(plan.lowerBound).toBe(2424832);
    expect(plan.size).toBe(plan.lowerBound);
  });
  it('finds the largest free region at each step, aligned, and none where the arena is full', () => {
    // Offsets: 0 [0,256) steps 0-1; 1 [256,320) steps 1-3; 2 [320,1024) step 3; arena 1024 bytes.
    const buffers = [
      { id: 0, bytes: 256, first: 0, last: 1 },
      { id: 1, bytes: 64, first: 1, last: 3 },
      { id: 2, bytes: 704, first: 3, last: 3 },
    ];
    const plan = { offsets: new Map([[0, 0], [1, 256], [2, 320]]), size: 1024 };
    expect(freeRegions(buffers, plan, [0, 1, 2, 3], 256)).toEqual([
      { offset: 256, bytes: 768 }, // after buffer 0
      { offset: 512, bytes: 512 }, // after buffer 1 (ends at 320), aligned up to 512
      { offset: 512, bytes: 512 }, // [0,256) is free too, but smaller
      { offset: 0, bytes: 256 }, // buffer 0 is dead; buffers 1 and 2 fill the rest
    ]);
    expect(freeRegions([{ id: 0, bytes: 1000, first: 0, last: 0 }], { offsets: new Map([[0, 0]]), size: 1024 }, [0], 256)).toEqual([undefined]);
    // With 64-byte alignment the region after buffer 1 starts right at 320.
    expect(freeRegions(buffers, plan, [1, 2], 64)).toEqual([{ offset: 320, bytes: 704 }, { offset: 320, bytes: 704 }]);
  });
  it('keeps pinned buffers where they are and places the others around them', () => {
    let s = 21;
    const r = (n: number) => ((s = (s * 1664525 + 1013904223) >>> 0) >>> 8) % n;
    for (let t = 0; t < 50; t++) {
      const buffers = Array.from({ length: 3 + r(30) }, (_, id) => {
        const [a, b] = [r(20), r(20)];
        return { id, bytes: 1 + r(3000), first: Math.min(a, b), last: Math.max(a, b) };
      });
      // Pin a valid placement of the first few (their own plan), as plan-l2 pins its window.
      const few = buffers.slice(0, 1 + r(4));
      const pinned = planMemory(few).offsets;
      const plan = planMemory(buffers, pinned);
      expectValid(buffers, plan);
      for (const [id, at] of pinned) expect(plan.offsets.get(id)).toBe(at);
    }
  });
});
