// The tiny CNN fixtures (resnet18, mobilenet_v2; both exporters) on the cuda emulator: fp32 plans
// with fusion, and fp16 plans without the fuse pass (with it, the lower-precision pass's final Cast
// to f32 joins the classifier Gemm's epilogue, which the cuda target refuses: refusals.test.ts).

import { afterAll, describe, it } from 'vitest';
import { listFixtures } from '../helpers/fixture-models.js';
import { runFixture } from './fixtures.js';
import { printMeasured } from './helpers.js';

afterAll(() => printMeasured('model'));

describe('CNN fixtures on the cuda emulator', () => {
  for (const f of listFixtures().filter((x) => x.family === 'resnet18' || x.family === 'mobilenet_v2')) {
    it(`${f.name} (fp32) matches the reference interpreter`, async () => {
      await runFixture(f.name, 'fp32', 1e-4);
    });
  }
  // fp16 through 50 layers: storage rounding flips compound (the interpreter rounds the same tensors
  // but computes in float64), hence the looser bound.
  for (const name of ['mobilenet_v2.dynamo']) {
    it(`${name} (fp16, without the fuse pass) matches the reference interpreter`, async () => {
      await runFixture(name, 'fp16', 3e-2, ['fuse']);
    });
  }
});
