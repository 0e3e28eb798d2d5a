// The mcpc CLI: exit codes (0 ok, 2 user error, 1 internal), one-line errors without stack traces,
// help text, --json summaries, --compile-to and --print-after.

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main, type Io } from '../../cli/main.js';
import { buildModel, addReluModel } from '../helpers/onnx-builder.js';
import { writeNpy } from '../../cli/npy.js';
import { Tensor } from '../../runtime/index.js';

const ROOT = join(import.meta.dirname, '..', '..');
const EXAMPLE = join(ROOT, 'examples', 'tiny-cnn.onnx');

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: Io = { out: (s) => (out += s), err: (s) => (err += s), tty: false };
  const code = await main(args, io);
  return { code, out, err };
}

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'mcpc-cli-'));
}

describe('mcpc CLI', () => {
  it('compiles, then inspects, the example model', async () => {
    const dir = tmp();
    const mcp = join(dir, 'tiny.mcp');
    const c = await run(['compile', EXAMPLE, '-o', mcp]);
    expect(c.code).toBe(0);
    expect(c.err).toMatch(/compiled tiny-cnn\.onnx -> .*tiny\.mcp \(cpu, fp32\): 14 ONNX nodes -> \d+ kernels/);
    const i = await run(['inspect', mcp]);
    expect(i.code).toBe(0);
    expect(i.out).toMatch(/inputs:\n\s+input\s+f32\[1,3,32,32\]/);
    expect(i.out).toMatch(/arena: /);
    const j = JSON.parse((await run(['inspect', mcp, '--json'])).out);
    expect(j.kernels.count).toBeGreaterThan(0);
    expect(j.outputs[0].name).toBe('logits');
    // The Flatten before the classifier is a view of the pooled value's arena bytes.
    const m = await run(['inspect', mcp, '--memory']);
    expect(m.out).toMatch(/\/Flatten_output_0\s+dram\s+view of \/features\/features\.11\/GlobalAveragePool_output_0/);
  });

  it('lists the arena bytes each library call of a cuda plan may take as its workspace', async () => {
    const dir = tmp();
    const mcp = join(dir, 'tiny-cuda.mcp');
    expect((await run(['compile', EXAMPLE, '--target', 'cuda', '--precision', 'fp16', '-o', mcp])).code).toBe(0);
    const m = await run(['inspect', mcp, '--memory']);
    expect(m.code).toBe(0);
    const head = /library workspaces in the arena: (\d+) of (\d+) library kernels have free arena bytes/.exec(m.out);
    expect(head).not.toBeNull();
    expect(Number(head![2])).toBeGreaterThan(0);
    expect(m.out).toMatch(/\n\s+\d+\s+NhwcConv\s+cudnn\s+(\d+\s+\d+(\.\d+)? (B|KiB|MiB)|-\s+none)\s+\S+/);
  });

  it('runs the fp16 range check before a cuda fp16 compile, and refuses its flags elsewhere', async () => {
    const dir = tmp();
    // x -> * 1e-6 -> * 1e6: the middle value is below float16's range.
    const model = join(dir, 'tiny-middle.onnx');
    writeFileSync(model, buildModel({
      inputs: [{ name: 'x', dims: [2, 8] }],
      outputs: [{ name: 'y', dims: [2, 8] }],
      initializers: [{ name: 'small', dims: [8], floats: Array(8).fill(1e-6) }, { name: 'large', dims: [8], floats: Array(8).fill(1e6) }],
      nodes: [
        { op: 'Mul', inputs: ['x', 'small'], outputs: ['m'], name: '/down/Mul' },
        { op: 'Mul', inputs: ['m', 'large'], outputs: ['y'], name: '/up/Mul' },
      ],
    }));
    const c = await run(['compile', model, '--target', 'cuda', '--precision', 'fp16', '-o', join(dir, 'a.mcp')]);
    expect(c.code).toBe(0);
    expect(c.err).toMatch(/^fp16 range check \(1 generated input, batch 2, [\d.]+ s on the cpu\): 2 nodes keep float32, first \/down\/Mul: writes m \(largest \|x\| \d\.\de-7, below float16's range\)\n/);
    const j = JSON.parse((await run(['compile', model, '--target', 'cuda', '--precision', 'fp16', '-o', join(dir, 'b.mcp'), '--json'])).out);
    expect(j.rangeCheck.float32Nodes.map((n: { node: string }) => n.node)).toEqual(['/down/Mul', '/up/Mul']);
    expect(j.passes['lower-precision']['float32 nodes']).toBe(2);
    // Given inputs replace the generated ones; values of 1e-3 bring m to 1e-9, still below.
    const npy = join(dir, 'x.npy');
    writeFileSync(npy, writeNpy(new Tensor('f32', new Float32Array(16).fill(1e-3), [2, 8])));
    const g = await run(['compile', model, '--target', 'cuda', '--precision', 'fp16', '-o', join(dir, 'c.mcp'), '--calibration-input', `x=${npy}`]);
    expect(g.err).toMatch(/^fp16 range check \(1 given input, batch 2/);
    const off = JSON.parse((await run(['compile', model, '--target', 'cuda', '--precision', 'fp16', '-o', join(dir, 'd.mcp'), '--json', '--no-calibration'])).out);
    expect(off.rangeCheck).toBeNull();
    expect(off.passes['lower-precision']['float32 nodes']).toBeUndefined();
    const bf16 = JSON.parse((await run(['compile', model, '--target', 'cuda', '--precision', 'bf16', '-o', join(dir, 'e.mcp'), '--json'])).out);
    expect(bf16.rangeCheck).toBeNull();
    const wrong = await run(['compile', model, '--no-calibration', '-o', join(dir, 'f.mcp')]);
    expect([wrong.code, wrong.err]).toEqual([2, expect.stringContaining('--calibration-input and --no-calibration apply to --target cuda --precision fp16')]);
    const runOff = await run(['run', model, '--no-calibration']);
    expect([runOff.code, runOff.err]).toEqual([2, expect.stringContaining('--no-calibration applies to an .onnx model run with --device cuda:N --precision fp16')]);
    const badName = await run(['compile', model, '--target', 'cuda', '--precision', 'fp16', '-o', join(dir, 'g.mcp'), '--calibration-input', `input=${npy}`]);
    expect([badName.code, badName.err]).toEqual([2, expect.stringContaining('calibration: the model has no input input (inputs: x)')]);
    const badShape = join(dir, 'bad.npy');
    writeFileSync(badShape, writeNpy(new Tensor('f32', new Float32Array(3), [3])));
    const shape = await run(['compile', model, '--target', 'cuda', '--precision', 'fp16', '-o', join(dir, 'h.mcp'), '--calibration-input', `x=${badShape}`]);
    expect(shape.code).toBe(2);
    expect(shape.err).toMatch(/calibration with --calibration-input: .*x/);
  });

  it('inspects an artifact without weights', async () => {
    const dir = tmp();
    const model = join(dir, 'relu.onnx');
    writeFileSync(model, buildModel({ inputs: [{ name: 'x', dims: [4] }], outputs: [{ name: 'y' }], nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['y'] }] }));
    expect((await run(['compile', model, '-o', join(dir, 'relu.mcp')])).code).toBe(0);
    const i = await run(['inspect', join(dir, 'relu.mcp'), '--kernels', '--memory']);
    expect(i.code).toBe(0);
    expect(i.out).toMatch(/weights: 0 tensors, 0 B/);
  });

  it('prints a JSON summary of a compile', async () => {
    const dir = tmp();
    const r = await run(['compile', EXAMPLE, '-o', join(dir, 'x.mcp'), '--json']);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.out);
    expect(s.onnxNodes).toBe(14);
    expect(s.arena.size).toBeGreaterThan(0);
    expect(Object.keys(s.timingsMs)).toEqual(['read', 'import', 'passes', 'plan', 'write', 'output']);
  });

  it('stops at a phase and prints the IR after a pass', async () => {
    const r = await run(['compile', EXAMPLE, '--compile-to=optimized', '--print-after=fold-constants']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^graph @/);
    expect(r.err).toMatch(/IR after fold-constants/);
    const bad = await run(['compile', EXAMPLE, '--print-after=nonsense']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/MCPC3004: unknown pass nonsense/);
  });

  it('binds symbolic dims with --shape and explains unbound ones', async () => {
    const dir = tmp();
    const model = join(dir, 'sym.onnx');
    writeFileSync(model, addReluModel());
    const unbound = await run(['compile', model, '-o', join(dir, 'a.mcp')]);
    expect(unbound.code).toBe(2);
    expect(unbound.err).toBe("mcpc: error MCPC3003: input 'x' has symbolic dim batch; bind it with --shape 'x'=1x4\n");
    expect((await run(['compile', model, '--shape', 'x=3x4', '-o', join(dir, 'b.mcp')])).code).toBe(0);
    const wrong = await run(['compile', model, '--shape', 'x=3x5']);
    expect(wrong.code).toBe(2);
    expect(wrong.err).toMatch(/dim 1 of 'x' is fixed at 4/);
  });

  it('answers user errors with one line and exit code 2', async () => {
    const dir = tmp();
    const write = (name: string, bytes: Uint8Array) => {
      const p = join(dir, name);
      writeFileSync(p, bytes);
      return p;
    };
    const good = readFileSync(EXAMPLE);
    let seed = 3;
    const noise = Uint8Array.from({ length: 2048 }, () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 24));
    const cases: [string, string[], RegExp][] = [
      ['truncated', ['compile', write('t.onnx', good.subarray(0, good.length >> 1))], /MCPC1002: .* is not a valid ONNX model: the protobuf data ends early/],
      ['random bytes', ['compile', write('r.onnx', noise)], /MCPC100[24]/],
      ['wrong magic', ['inspect', write('m.mcp', Buffer.from('definitely not an artifact'))], /MCPC4001: .*not an mcpc artifact \(bad magic number\)/],
      ['unknown opset', ['compile', write('o.onnx', buildModel({ inputs: [{ name: 'x', dims: [1] }], outputs: [{ name: 'y' }], nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['y'] }], opset: 40 }))], /MCPC1005: opset 40 of domain ai.onnx is not supported/],
      ['missing initializer', ['compile', write('i.onnx', buildModel({ inputs: [{ name: 'x', dims: [4] }], outputs: [{ name: 'y' }], nodes: [{ op: 'Add', inputs: ['x', 'w'], outputs: ['y'], name: 'fc' }] }))], /MCPC2004: node 'fc' reads 'w'/],
      ['cycle', ['compile', write('c.onnx', buildModel({ inputs: [{ name: 'x', dims: [1] }], outputs: [{ name: 'b' }], nodes: [{ op: 'Add', inputs: ['x', 'b'], outputs: ['a'], name: 'A' }, { op: 'Relu', inputs: ['a'], outputs: ['b'], name: 'B' }] }))], /MCPC2005: the graph has a cycle/],
      ['missing file', ['compile', join(dir, 'nope.onnx')], /MCPC1001: cannot read .*nope\.onnx: no such file/],
      ['bad flag', ['compile', EXAMPLE, '--frobnicate'], /MCPC3001: Unknown option '--frobnicate'/],
      ['bad target', ['compile', EXAMPLE, '--target', 'tpu'], /MCPC3001: --target must be one of cpu, cuda, got 'tpu'/],
      ['unknown command', ['transmogrify'], /unknown command 'transmogrify'/],
      ['bad device', ['run', EXAMPLE, '--device', 'gpu'], /MCPC3001: --device must be cpu or cuda:N, got 'gpu'/],
      ['precision on cpu', ['run', EXAMPLE, '--precision', 'fp16'], /MCPC3001: --precision applies to an .onnx model run on cuda/],
    ];
    for (const [what, args, pattern] of cases) {
      const r = await run(args);
      expect(r.code, what).toBe(2);
      expect(r.err, what).toMatch(pattern);
      expect(r.err.trim().split('\n'), what).toHaveLength(1);
      expect(r.err, what).not.toMatch(/\n\s+at /);
    }
  });

  it('shows help for the tool and each command', async () => {
    const top = await run(['--help']);
    expect(top.code).toBe(0);
    expect(top.out).toMatch(/Usage: mcpc <command>/);
    const compile = await run(['compile', '--help']);
    expect(compile.out).toMatch(/--shape NAME=DxD\.\.\./);
    expect((await run(['help', 'inspect'])).out).toMatch(/Usage: mcpc inspect/);
  });

  it('exits with the same codes as a process', () => {
    const bin = join(ROOT, 'bin', 'mcpc.js');
    if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT });
    const ok = spawnSync(process.execPath, [bin, '--version'], { encoding: 'utf8' });
    expect(ok.status).toBe(0);
    const bad = spawnSync(process.execPath, [bin, 'compile', join(tmp(), 'missing.onnx')], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/^mcpc: error MCPC1001: /);
  });
});
