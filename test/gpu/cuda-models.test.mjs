// Whole models compiled for --target cuda (the compiler in dist/, so it needs protobufjs in
// node_modules) and run on the GPU, against the reference interpreter (float64): fp32 within 1e-4
// relative, fp16 within 1e-2 (3e-2 for mobilenet_v2, see below); the same models compiled for cpu run beside them (their error is
// printed, and integer outputs must agree exactly). A model the CUDA generator cannot compile yet (MCPC2012) is skipped
// with its reason; anything else that fails, fails.

import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fromBF16, fromF16, readJson, relError, ROOT, toBF16, toF16 } from './helpers.mjs';

const rt = await import(join(ROOT, 'dist', 'runtime', 'index.js'));
const { Session, Tensor, readArtifact } = rt;

let compiler;
let compilerMissing;
try {
  compiler = {
    ...(await import(join(ROOT, 'dist', 'compiler', 'compile.js'))),
    ...(await import(join(ROOT, 'dist', 'compiler', 'artifact', 'writer.js'))),
    ...(await import(join(ROOT, 'dist', 'scripts', 'model-inputs.js'))),
    ...(await import(join(ROOT, 'dist', 'compiler', 'interpreter', 'interpret.js'))),
    ...(await import(join(ROOT, 'dist', 'compiler', 'ir', 'tensor.js'))),
  };
} catch (e) {
  compilerMissing = `the compiler cannot be imported from dist/ (${e.message.split('\n')[0]}); carry node_modules/protobufjs and its dependencies`;
}

