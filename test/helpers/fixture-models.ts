// Small fixture models (test/fixtures/models/, made by scripts/make-fixtures.py).
//
// Each committed `<name>.onnx` keeps its large float initializers as ONNX external data in
// `<name>.weights`, which is NOT committed. `<name>.weights.json` lists those tensors (name, dims,
// offset, length, and mean/std/min/max of the original values); `materializeFixture` regenerates the
// weights file deterministically (uniform values with the recorded mean and std, clamped to
// [min, max], from a PRNG seeded by a hash of the tensor name) next to a copy of the .onnx in a
// per-process temp dir, and returns the path of that copy.

import { existsSync, readFileSync, rmSync } from 'node:fs';
import { copyFile, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FIXTURE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../fixtures/models');

import { hashString, mulberry32 } from '../../scripts/model-inputs.js';

export { hashString, mulberry32 };

export interface WeightTensor {
  name: string;
  dtype: 'float32';
  dims: number[];
  offset: number;
  length: number;
  mean: number;
  std: number;
  min: number;
  max: number;
}

export interface WeightsManifest {
  model: string;
  weights: string;
  total_bytes: number;
  align: number;
  tensors: WeightTensor[];
}

export interface FixtureInfo {
  /** `<family>.<exporter>`, the argument of materializeFixture. */
  name: string;
  family: string;
  exporter: 'torchscript' | 'dynamo';
  ok: boolean;
  ir_version?: number;
  opsets?: Record<string, number>;
  nodes?: number;
  inputs?: string[];
  outputs?: { name: string; dims: (number | string)[] }[];
  error?: string;
}

/** Fixtures listed in index.json; by default only those whose export succeeded. */
export function listFixtures(includeFailed = false): FixtureInfo[] {
  const index = JSON.parse(readFileSync(join(FIXTURE_DIR, 'index.json'), 'utf8')) as { fixtures: FixtureInfo[] };
  return index.fixtures.filter((f) => includeFailed || f.ok);
}

function stripOnnx(name: string): string {
  return name.endsWith('.onnx') ? name.slice(0, -'.onnx'.length) : name;
}

/** Path of a committed fixture file, e.g. fixturePath('bert_tiny.dynamo', '.inputs.json'). */
export function fixturePath(name: string, suffix: '.onnx' | '.weights.json' | '.inputs.json'): string {
  return join(FIXTURE_DIR, stripOnnx(name) + suffix);
}

/** The bytes of a weights file regenerated from its manifest (float32 little-endian, zero gaps). */
export function generateWeights(manifest: WeightsManifest): Uint8Array {
  const buf = new ArrayBuffer(manifest.total_bytes);
  const view = new DataView(buf);
  for (const t of manifest.tensors) {
    if (t.dtype !== 'float32') throw new Error(`${manifest.model}: ${t.name}: unsupported external dtype ${t.dtype}`);
    const count = t.dims.reduce((a, b) => a * b, 1);
    if (count * 4 !== t.length) throw new Error(`${manifest.model}: ${t.name}: length ${t.length} != 4 * ${count}`);
    const rand = mulberry32(hashString(t.name));
    const half = t.std * Math.sqrt(3);
    for (let i = 0; i < count; i++) {
      let v = t.mean + (2 * rand() - 1) * half;
      if (v < t.min) v = t.min;
      if (v > t.max) v = t.max;
      view.setFloat32(t.offset + 4 * i, v, true);
    }
  }
  return new Uint8Array(buf);
}

let tempRoot: Promise<string> | undefined;
const cache = new Map<string, Promise<string>>();

function getTempRoot(): Promise<string> {
  tempRoot ??= mkdtemp(join(tmpdir(), 'mcpc-fixtures-')).then((dir) => {
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    return dir;
  });
  return tempRoot;
}

async function materialize(name: string): Promise<string> {
  const src = fixturePath(name, '.onnx');
  if (!existsSync(src)) throw new Error(`no fixture model ${src}`);
  const dir = await getTempRoot();
  const dst = join(dir, `${name}.onnx`);
  await copyFile(src, dst);
  const manifestPath = fixturePath(name, '.weights.json');
  if (existsSync(manifestPath)) {
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as WeightsManifest;
    if (manifest.tensors.length > 0) await writeFile(join(dir, manifest.weights), generateWeights(manifest));
  }
  return dst;
}

/**
 * Copies fixture `<name>.onnx` (name like 'resnet18.torchscript'; a trailing '.onnx' is ignored) into
 * a per-process temp dir, writes its regenerated `<name>.weights` next to it, and returns the path of
 * the copied .onnx. Cached: each fixture is materialized once per process.
 */
export function materializeFixture(name: string): Promise<string> {
  const key = stripOnnx(name);
  let p = cache.get(key);
  if (!p) {
    p = materialize(key);
    cache.set(key, p);
    p.catch(() => cache.delete(key));
  }
  return p;
}
