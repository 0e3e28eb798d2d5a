// What a pass is: a named graph transformation with a one-line summary, run by the pass manager
// (pipeline.ts). A pass reports user errors by throwing a DiagnosticError; any other exception is a
// compiler bug. `run` returns whether it changed the graph.

import type { Graph } from '../ir/graph.js';
import type { Dim } from '../ir/types.js';

export interface PassContext {
  /** Symbol and input-shape bindings from --shape (input name -> dims), applied by bind-shapes. */
  readonly shapeBindings: ReadonlyMap<string, readonly number[]>;
  /** Input contents fixed at compile time with --value (input name -> data), applied by bind-shapes. */
  readonly valueBindings: ReadonlyMap<string, readonly number[]>;
  /**
   * Storage type of the plan's float activations and weights: 'f32', or 'f16'/'bf16' from
   * --precision fp16|bf16, applied by lower-precision.
   */
  readonly floatStorage: 'f32' | 'f16' | 'bf16';
  /**
   * Largest |x| of each float32 value on calibration inputs, by value name (fp16 plans; see
   * lower-precision's range guard). Absent: no calibration, every float is stored low.
   */
  readonly valueRanges?: ReadonlyMap<string, number>;
  /** Per-pass counters (nodes removed, constants folded...) for --json and progress output. */
  readonly stats: Map<string, Record<string, number>>;
  /** Set by lower-precision: the nodes an fp16 plan keeps in float32 and why (empty: none). */
  float32Nodes?: { node: string; op: string; why: string }[];
}

export interface Pass {
  readonly name: string;
  readonly summary: string;
  run(graph: Graph, ctx: PassContext): boolean;
}

export function bumpStat(ctx: PassContext, pass: string, key: string, by = 1): void {
  let s = ctx.stats.get(pass);
  if (!s) ctx.stats.set(pass, (s = {}));
  s[key] = (s[key] ?? 0) + by;
}

export function newPassContext(
  shapeBindings: ReadonlyMap<string, readonly number[]> = new Map(),
  valueBindings: ReadonlyMap<string, readonly number[]> = new Map(),
  floatStorage: PassContext['floatStorage'] = 'f32',
  valueRanges?: ReadonlyMap<string, number>,
): PassContext {
  return { shapeBindings, valueBindings, floatStorage, ...(valueRanges ? { valueRanges } : {}), stats: new Map() };
}

export type SymbolBindings = Map<string, Dim>;
