// Golden tests for lower-precision (test/passes/golden/lower-precision/): float32 activations and
// weights become float16/bfloat16 inside the graph, the signature stays float32, and results stay
// within the storage type's rounding of the float32 ones.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { interpret } from '../../compiler/interpreter/interpret.js';
import { importOnnxFile } from '../../compiler/onnx/import.js';
import type { Graph } from '../../compiler/ir/graph.js';
import { parseGraph } from '../../compiler/ir/parser.js';
import { printGraph } from '../../compiler/ir/printer.js';
import { verifyGraph } from '../../compiler/ir/verify.js';
import { f32BitsToBf16Bits, f32BitsToF16Bits, lowerPrecisionPass } from '../../compiler/passes/lower-precision.js';
import { numberToBF16Bits, numberToF16Bits } from '../../compiler/ir/dtype.js';
import { newPassContext } from '../../compiler/passes/pass.js';
import { runPipeline } from '../../compiler/passes/pipeline.js';
import { relativeError, toTensorData } from '../helpers/compare.js';
import { fixturePath, materializeFixture } from '../helpers/fixture-models.js';
import { GOLDEN_DIR, goldenCases, randomFeeds } from '../helpers/golden.js';
import { makeInputs } from '../helpers/ort.js';

const UPDATE = process.env['MCPC_UPDATE_GOLDEN'] === '1';

function lowerCase(name: string, low: 'f16' | 'bf16'): { changed: boolean; before: Graph; after: Graph } {
  const path = join(GOLDEN_DIR, 'lower-precision', `${name}.mcir`);
  const src = readFileSync(path, 'utf8');
  const before = parseGraph(src, path);
  const after = parseGraph(src, path);
  const changed = lowerPrecisionPass.run(after, newPassContext(undefined, undefined, low));
  expect(verifyGraph(after).join("; ")).toBe("");
  return { changed, before, after };
}

function maxRelativeError(before: Graph, after: Graph): number {
  const feeds = randomFeeds(before, 7);
  const want = interpret(before, feeds);
  const got = interpret(after, feeds);
  let worst = 0;
  for (const [name, w] of want) {
    const g = got.get(name)!;
    expect(g.dtype, `output ${name}`).toBe(w.dtype);
    expect(g.dims).toEqual(w.dims);
    const scale = Math.max(...Array.from(w.values, Math.abs), 1e-30);
    w.values.forEach((x, i) => (worst = Math.max(worst, Math.abs(g.values[i]! - x) / scale)));
  }
  return worst;
}

describe('lower-precision', () => {
  it('stores a linear layer in f16 behind a float32 signature', () => {
    const { changed, before, after } = lowerCase('linear', 'f16');
    expect(changed).toBe(true);
    const printed = printGraph(after);
    const expectedPath = join(GOLDEN_DIR, 'lower-precision', 'linear.expected.mcir');
    if (UPDATE || !existsSync(expectedPath)) writeFileSync(expectedPath, printed);
    expect(printed).toBe(readFileSync(expectedPath, 'utf8'));
    expect(after.inputs.map((v) => `${v.name}:${v.type.dtype}`)).toEqual(['x:f32', 'ids:i64']);
    expect(after.outputs.map((v) => `${v.name}:${v.type.dtype}`)).toEqual(['y:f32', 'h:f32']);
    const err = maxRelativeError(before, after);
    expect(err).toBeGreaterThan(0); // really rounded
    expect(err).toBeLessThan(5e-3);
  });
  it('keeps bfloat16 within its 8-bit significand', () => {
    const { before, after } = lowerCase('linear', 'bf16');
    expect(after.nodes.filter((n) => n.op === 'Cast').length).toBe(4);
    const err = maxRelativeError(before, after);
    expect(err).toBeGreaterThan(0);
    expect(err).toBeLessThan(3e-2);
  });
  it('leaves integer and float64 graphs alone, and does nothing for f32 storage', () => {
    expect(lowerCase('negative', 'f16').changed).toBe(false);
    const path = join(GOLDEN_DIR, 'lower-precision', 'linear.mcir');
    expect(lowerPrecisionPass.run(parseGraph(readFileSync(path, 'utf8'), path), newPassContext())).toBe(false);
  });
  it('converts weights bit by bit exactly as the IR rounds values', () => {
    const f = new Float32Array(1);
    const u = new Uint32Array(f.buffer);
    let seed = 11;
    const next = () => ((seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32);
    const specials = [0, -0, 1, -1, 65504, 65520, 1e-8, 6e-8, 3e-8, 5.96e-8, 1e-5, 3.4e38, Infinity, -Infinity, NaN, 1 + 2 ** -11, 1 + 3 * 2 ** -11];
    const samples = [...specials, ...Array.from({ length: 20000 }, () => (next() - 0.5) * 2 ** Math.floor(next() * 60 - 30))];
    for (const x of samples) {
      f[0] = x;
      expect(f32BitsToF16Bits(u[0]!), `f16 of ${f[0]}`).toBe(numberToF16Bits(f[0]!));
      expect(f32BitsToBf16Bits(u[0]!), `bf16 of ${f[0]}`).toBe(numberToBF16Bits(f[0]!));
    }
  });
  it('has a test for every golden case', () => {
    expect(goldenCases('lower-precision')).toEqual(['linear', 'negative']);
  });
});

describe('lower-precision on small models', () => {
  // Every optimizer pass, then f16 storage. The interpreter rounds every op's result to f16 (fused
  // kernels round less often), so this bounds what a plan can lose: 1.3e-3 on bert_tiny, 1.3e-2 on
  // mobilenet_v2 (52 layers of rounding) measured.
  for (const name of ['bert_tiny.dynamo', 'mobilenet_v2.torchscript']) {
    it(name, async () => {
      const model = await materializeFixture(name);
      const feeds = new Map(Object.entries(makeInputs(fixturePath(name, '.inputs.json'))).map(([k, v]) => [k, toTensorData(v)]));
      const reference = importOnnxFile(model).graph;
      runPipeline(reference, { verify: true, skip: ['fuse'] });
      const lowered = importOnnxFile(model).graph;
      runPipeline(lowered, { verify: true, skip: ['fuse'], floatStorage: 'f16' });
      expect(lowered.nodes.some((n) => n.outputs.some((v) => v.type.dtype === 'f16'))).toBe(true);
      const want = interpret(reference, feeds);
      const got = interpret(lowered, feeds);
      for (const [output, w] of want) {
        const err = relativeError(got.get(output)!.values, w.values);
        console.log(`${name} ${output} in f16: relative error ${err.toExponential(2)}`);
        expect(err).toBeGreaterThan(0);
        expect(err).toBeLessThan(2e-2);
      }
    });
  }
});
