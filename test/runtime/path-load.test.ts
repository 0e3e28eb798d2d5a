// Session.load from a path reads only the preamble, header and plan and maps the file for the
// weights: same outputs as a load from bytes, the same coded errors for truncated or corrupted
// files, and the weights' checksum only on request (verifyWeights).

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readArtifact, Session, Tensor } from '../../runtime/index.js';
import { compileBytes, compileTinyCnn, matmulChainModel, randomFloats } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'mcpc-path-load-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, bytes: Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    return (e as { code?: string }).code;
  }
}

const SHAPE = [1, 3, 32, 32];

describe('Session.load(path)', () => {
  it('gives the outputs of a load from bytes (tiny-cnn and a packed MatMul chain)', async () => {
    const { artifact } = compileTinyCnn();
    const a = await Session.load(artifact, { threads: 2 });
    const b = await Session.load(write('tiny.mcp', artifact), { threads: 2 });
    const x = randomFloats(3 * 32 * 32, 5);
    const ya = (await a.run({ input: new Tensor('f32', x, SHAPE) })).logits!.data as Float32Array;
    const yb = (await b.run({ input: new Tensor('f32', x, SHAPE) })).logits!.data as Float32Array;
    expect(Array.from(yb)).toEqual(Array.from(ya));
    a.dispose();
    b.dispose();

    const chain = compileBytes(matmulChainModel(64, 3)).artifact;
    const c = await Session.load(chain, { threads: 1 });
    const d = await Session.load(write('chain.mcp', chain), { threads: 1, verifyWeights: true });
    const xc = randomFloats(64 * 64, 9);
    const yc = (await c.run({ x: new Tensor('f32', xc, [64, 64]) })).y!.data as Float32Array;
    for (let r = 0; r < 2; r++) {
      const yd = (await d.run({ x: new Tensor('f32', xc, [64, 64]) })).y!.data as Float32Array;
      expect(Array.from(yd)).toEqual(Array.from(yc));
    }
    c.dispose();
    d.dispose();
  });

  it('reports truncated files with the codes of a load from bytes', async () => {
    const { artifact } = compileTinyCnn();
    const weights = readArtifact(new Uint8Array(artifact)).header.sections.find((s) => s.name === 'weights')!;
    for (const n of [0, 4, 8, 40, 60, 200, weights.offset, weights.offset + 10, artifact.length - 100, artifact.length - 1]) {
      const cut = artifact.subarray(0, n);
      const want = await codeOf(Session.load(cut));
      expect(want).toBeDefined();
      expect(await codeOf(Session.load(write(`cut${n}.mcp`, cut)))).toBe(want);
    }
  });

  it('checks header and plan always, the weights only with verifyWeights', async () => {
    const { artifact } = compileTinyCnn();
    const header = Buffer.from(artifact);
    header[70]! ^= 0xff;
    expect(await codeOf(Session.load(write('hdr.mcp', header)))).toBe('MCPC4003');
    const plan = readArtifact(new Uint8Array(artifact)).header.sections.find((s) => s.name === 'plan')!;
    const badPlan = Buffer.from(artifact);
    badPlan[plan.offset + 3]! ^= 0xff;
    expect(await codeOf(Session.load(write('plan.mcp', badPlan)))).toBe('MCPC4003');
    const badWeights = Buffer.from(artifact);
    badWeights[badWeights.length - 5]! ^= 0xff;
    const p = write('w.mcp', badWeights);
    await expect(Session.load(p, { verifyWeights: true })).rejects.toMatchObject({ code: 'MCPC4003', message: expect.stringContaining('weights section checksum') });
    (await Session.load(p)).dispose();
    expect(await codeOf(Session.load(dir))).toBe('MCPC1001');
    expect(await codeOf(Session.load(join(dir, 'missing.mcp')))).toBe('MCPC1001');
  });
});
