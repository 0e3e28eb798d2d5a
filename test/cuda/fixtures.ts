// Shared by models-cnn.test.ts and models-transformer.test.ts: a fixture model compiled for
// --target cuda and run end to end on the CPU emulator (library anchors by the reference loops,
// every other kernel by its generated code), compared with the reference interpreter on the same
// optimized graph.

import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import type { Precision } from '../../compiler/artifact/format.js';
import { toTensorData } from '../helpers/compare.js';
import { fixturePath, materializeFixture } from '../helpers/fixture-models.js';
import { makeInputs } from '../helpers/ort.js';
import { compileCuda, type CudaCompiled } from './harness.js';
import { checkModel } from './helpers.js';

export async function runFixture(name: string, precision: Precision, tol: number, skip: string[] = []): Promise<CudaCompiled> {
  const path = await materializeFixture(name);
  const compiled = compileCuda(readFileSync(path), { path, precision, skip });
  const feeds = Object.fromEntries(Object.entries(makeInputs(fixturePath(name, '.inputs.json'))).map(([k, v]) => [k, toTensorData(v)]));
  const { errors } = checkModel(`model ${name} ${precision}${skip.length ? ' unfused' : ''}`, new Uint8Array(), { compiled, feeds, tol });
  expect(Object.keys(errors).length).toBeGreaterThan(0);
  return compiled;
}