const FIXTURES = join(ROOT, 'test', 'fixtures', 'models');
const work = mkdtempSync(join(tmpdir(), 'mcpc-gpu-models-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** Copies a fixture .onnx next to regenerated external weights (as test/helpers/fixture-models.ts does). */
function materialize(name) {
  const src = join(FIXTURES, `${name}.onnx`);
  const dst = join(work, `${name}.onnx`);
  copyFileSync(src, dst);
  const manifestPath = join(FIXTURES, `${name}.weights.json`);
  if (existsSync(manifestPath)) {
    const m = readJson(manifestPath);
    const view = new DataView(new ArrayBuffer(m.total_bytes));
    for (const t of m.tensors) {
      const rand = compiler.mulberry32(compiler.hashString(t.name));
      const half = t.std * Math.sqrt(3);
      const n = t.dims.reduce((a, b) => a * b, 1);
      for (let i = 0; i < n; i++) view.setFloat32(t.offset + 4 * i, Math.min(t.max, Math.max(t.min, t.mean + (2 * rand() - 1) * half)), true);
    }
    writeFileSync(join(work, m.weights), new Uint8Array(view.buffer));
  }
  return dst;
}

function feedsOf(inputsJson) {
  const feeds = {};
  const shapes = new Map();
  for (const [name, v] of Object.entries(compiler.makeInputs(inputsJson))) {
    const dtype = { float32: 'f32', int64: 'i64', int32: 'i32', bool: 'bool', float16: 'f16' }[v.dtype] ?? v.dtype;
    feeds[name] = new Tensor(dtype, v.data, v.dims);
    shapes.set(name, v.dims);
  }
  return { feeds, shapes };
}

function compile(path, shapes, target, precision) {
  const result = compiler.compileModel({ bytes: readFileSync(path), path }, { target, precision, shapes });
  return { bytes: compiler.artifactToBuffer(result.artifact), graph: result.graph };
}

/** The reference interpreter's outputs (float64) for host feeds. */
function reference(graph, feeds) {
  const inputs = {};
  for (const [k, t] of Object.entries(feeds)) inputs[k] = compiler.TensorData.fromValues(t.dtype, t.dims, Array.from(t.data, Number));
  const out = {};
  for (const [k, v] of compiler.interpret(graph, inputs)) out[k] = v.values;
  return out;
}

const models = [{ name: 'tiny-cnn', onnx: join(ROOT, 'examples', 'tiny-cnn.onnx'), inputs: join(ROOT, 'examples', 'tiny-cnn.inputs.json') }];
if (existsSync(join(FIXTURES, 'index.json'))) {
  for (const f of readJson(join(FIXTURES, 'index.json')).fixtures) {
    if (f.ok) models.push({ name: f.name, fixture: true, inputs: join(FIXTURES, `${f.name}.inputs.json`) });
  }
}

describe('models compiled for cuda against cpu', { skip: compilerMissing }, () => {
  for (const m of models) {
    for (const precision of ['fp32', 'fp16']) {
      it(`${m.name} ${precision}`, async (t) => {
        const path = m.fixture ? materialize(m.name) : m.onnx;
        const { feeds, shapes } = feedsOf(m.inputs);
        let cudaBytes, graph;
        try {
          ({ bytes: cudaBytes, graph } = compile(path, shapes, 'cuda', precision));
        } catch (e) {
          if (e.code === 'MCPC2012' || e.code === 'MCPC3001') return t.skip(`not compiled for cuda: ${e.message}`);
          throw e;
        }
        const ref = reference(graph, feeds);
        const cpu = await Session.load(compile(path, shapes, 'cpu', 'fp32').bytes, { device: 'cpu' });
        const gpu = await Session.load(cudaBytes, { device: 'cuda:0' });
        // fp16/bf16 artifacts may take their float inputs in that dtype.
        const gpuFeeds = {};
        for (const spec of readArtifact(cudaBytes).header.inputs) {
          const f = feeds[spec.name];
          if (spec.dtype === 'f16' && f.dtype === 'f32') gpuFeeds[spec.name] = new Tensor('f16', Uint16Array.from(f.data, toF16), f.dims);
          else if (spec.dtype === 'bf16' && f.dtype === 'f32') gpuFeeds[spec.name] = new Tensor('bf16', Uint16Array.from(f.data, toBF16), f.dims);
          else gpuFeeds[spec.name] = f;
        }
        try {
          const want = await cpu.run(feeds);
          // The cpu backend against the reference, for the record: a failure below is the GPU's only if this is small.
          const cpuErr = Math.max(...Object.entries(want).map(([k, w]) => (w.data instanceof Float32Array ? relError(w.data, ref[k]) : 0)));
          t.diagnostic(`cpu vs reference: ${cpuErr.toExponential(2)}`);
          for (let r = 0; r < 3; r++) {
            const got = await gpu.run(gpuFeeds);
            for (const [name, w] of Object.entries(want)) {
              const g = got[name];
              assert.deepEqual(g.dims, w.dims, name);
              if (!(w.data instanceof Float32Array)) {
                assert.deepEqual(g.data, w.data, `${name} (run ${r})`);
                continue;
              }
              const values = g.dtype === 'f16' ? Float64Array.from(g.data, fromF16) : g.dtype === 'bf16' ? Float64Array.from(g.data, fromBF16) : g.data;
              const err = relError(values, ref[name]);
              // mobilenet_v2's fixture (random weights, 52 layers) loses 1.3e-2 to f16 storage alone,
              // with exact arithmetic (test/passes/lower-precision.test.ts): it gets 3e-2.
              const tol = precision === 'fp32' ? 1e-4 : m.name.startsWith('mobilenet_v2') ? 3e-2 : 1e-2;
              assert.ok(err <= tol, `${m.name} ${precision} output ${name}: relative error ${err} > ${tol} against the reference (cpu: ${cpuErr}; run ${r}, graph ${gpu.cudaGraph})`);
            }
          }
          // Latency with inputs and outputs on the device (the graph replays).
          const onDevice = {};
          for (const [k, v] of Object.entries(gpuFeeds)) onDevice[k] = await rt.DeviceTensor.fromHost(v);
          const times = [];
          for (let r = 0; r < 30; r++) {
            const t0 = performance.now();
            const out = await gpu.run(onDevice, { outputLocation: 'device' });
            times.push(performance.now() - t0);
            for (const v of Object.values(out)) v.dispose();
          }
          for (const v of Object.values(onDevice)) v.dispose();
          times.sort((a, b) => a - b);
          t.diagnostic(`graph ${gpu.cudaGraph}, ${(gpu.deviceBytes / 2 ** 20).toFixed(1)} MiB on the device, median run ${times[15].toFixed(3)} ms`);
          // Every cuda plan of these models has an L2 tier; the device takes it or says why not.
          assert.match(gpu.cudaL2Window, /^(window of \d+ bytes, \d+ persisting; \d+ graph kernel nodes|off: .+)$/, `L2 window: ${gpu.cudaL2Window}`);
          t.diagnostic(`L2: ${gpu.cudaL2Window}`);
        } finally {
          cpu.dispose();
          gpu.dispose();
        }
      });
    }
  }
});

// The fp16 range guard on the device (test/cuda/range-guard.test.ts has the model): activations of
// ~1e-8 in the middle. Plain fp16 loses them; calibrated (dist/cli/calibrate.js), the plan keeps
// those nodes in float32 (cuDNN NHWC float32 convolutions with TF32, a generated depthwise kernel)
// and matches the float32 cpu run.
describe('fp16 range guard on the device', { skip: compilerMissing }, () => {
  it('keeps tiny activations in float32 and matches the float32 result', async (t) => {
    const { calibrateRanges } = await import(join(ROOT, 'dist', 'cli', 'calibrate.js'));
    const path = join(ROOT, 'test', 'fixtures', 'range-guard.onnx');
    const source = { bytes: readFileSync(path), path };
    const { ranges } = await calibrateRanges(source);
    const guarded = compiler.compileModel(source, { target: 'cuda', precision: 'fp16', valueRanges: ranges });
    const plain = compiler.compileModel(source, { target: 'cuda', precision: 'fp16' });
    assert.deepEqual(guarded.pipeline.ctx.float32Nodes.map((n) => n.node).sort(), ['/back/Conv', '/small/Conv', '/small/Relu', '/tiny/Conv']);
    const x = new Tensor('f32', Float32Array.from({ length: 800 }, (_, i) => Math.sin(i * 0.37) * 1.5), [1, 8, 10, 10]);
    const cpu = await Session.load(compile(path, new Map(), 'cpu', 'fp32').bytes, { device: 'cpu' });
    const want = (await cpu.run({ x })).y.data;
    cpu.dispose();
    const errors = {};
    for (const [name, c] of [['guarded', guarded], ['plain', plain]]) {
      const gpu = await Session.load(compiler.artifactToBuffer(c.artifact), { device: 'cuda:0' });
      try {
        errors[name] = relError((await gpu.run({ x })).y.data, want);
      } finally {
        gpu.dispose();
      }
    }
    t.diagnostic(`relative error: guarded ${errors.guarded.toExponential(2)}, plain fp16 ${errors.plain.toExponential(2)}`);
    assert.ok(errors.guarded <= 5e-3, `guarded fp16: ${errors.guarded}`);
    assert.ok(errors.plain > 5e-2, `plain fp16 should lose the 1e-8 branch: ${errors.plain}`);
  });
});
