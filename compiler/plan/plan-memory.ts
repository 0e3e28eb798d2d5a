// plan-memory: assigns every intermediate buffer an offset in one activation arena so that buffers
// live at the same time never overlap. Several placement orders run with the same rule (each buffer
// into the best-fitting, or the first, gap among buffers whose lifetimes overlap it) and the
// smallest arena wins: largest first (ties: earliest first, or longest-lived first), definition
// order, longest-lived first, largest bytes x lifetime first. An order that ends above the lower
// bound is refined: the buffers placed above the bound move to the front of the order and it is
// placed again (a few rounds), since what ends on top is what the order placed too late. The
// search stops once an arena meets the lower bound (the largest sum of bytes live at one step).
// The result also reports the naive size (every buffer its own space).

import { alignUp } from '../artifact/format.js';

export interface BufferRequest {
  id: number;
  bytes: number;
  /** Step that writes the buffer first and step that reads it last (inclusive). */
  first: number;
  last: number;
}

export type PlacementStrategy = 'greedy-by-size' | 'greedy-by-size-lifetime' | 'greedy-by-order' | 'greedy-by-lifetime' | 'greedy-by-area';

export interface MemoryPlan {
  offsets: Map<number, number>;
  size: number;
  lowerBound: number;
  naiveSize: number;
  strategy: PlacementStrategy;
  /** Refinement rounds the winning order went through (0: the strategy's order as it is). */
  refinements: number;
}

export const ARENA_ALIGNMENT = 64;

/** Refinement rounds per order: past a few, the same buffers keep trading places. */
const MAX_REFINEMENTS = 4;

function overlaps(a: BufferRequest, b: BufferRequest): boolean {
  return a.first <= b.last && b.first <= a.last;
}

function place(order: readonly BufferRequest[], fit: 'best' | 'first', pinned: readonly Pinned[] = []): { offsets: Map<number, number>; size: number } {
  const offsets = new Map<number, number>();
  const placed: { req: BufferRequest; offset: number; end: number }[] = [];
  let size = 0;
  for (const { req, offset } of pinned) {
    const end = offset + alignUp(req.bytes, ARENA_ALIGNMENT);
    offsets.set(req.id, offset);
    placed.push({ req, offset, end });
    size = Math.max(size, end);
  }
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

/** The largest sum of (aligned) bytes live at one step: no arena is smaller. */
function liveLowerBound(buffers: readonly BufferRequest[]): number {
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
  return lowerBound;
}

/** A run of arena bytes: [offset, offset + bytes). */
export interface ArenaRegion {
  offset: number;
  bytes: number;
}

/**
 * The largest run of arena bytes that no buffer occupies at each of `steps` (starts aligned to
 * `alignment`, which shortens a run by at most alignment - 1 bytes), or undefined where none is left.
 * A step's scratch may go there: a library call's workspace lives only while its step runs.
 */
export function freeRegions(
  buffers: readonly BufferRequest[], plan: Pick<MemoryPlan, 'offsets' | 'size'>, steps: readonly number[], alignment: number,
): (ArenaRegion | undefined)[] {
  return steps.map((step) => {
    const busy = buffers
      .filter((b) => b.first <= step && step <= b.last)
      .map((b) => ({ start: plan.offsets.get(b.id)!, end: plan.offsets.get(b.id)! + alignUp(b.bytes, ARENA_ALIGNMENT) }))
      .sort((a, b) => a.start - b.start);
    let best: ArenaRegion | undefined;
    let cursor = 0;
    const consider = (end: number) => {
      const offset = alignUp(cursor, alignment);
      if (end - offset > (best?.bytes ?? 0)) best = { offset, bytes: end - offset };
    };
    for (const b of busy) {
      consider(b.start);
      cursor = Math.max(cursor, b.end);
    }
    consider(plan.size);
    return best;
  });
}

/** A buffer whose offset is fixed before placement (plan-l2's window). */
interface Pinned {
  req: BufferRequest;
  offset: number;
}

/**
 * Places `buffers`; those in `pinned` (id -> offset, a valid placement of its own) keep their
 * offsets and the others go around them: into their bytes too, at steps where they are dead.
 */
export function planMemory(allBuffers: readonly BufferRequest[], pinnedOffsets: ReadonlyMap<number, number> = new Map()): MemoryPlan {
  const pinned: Pinned[] = allBuffers.filter((b) => pinnedOffsets.has(b.id)).map((req) => ({ req, offset: pinnedOffsets.get(req.id)! }));
  const buffers = allBuffers.filter((b) => !pinnedOffsets.has(b.id));
  const span = (b: BufferRequest) => b.last - b.first + 1;
  const orders: [PlacementStrategy, BufferRequest[]][] = [
    ['greedy-by-size', [...buffers].sort((a, b) => b.bytes - a.bytes || a.first - b.first)],
    // Equal sizes abound in transformers (every [seq, hidden] activation): place the long-lived first.
    ['greedy-by-size-lifetime', [...buffers].sort((a, b) => b.bytes - a.bytes || span(b) - span(a) || a.first - b.first)],
    ['greedy-by-order', [...buffers].sort((a, b) => a.first - b.first || b.bytes - a.bytes)],
    // Long-lived buffers (residual streams, masks) constrain everything around them: place them first.
    ['greedy-by-lifetime', [...buffers].sort((a, b) => span(b) - span(a) || b.bytes - a.bytes || a.first - b.first)],
    ['greedy-by-area', [...buffers].sort((a, b) => b.bytes * span(b) - a.bytes * span(a) || a.first - b.first)],
  ];
  const lowerBound = liveLowerBound(allBuffers);
  let best: { offsets: Map<number, number>; size: number; strategy: PlacementStrategy; refinements: number } | undefined;
  const consider = (r: { offsets: Map<number, number>; size: number }, strategy: PlacementStrategy, refinements: number) => {
    if (!best || r.size < best.size) best = { ...r, strategy, refinements };
  };
  for (const [strategy, initial] of orders) {
    let order = initial;
    let r = place(order, 'best', pinned);
    consider(r, strategy, 0);
    consider(place(order, 'first', pinned), strategy, 0);
    for (let round = 1; round <= MAX_REFINEMENTS && r.size > lowerBound; round++) {
      const top = new Set(order.filter((b) => r.offsets.get(b.id)! + alignUp(b.bytes, ARENA_ALIGNMENT) > lowerBound));
      order = [...order.filter((b) => top.has(b)), ...order.filter((b) => !top.has(b))];
      r = place(order, 'best', pinned);
      consider(r, strategy, round);
    }
    if (best!.size <= lowerBound) break;
  }
  best ??= { ...place([], 'best', pinned), strategy: 'greedy-by-size', refinements: 0 };
  const naiveSize = allBuffers.reduce((acc, b) => acc + alignUp(b.bytes, ARENA_ALIGNMENT), 0);
  return { offsets: best.offsets, size: best.size, lowerBound, naiveSize, strategy: best.strategy, refinements: best.refinements };
}
