// The tiny CNN fixtures (resnet18, mobilenet_v2; both exporters) on the cuda emulator: fp32 plans
// with fusion (NCHW), and fp16 plans with and without fusion, which run channels-last (the
// channels-last pass): NhwcConv through the emulated cuDNN call, NHWC pools and reductions, one
// Transpose at the input and none elsewhere. mobilenet_v2's depthwise convolutions run the
// generated kernel (depthwise.ts) in both layouts.

import { afterAll, describe, expect, it } from 'vitest';
import type { Kernel, KernelPlan } from '../../compiler/artifact/format.js';
import { listFixtures } from '../helpers/fixture-models.js';
import { runFixture } from './fixtures.js';
import { printMeasured } from './helpers.js';

afterAll(() => printMeasured('model'));

const CNN = listFixtures().filter((x) => x.family === 'resnet18' || x.family === 'mobilenet_v2');

/** Convolutions with group > 1 (mobilenet_v2's depthwise ones) run the generated kernel, the others cuDNN. */
function expectDepthwiseGenerated(plan: KernelPlan, family: string): void {
  const convs = plan.kernels.filter((k) => k.op === 'Conv' || k.op === 'NhwcConv');
  const grouped = (k: Kernel) => {
    const g = k.attrs['group'];
    return g !== undefined && 'i' in g && g.i > 1;
  };
  expect(convs.filter((k) => !grouped(k)).every((k) => k.cuda!.library === 'cudnn')).toBe(true);
  const depthwise = convs.filter(grouped);
  expect(depthwise.length).toBe(family === 'mobilenet_v2' ? 17 : 0);
  for (const k of depthwise) expect([k.cuda!.library, k.cuda!.after.length]).toEqual([undefined, 1]);
}

describe('CNN fixtures on the cuda emulator', () => {
  for (const f of CNN) {
    it(`${f.name} (fp32) matches the reference interpreter`, async () => {
      const c = await runFixture(f.name, 'fp32', 1e-4);
      expect(c.plan.kernels.some((k) => k.op.startsWith('Nhwc'))).toBe(false);
      expectDepthwiseGenerated(c.plan, f.family);
    });
  }
  // fp16 through 50 layers: storage rounding flips compound (the interpreter rounds the same tensors
  // but computes in float64), hence the looser bound.
  for (const f of CNN) {
    it(`${f.name} (fp16, channels-last) matches the reference interpreter`, async () => {
      const c = await runFixture(f.name, 'fp16', 3e-2);
      const ops = c.plan.kernels.map((k) => k.op);
      expect(ops.filter((o) => o === 'Conv')).toEqual([]);
      expect(ops.filter((o) => o === 'NhwcConv').length).toBeGreaterThan(10);
      // The only layout change is the input's; the global pool's [N,1,1,C] result is flattened directly.
      expect(ops.filter((o) => o === 'Transpose')).toEqual(['Transpose']);
      expect(ops.indexOf('Transpose')).toBeLessThan(ops.indexOf('NhwcConv'));
      expectDepthwiseGenerated(c.plan, f.family);
    });
  }
  for (const name of ['mobilenet_v2.dynamo']) {
    it(`${name} (fp16, without the fuse pass) matches the reference interpreter`, async () => {
      await runFixture(name, 'fp16', 3e-2, ['fuse']);
    });
  }
});
