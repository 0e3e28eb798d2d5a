// Artifact v1: written by the compiler, read back by the runtime's reader with the same plan and
// weights; other versions, bad magic, truncation and corruption are errors with codes.

import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ARTIFACT_VERSION, WEIGHTS_ALIGNMENT } from '../../compiler/artifact/format.js';
import { artifactToBuffer } from '../../compiler/artifact/writer.js';
import { compileModel, readModelFile } from '../../compiler/compile.js';
import { readArtifact, ArtifactError } from '../../runtime/artifact-reader.js';

const EXAMPLE = join(import.meta.dirname, '..', '..', 'examples', 'tiny-cnn.onnx');

function compileExample(): Buffer {
  return artifactToBuffer(compileModel(readModelFile(EXAMPLE)).artifact!);
}

function readError(bytes: Uint8Array): ArtifactError {
  try {
    readArtifact(bytes, 'm.mcp');
  } catch (e) {
    if (e instanceof ArtifactError) return e;
    throw e;
  }
  throw new Error('read succeeded');
}

describe('artifact v1', () => {
  it('round-trips header, plan and page-aligned weights', () => {
    const result = compileModel(readModelFile(EXAMPLE));
    const a = readArtifact(artifactToBuffer(result.artifact!), 'm.mcp');
    expect(a.header.formatVersion).toBe(ARTIFACT_VERSION);
    expect(a.header.inputs).toEqual([{ name: 'input', dtype: 'f32', shape: [1, 3, 32, 32] }]);
    // Fused or not, every node of the optimized graph is computed by exactly one kernel, or is a
    // view slot (the example's Flatten) sharing its input's bytes.
    expect(a.plan.kernels.length).toBeLessThanOrEqual(result.graph.nodes.length);
    const views = a.plan.slots.filter((s) => s.view);
    expect(views.flatMap((s) => s.view!.sources)).toEqual(['/Flatten']);
    for (const s of views) expect(s.index).toBe(a.plan.slots[s.view!.of]!.index);
    const sources = [...a.plan.kernels.flatMap((k) => k.sources), ...views.flatMap((s) => s.view!.sources)];
    expect(new Set(sources).size).toBe(sources.length);
    for (const n of result.graph.nodes) expect(sources).toContain(n.loc);
    const weights = a.header.sections.find((s) => s.name === 'weights')!;
    expect(weights.offset % WEIGHTS_ALIGNMENT).toBe(0);
    result.emitted!.weights.forEach((w, i) => {
      expect(Buffer.from(a.weight(i)).equals(Buffer.from(w.constant!.bytes))).toBe(true);
      expect(a.header.weights[i]!.offset % 64).toBe(0);
    });
    expect(a.header.arena.size).toBeGreaterThanOrEqual(a.header.arena.lowerBound);
    expect(a.header.arena.size).toBeLessThanOrEqual(a.header.arena.naiveSize);
  });

  it('rejects a bad magic number, another version, truncation and corruption with codes', () => {
    const good = compileExample();
    const magic = Buffer.from(good);
    magic.write('NOTMCPC!', 0, 'latin1');
    expect(readError(magic).code).toBe('MCPC4001');

    const version = Buffer.from(good);
    version.writeUInt32LE(99, 8);
    expect(readError(version).message).toBe('m.mcp is artifact format version 99; this build reads versions 1 to 2');

    for (const cut of [10, 100, good.length - 1]) {
      expect(readError(good.subarray(0, cut)).code).toBe('MCPC4004');
    }

    const header = Buffer.from(good);
    header[80] ^= 0x55;
    expect(readError(header).message).toMatch(/header checksum/);

    const weights = Buffer.from(good);
    weights[weights.length - 3] ^= 0x01;
    expect(readError(weights).message).toMatch(/weights section checksum/);

    expect(readError(new Uint8Array(3)).code).toBe('MCPC4001');
  });

  it('is deterministic: the same model compiles to the same bytes', () => {
    expect(compileExample().equals(compileExample())).toBe(true);
  });
});
