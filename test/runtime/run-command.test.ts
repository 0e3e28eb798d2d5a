// `mcpc run` end to end: .npy in, .npy out, from an artifact and from an .onnx model; --bench;
// and the .npy reader/writer against headers as numpy writes them.

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main, type Io } from '../../cli/main.js';
import { readNpy, writeNpy } from '../../cli/npy.js';
import { Session, Tensor } from '../../runtime/index.js';
import { compileTinyCnn, randomFloats, TINY_CNN } from './helpers.js';

function capture(): Io & { stdout: string; stderr: string } {
  const io = { stdout: '', stderr: '', tty: false, out: (s: string) => void (io.stdout += s), err: (s: string) => void (io.stderr += s) };
  return io;
}

describe('npy', () => {
  it('round-trips every supported dtype, with a 64-byte aligned header', () => {
    const cases = [
      new Tensor('f32', [1.5, -2, 3], [3]),
      new Tensor('f64', [1, 2, 3, 4], [2, 2]),
      new Tensor('f16', new Uint16Array([0x3c00, 0xc000]), [2]),
      new Tensor('i64', new BigInt64Array([1n, -(2n ** 40n)]), [1, 2]),
      new Tensor('i32', [7], []),
      new Tensor('i8', [-1, 2], [2, 1]),
      new Tensor('u8', [255, 0], [2]),
      new Tensor('bool', [1, 0, 1], [3]),
    ];
    for (const t of cases) {
      const bytes = writeNpy(t);
      expect((bytes.readUInt16LE(8) + 10) % 64).toBe(0);
      const back = readNpy(bytes);
      expect(back.dtype).toBe(t.dtype);
      expect(back.dims).toEqual(t.dims);
      expect(Array.from(back.data as ArrayLike<unknown>)).toEqual(Array.from(t.data as ArrayLike<unknown>));
    }
  });

  it('reads a numpy-written v1 header and rejects what it cannot read', () => {
    const header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";
    const padded = header.padEnd(118 - 1, ' ') + '\n';
    const file = Buffer.concat([Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]), Buffer.from([padded.length, 0]), Buffer.from(padded), Buffer.from(new Float32Array([1, 2, 3, 4]).buffer)]);
    expect(Array.from(readNpy(file).data as Float32Array)).toEqual([1, 2, 3, 4]);
    expect(() => readNpy(file.subarray(0, file.length - 1), 'x.npy')).toThrow(/x\.npy .*truncated/);
    expect(() => readNpy(Buffer.from(file.toString('latin1').replace("'<f4'", "'>f4'"), 'latin1'))).toThrow(/big-endian/);
    expect(() => readNpy(Buffer.from(file.toString('latin1').replace('False', 'True '), 'latin1'))).toThrow(/Fortran/);
    expect(() => readNpy(Buffer.from('not numpy'))).toThrow(/bad magic/);
  });
});

describe('mcpc run', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mcpc-run-'));
  const x = randomFloats(3 * 32 * 32, 21);
  const input = join(dir, 'x.npy');
  writeFileSync(input, writeNpy(new Tensor('f32', x, [1, 3, 32, 32])));

  async function expected(): Promise<Float32Array> {
    const session = await Session.load(compileTinyCnn().artifact);
    const { logits } = await session.run({ input: new Tensor('f32', x, [1, 3, 32, 32]) });
    session.dispose();
    return logits!.data as Float32Array;
  }

  it('runs an artifact and writes DIR/<output>.npy', async () => {
    const mcp = join(dir, 'tiny.mcp');
    writeFileSync(mcp, compileTinyCnn().artifact);
    const io = capture();
    const out = join(dir, 'out-mcp');
    expect(await main(['run', mcp, '--input', `input=${input}`, '--out', out, '--threads', '2'], io)).toBe(0);
    const logits = readNpy(readFileSync(join(out, 'logits.npy')));
    expect(logits.dims).toEqual([1, 10]);
    expect(Array.from(logits.data as Float32Array)).toEqual(Array.from(await expected()));
  });

  it('compiles an .onnx model in memory, and benchmarks', async () => {
    const io = capture();
    const out = join(dir, 'out-onnx');
    expect(await main(['run', TINY_CNN, '-i', input, '--out', out, '--bench', '5'], io)).toBe(0);
    expect(io.stdout).toMatch(/latency over 5 runs \(\d+ threads, after 3 warm-up\): median [\d.]+ ms, p90 [\d.]+ ms/);
    expect(Array.from(readNpy(readFileSync(join(out, 'logits.npy'))).data as Float32Array)).toEqual(Array.from(await expected()));
  });

  it('prints a summary without --out', async () => {
    const io = capture();
    expect(await main(['run', TINY_CNN, '-i', `input=${input}`], io)).toBe(0);
    expect(io.stdout).toMatch(/^logits {2}f32\[1,10\] {2}min /);
  });

  it('reports bad inputs with a code and exit status 2', async () => {
    const missing = capture();
    expect(await main(['run', TINY_CNN], missing)).toBe(2);
    expect(missing.stderr).toBe("mcpc: error MCPC5001: feeds.input is missing (the model's inputs: input)\n");
    const wrongShape = join(dir, 'wrong.npy');
    writeFileSync(wrongShape, writeNpy(new Tensor('f32', new Float32Array(3 * 16 * 16), [1, 3, 16, 16])));
    const shape = capture();
    expect(await main(['run', TINY_CNN, '-i', `input=${wrongShape}`], shape)).toBe(2);
    expect(shape.stderr).toContain('feeds.input.dims[2] must be 32, got 16');
    const noFile = capture();
    expect(await main(['run', TINY_CNN, '-i', `input=${join(dir, 'nope.npy')}`], noFile)).toBe(2);
    expect(noFile.stderr).toContain('MCPC1001');
  });
});
