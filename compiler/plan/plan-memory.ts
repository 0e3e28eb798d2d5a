// plan-memory: assigns every intermediate buffer an offset in one activation arena so that buffers
// live at the same time never overlap. Several placement orders run with the same best-fit rule
// (each buffer into the best-fitting gap among buffers whose lifetimes overlap it) and the smallest
// arena wins: largest first, definition order, longest-lived first, largest bytes x lifetime first. The result also reports the lower bound
// (largest sum of bytes live at one step) and the naive size (every buffer its own space).

import { alignUp } from '../artifact/format.js';

export interface BufferRequest {
  id: number;
  bytes: number;
  /** Step that writes the buffer first and step that reads it last (inclusive). */
  first: number;
  last: number;
}

export type PlacementStrategy = 'greedy-by-size' | 'greedy-by-order' | 'greedy-by-lifetime' | 'greedy-by-area';

export interface MemoryPlan {
  offsets: Map<number, number>;
  size: number;
  lowerBound: number;
  naiveSize: number;
  strategy: PlacementStrategy;
}

export const ARENA_ALIGNMENT = 64;

function overlaps(a: BufferRequest, b: BufferRequest): boolean {
  return a.first <= b.last && b.first <= a.last;
}

function place(order: BufferRequest[], fit: 'best' | 'first'): { offsets: Map<number, number>; size: number } {
  const offsets = new Map<number, number>();
  const placed: { req: BufferRequest; offset: number; end: number }[] = [];
  let size = 0;
  for (const req of order) {
    const need = alignUp(req.bytes, ARENA_ALIGNMENT);
    const busy = placed.filter((p) => overlaps(p.req, req)).sort((a, b) => a.offset - b.offset);
    let best = -1;
    let bestGap = Infinity;
    let cursor = 0;
    for (const p of busy) {
      const gap = p.offset - cursor;
      if (gap >= need && gap < bestGap && (fit === 'best' || best < 0)) {
        best = cursor;
        bestGap = gap;
      }
      cursor = Math.max(cursor, p.end);
    }
    if (best < 0) best = cursor;
    offsets.set(req.id, best);
    placed.push({ req, offset: best, end: best + need });
    size = Math.max(size, best + need);
  }
  return { offsets, size };
}

export function planMemory(buffers: readonly BufferRequest[]): MemoryPlan {
  const span = (b: BufferRequest) => b.last - b.first + 1;
  const orders: [PlacementStrategy, BufferRequest[]][] = [
    ['greedy-by-size', [...buffers].sort((a, b) => b.bytes - a.bytes || a.first - b.first)],
    ['greedy-by-order', [...buffers].sort((a, b) => a.first - b.first || b.bytes - a.bytes)],
    // Long-lived buffers (residual streams, masks) constrain everything around them: place them first.
    ['greedy-by-lifetime', [...buffers].sort((a, b) => span(b) - span(a) || b.bytes - a.bytes || a.first - b.first)],
    ['greedy-by-area', [...buffers].sort((a, b) => b.bytes * span(b) - a.bytes * span(a) || a.first - b.first)],
  ];
  let best: { offsets: Map<number, number>; size: number; strategy: PlacementStrategy } | undefined;
  for (const [strategy, order] of orders) {
    for (const fit of ['best', 'first'] as const) {
      const r = place(order, fit);
      if (!best || r.size < best.size) best = { ...r, strategy };
    }
  }
  best ??= { offsets: new Map(), size: 0, strategy: 'greedy-by-size' };
  const steps = Math.max(0, ...buffers.map((b) => b.last)) + 1;
  const live = new Float64Array(steps + 1);
  for (const b of buffers) {
    live[b.first]! += alignUp(b.bytes, ARENA_ALIGNMENT);
    live[b.last + 1]! -= alignUp(b.bytes, ARENA_ALIGNMENT);
  }
  let cur = 0;
  let lowerBound = 0;
  for (let i = 0; i < steps; i++) {
    cur += live[i]!;
    lowerBound = Math.max(lowerBound, cur);
  }
  const naiveSize = buffers.reduce((acc, b) => acc + alignUp(b.bytes, ARENA_ALIGNMENT), 0);
  return { offsets: best.offsets, size: best.size, lowerBound, naiveSize, strategy: best.strategy };
}
