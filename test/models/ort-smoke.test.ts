// Smoke test of the fixture models on the reference runtime (onnxruntime-node): every fixture
// materializes (weights regenerated from its manifest), runs, and gives outputs of the declared
// shapes with finite, non-degenerate values.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  FIXTURE_DIR,
  fixturePath,
  generateWeights,
  listFixtures,
  materializeFixture,
  type WeightsManifest,
} from '../helpers/fixture-models.js';
import { makeInputs, readInputsJson, runOrt, type TensorValue } from '../helpers/ort.js';

const EXAMPLE = resolve(FIXTURE_DIR, '../../../examples/tiny-cnn');

function checkOutputs(outs: Record<string, TensorValue>, declared: { name: string; dims: (number | string)[] }[]) {
  expect(Object.keys(outs).sort()).toEqual(declared.map((o) => o.name).sort());
  for (const o of declared) {
    const v = outs[o.name]!;
    expect(v.dtype).toBe('float32');
    expect(v.dims).toEqual(o.dims);
    expect(v.data.length).toBe(v.dims.reduce((a, b) => a * b, 1));
    let maxAbs = 0;
    let nonFinite = 0;
    for (const x of v.data as Float32Array) {
      if (!Number.isFinite(x)) nonFinite++;
      else maxAbs = Math.max(maxAbs, Math.abs(x));
    }
    expect(nonFinite).toBe(0);
    // Random weights must not collapse the outputs to ~0 (that would make comparisons vacuous).
    expect(maxAbs).toBeGreaterThan(1e-3);
  }
}

describe('fixture models', () => {
  const fixtures = listFixtures();

  it('index lists both exporters for every family', () => {
    const names = new Set(listFixtures(true).map((f) => f.name));
    for (const family of ['resnet18', 'mobilenet_v2', 'vit_tiny', 'bert_tiny', 'gpt2_tiny']) {
      expect(names.has(`${family}.torchscript`)).toBe(true);
      expect(names.has(`${family}.dynamo`)).toBe(true);
    }
    expect(fixtures.length).toBeGreaterThan(0);
  });

  it('committed fixture files stay small', () => {
    let total = 0;
    for (const f of readdirSync(FIXTURE_DIR)) {
      const size = statSync(join(FIXTURE_DIR, f)).size;
      expect(f.endsWith('.weights') ? f : 'ok').toBe('ok'); // weights files are generated, never committed
      expect(size).toBeLessThan(1 << 20);
      total += size;
    }
    expect(total).toBeLessThan(6 << 20);
  });

  it('regenerated weights are deterministic and follow the manifest statistics', () => {
    const manifest = JSON.parse(readFileSync(fixturePath('bert_tiny.torchscript', '.weights.json'), 'utf8')) as WeightsManifest;
    const a = generateWeights(manifest);
    const b = generateWeights(manifest);
    expect(a.length).toBe(manifest.total_bytes);
    expect(Buffer.compare(Buffer.from(a), Buffer.from(b))).toBe(0);
    const view = new DataView(a.buffer, a.byteOffset, a.byteLength);
    for (const t of manifest.tensors) {
      const n = t.length / 4;
      let sum = 0;
      let sq = 0;
      let lo = Infinity;
      let hi = -Infinity;
      for (let i = 0; i < n; i++) {
        const v = view.getFloat32(t.offset + 4 * i, true);
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
        sum += v;
        sq += v * v;
      }
      expect(lo).toBeGreaterThanOrEqual(Math.fround(t.min));
      expect(hi).toBeLessThanOrEqual(Math.fround(t.max));
      const mean = sum / n;
      const std = Math.sqrt(Math.max(0, sq / n - mean * mean));
      expect(Math.abs(mean - t.mean)).toBeLessThanOrEqual(0.1 * t.std + 1e-6);
      expect(Math.abs(std - t.std)).toBeLessThanOrEqual(0.1 * t.std + 1e-6);
    }
  });

  for (const f of fixtures) {
    it(`${f.name} runs on onnxruntime-node`, async () => {
      const modelPath = await materializeFixture(f.name);
      expect(await materializeFixture(f.name)).toBe(modelPath); // cached per process
      const inputsPath = fixturePath(f.name, '.inputs.json');
      const outs = await runOrt(modelPath, makeInputs(inputsPath));
      checkOutputs(outs, readInputsJson(inputsPath).outputs);
    });
  }
});

describe('examples/tiny-cnn.onnx', () => {
  it('runs on onnxruntime-node', async () => {
    const inputsPath = `${EXAMPLE}.inputs.json`;
    const outs = await runOrt(`${EXAMPLE}.onnx`, makeInputs(inputsPath));
    checkOutputs(outs, readInputsJson(inputsPath).outputs);
  });

  it('makeInputs is deterministic', () => {
    const a = makeInputs(`${EXAMPLE}.inputs.json`).input!;
    const b = makeInputs(`${EXAMPLE}.inputs.json`).input!;
    expect(a.dims).toEqual([1, 3, 32, 32]);
    expect(Array.from(a.data as Float32Array)).toEqual(Array.from(b.data as Float32Array));
    expect(Math.max(...Array.from(a.data as Float32Array, Math.abs))).toBeLessThanOrEqual(1);
  });
});

describe('makeInputs for token models', () => {
  it('gives int64 ids within the vocabulary and all-ones masks', () => {
    const feeds = makeInputs(fixturePath('bert_tiny.torchscript', '.inputs.json'));
    const ids = feeds.input_ids!;
    expect(ids.dtype).toBe('int64');
    expect(ids.dims).toEqual([1, 16]);
    expect(Array.from(ids.data as BigInt64Array).every((v) => v >= 0n && v < 1000n)).toBe(true);
    expect(new Set(Array.from(ids.data as BigInt64Array)).size).toBeGreaterThan(1);
    for (const v of feeds.attention_mask!.data as BigInt64Array) expect(v).toBe(1n);
    for (const v of feeds.token_type_ids!.data as BigInt64Array) expect(v).toBe(0n);
  });
});
