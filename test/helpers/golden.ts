// Golden tests for passes: test/passes/golden/<pass>/<case>.mcir holds the IR before the pass and
// <case>.expected.mcir the IR after it. Set MCPC_UPDATE_GOLDEN=1 to rewrite the expected files,
// then review them as a diff. Every case also runs the reference interpreter before and after the
// pass on random inputs and requires equal results.

import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { interpret } from '../../compiler/interpreter/interpret.js';
import type { Graph } from '../../compiler/ir/graph.js';
import { parseGraph } from '../../compiler/ir/parser.js';
import { printGraph } from '../../compiler/ir/printer.js';
import { TensorData } from '../../compiler/ir/tensor.js';
import { verifyGraph } from '../../compiler/ir/verify.js';
import type { Pass, PassContext } from '../../compiler/passes/pass.js';
import { newPassContext } from '../../compiler/passes/pass.js';

export const GOLDEN_DIR = join(import.meta.dirname, '..', 'passes', 'golden');
const UPDATE = process.env['MCPC_UPDATE_GOLDEN'] === '1';

export function goldenCases(pass: string): string[] {
  const dir = join(GOLDEN_DIR, pass);
  return readdirSync(dir).filter((f) => f.endsWith('.mcir') && !f.endsWith('.expected.mcir')).map((f) => f.replace(/\.mcir$/, '')).sort();
}

/** Deterministic inputs for a graph with static input shapes. */
export function randomFeeds(g: Graph, seed = 1): Map<string, TensorData> {
  let s = seed >>> 0;
  const next = () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
  const feeds = new Map<string, TensorData>();
  for (const v of g.inputs) {
    const dims = v.type.shape.map((d) => (typeof d === 'number' ? d : 2));
    const n = dims.reduce((a, b) => a * b, 1);
    const vals = Float64Array.from({ length: n }, () => (v.type.dtype.startsWith('f') ? next() * 2 - 1 : Math.floor(next() * 4)));
    feeds.set(v.name, TensorData.fromValues(v.type.dtype, dims, vals));
  }
  return feeds;
}

export function runGolden(pass: Pass, name: string, ctx: PassContext = newPassContext()): { changed: boolean; before: Graph; after: Graph } {
  const path = join(GOLDEN_DIR, pass.name, `${name}.mcir`);
  const expectedPath = join(GOLDEN_DIR, pass.name, `${name}.expected.mcir`);
  const src = readFileSync(path, 'utf8');
  const before = parseGraph(src, path);
  expect(verifyGraph(before)).toEqual([]);
  const after = parseGraph(src, path);
  const changed = pass.run(after, ctx);
  expect(verifyGraph(after)).toEqual([]);
  const printed = printGraph(after);
  if (UPDATE || !existsSync(expectedPath)) writeFileSync(expectedPath, printed);
  expect(printed).toBe(readFileSync(expectedPath, 'utf8'));
  // The pass must not change what the graph computes.
  const feeds = randomFeeds(after);
  const want = interpret(before, feeds);
  const got = interpret(after, feeds);
  for (const [k, v] of want) {
    const g = got.get(k);
    expect(g, `output ${k}`).toBeDefined();
    expect(g!.dims).toEqual(v.dims);
    const a = Array.from(g!.values);
    const b = Array.from(v.values);
    a.forEach((x, i) => expect(Math.abs(x - b[i]!)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(b[i]!))));
  }
  return { changed, before, after };
}
