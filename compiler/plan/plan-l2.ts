// plan-l2: the L2 tier of a GPU plan. A window at the start of the activation arena is what the
// runtime marks persisting in the GPU's L2 (an access-policy window), so the values placed there
// stay on chip between the kernels that write and read them. When the whole arena fits the budget
// it is all window; otherwise the values that gain most from L2 go in first: those read by the most
// kernels (each read a DRAM round trip saved), small ones before big ones at equal reads (more
// values per byte of window), while the window's own plan stays within the budget. The rest is
// planned around the window's buffers: in the window's bytes where those are dead, else after it
// (the DRAM tier), whichever packs the arena smaller.

import { alignUp } from '../artifact/format.js';
import { planMemory, type BufferRequest, type MemoryPlan } from './plan-memory.js';

/**
 * Bytes of L2 a cuda plan's window may take: below the persisting set-aside every supported card
 * allows (A100: 40 MB L2, 30 MB persisting; H100/H200: 50 MB, 37.5 MB), leaving room for weights
 * streaming through the rest.
 */
export const CUDA_L2_WINDOW_BYTES = 24 * 2 ** 20;

/** The window starts at offset 0 and its end is aligned to this (the DRAM tier starts there). */
export const L2_WINDOW_ALIGNMENT = 256;

export interface L2Request extends BufferRequest {
  /** Kernels that read the buffer. */
  reads: number;
}

export interface TieredMemoryPlan extends MemoryPlan {
  /** Bytes of the L2 window, from arena offset 0 (0 when nothing is in L2). */
  l2Window: number;
  /** Ids of the buffers inside the window. */
  l2: Set<number>;
}

export function planTieredMemory(buffers: readonly L2Request[], budget: number): TieredMemoryPlan {
  const whole = planMemory(buffers);
  if (budget <= 0 || buffers.length === 0) return { ...whole, l2Window: 0, l2: new Set() };
  if (whole.size <= budget) return { ...whole, l2Window: whole.size, l2: new Set(buffers.map((b) => b.id)) };
  // Rank by reads, then small first; grow the window while its live bound stays under the budget.
  const ranked = [...buffers].filter((b) => b.bytes <= budget).sort((a, b) => b.reads - a.reads || a.bytes - b.bytes || a.id - b.id);
  // Bytes live at each step among the chosen (their lower bound): a plan needs at least that much.
  const live = new Map<number, number>();
  let chosen: L2Request[] = [];
  for (const b of ranked) {
    if (b.reads < 1) break;
    let fits = true;
    for (let s = b.first; s <= b.last && fits; s++) fits = (live.get(s) ?? 0) + b.bytes <= budget;
    if (!fits) continue;
    for (let s = b.first; s <= b.last; s++) live.set(s, (live.get(s) ?? 0) + b.bytes);
    chosen.push(b);
  }
  // The bound is optimistic: drop the lowest-ranked until the window's actual plan fits.
  let window = planMemory(chosen);
  while (chosen.length && window.size > budget) {
    chosen = chosen.slice(0, -1);
    window = planMemory(chosen);
  }
  if (!chosen.length) return { ...whole, l2Window: 0, l2: new Set() };
  const inL2 = new Set(chosen.map((b) => b.id));
  const windowBytes = alignUp(window.size, L2_WINDOW_ALIGNMENT);
  // The window's buffers keep their offsets; the others go around them, into the window's bytes
  // too at steps where its buffers are dead (they then share the persisting lines), or, if that
  // packs worse, all after the window.
  const joint = planMemory(buffers, window.offsets);
  const rest = planMemory(buffers.filter((b) => !inL2.has(b.id)));
  let offsets = joint.offsets;
  let chosenPlan: MemoryPlan = joint;
  if (windowBytes + rest.size < joint.size) {
    offsets = new Map(window.offsets);
    for (const [id, off] of rest.offsets) offsets.set(id, windowBytes + off);
    chosenPlan = { ...rest, size: windowBytes + rest.size };
  }
  return {
    offsets,
    size: Math.max(chosenPlan.size, windowBytes),
    lowerBound: whole.lowerBound,
    naiveSize: whole.naiveSize,
    strategy: chosenPlan.strategy,
    refinements: chosenPlan.refinements,
    l2Window: windowBytes,
    l2: inL2,
  };
}
