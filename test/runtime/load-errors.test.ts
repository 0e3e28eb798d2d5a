// A corrupted or truncated artifact, or an inconsistent plan, is an error with a code that names
// what is wrong, never a crash; the native side validates the plan on its own (MCPC4010) and names
// the op and node of a missing kernel (MCPC4011).

import { describe, expect, it } from 'vitest';
import { readArtifact, Session } from '../../runtime/index.js';
import { loadNativeAddon, type NativeLoadArgs } from '../../runtime/native-addon.js';
import { compileTinyCnn } from './helpers.js';

const { artifact } = compileTinyCnn();

function loadArgs(edit: (a: NativeLoadArgs) => void): NativeLoadArgs {
  const a = readArtifact(new Uint8Array(artifact));
  const w = a.header.sections.find((s) => s.name === 'weights')!;
  const args: NativeLoadArgs = {
    plan: structuredClone(a.plan),
    arenaSize: a.header.arena.size,
    bytes: a.bytes,
    weightsOffset: w.offset,
    weightsLength: w.length,
    weights: a.header.weights.map((x) => ({ offset: x.offset, byteLength: x.byteLength })),
  };
  edit(args);
  return args;
}

describe('load errors', () => {
  it('reports a truncated artifact', async () => {
    await expect(Session.load(artifact.subarray(0, artifact.length - 100))).rejects.toMatchObject({ code: 'MCPC4004' });
    await expect(Session.load(artifact.subarray(0, 40))).rejects.toMatchObject({ code: 'MCPC4004' });
  });

  it('reports a corrupted artifact', async () => {
    const bad = Buffer.from(artifact);
    bad[bad.length - 5]! ^= 0xff; // inside the weights section
    await expect(Session.load(bad)).rejects.toMatchObject({ code: 'MCPC4003', message: expect.stringContaining('weights section checksum') });
    const magic = Buffer.from(artifact);
    magic[0] = 0;
    await expect(Session.load(magic)).rejects.toMatchObject({ code: 'MCPC4001' });
  });

  it('reports a missing file', async () => {
    await expect(Session.load('/nonexistent/model.mcp')).rejects.toMatchObject({ code: 'MCPC1001' });
  });

  it('validates the plan natively: arena ranges, slot ids, weight ranges', async () => {
    const addon = loadNativeAddon();
    const arena = loadArgs((a) => {
      const s = a.plan.slots.find((x) => x.kind === 'arena')!;
      s.index = a.arenaSize;
    });
    await expect(addon.loadSession(arena)).rejects.toMatchObject({ code: 'MCPC4010', message: expect.stringContaining('outside the') });
    let pool = -1;
    const slotId = loadArgs((a) => {
      pool = a.plan.kernels.findIndex((k) => k.op === 'MaxPool');
      a.plan.kernels[pool]!.inputs[0] = 999;
    });
    await expect(addon.loadSession(slotId)).rejects.toMatchObject({ code: 'MCPC4010', message: expect.stringContaining(`plan.kernels[${pool}] (MaxPool`) });
    const weight = loadArgs((a) => {
      a.weights[0]!.offset = a.weightsLength;
    });
    await expect(addon.loadSession(weight)).rejects.toMatchObject({ code: 'MCPC4010', message: expect.stringContaining('weights section') });
    const writesInput = loadArgs((a) => {
      a.plan.kernels[0]!.outputs[0] = a.plan.inputSlots[0]!;
    });
    await expect(addon.loadSession(writesInput)).rejects.toMatchObject({ code: 'MCPC4010' });
    const malformed = loadArgs((a) => {
      (a.plan.slots[2] as { shape: unknown }).shape = [1, -3];
    });
    // Malformed fields are thrown synchronously by the binding; Session.load turns them into rejections.
    await expect((async () => addon.loadSession(malformed))()).rejects.toThrow(/plan\.slots\[2\]\.shape\[1\] must be a non-negative integer/);
  });

  it('names the op and node of a kernel the build does not have (MCPC4011)', async () => {
    let index = -1;
    let source = '';
    const args = loadArgs((a) => {
      index = a.plan.kernels.findIndex((k) => k.op === 'MaxPool');
      source = a.plan.kernels[index]!.sources[0]!;
      a.plan.kernels[index]!.op = 'NoSuchOp';
    });
    await expect(loadNativeAddon().loadSession(args)).rejects.toMatchObject({
      code: 'MCPC4011',
      message: `op NoSuchOp at node '${source}' (kernel ${index}) has no cpu kernel in this build`,
    });
  });
});
