// The tiny transformer fixtures (bert_tiny, gpt2_tiny, vit_tiny; both exporters) on the cuda
// emulator: fp32 plans, gpt2_tiny also as fp16 and bf16 plans with fusion, and bert_tiny/vit_tiny as
// fp16 plans without the fuse pass (see models-cnn.test.ts for why).

import { afterAll, describe, it } from 'vitest';
import { listFixtures } from '../helpers/fixture-models.js';
import { runFixture } from './fixtures.js';
import { printMeasured } from './helpers.js';

afterAll(() => printMeasured('model'));

describe('transformer fixtures on the cuda emulator', () => {
  for (const f of listFixtures().filter((x) => x.family !== 'resnet18' && x.family !== 'mobilenet_v2')) {
    it(`${f.name} (fp32) matches the reference interpreter`, async () => {
      await runFixture(f.name, 'fp32', 1e-4);
    });
  }
  for (const [name, precision] of [['gpt2_tiny.torchscript', 'fp16'], ['gpt2_tiny.dynamo', 'bf16']] as const) {
    it(`${name} (${precision}) matches the reference interpreter`, async () => {
      await runFixture(name, precision, precision === 'fp16' ? 1e-2 : 3e-2);
    });
  }
  for (const name of ['bert_tiny.dynamo', 'vit_tiny.torchscript']) {
    it(`${name} (fp16, without the fuse pass) matches the reference interpreter`, async () => {
      await runFixture(name, 'fp16', 1e-2, ['fuse']);
    });
  }
});
