// The CUDA backend of the runtime on a real GPU, with hand-built cuda artifacts (test/gpu/helpers.mjs):
// generated-kernel launches, cuBLASLt MatMul/Gemm (every batch mode), cuDNN Conv and NhwcConv
// (pads, strides, dilations, groups, 1-D, fused conv-bias-activation epilogues), precisions, CUDA
// graphs, device-resident tensors, the compiled-code cache, and the coded errors (after which the
// process and other sessions stay usable).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { convRef, count, fromBF16, fromF16, launch1d, matmulRef, PlanBuilder, randoms, relError, ROOT, toBF16, toF16 } from './helpers.mjs';

const rt = await import(join(ROOT, 'dist', 'runtime', 'index.js'));
const { Session, Tensor, DeviceTensor, cudaDevices, loadNativeAddon } = rt;

const cacheDir = mkdtempSync(join(tmpdir(), 'mcpc-gpu-cache-'));
process.env.MCPC_CACHE_DIR = cacheDir;
after(() => rmSync(cacheDir, { recursive: true, force: true }));

/** y[i] = max(x[i], 0) + b[i % C]: one generated kernel. */
function reluBiasArtifact({ rows = 64, cols = 64, extraSource = '' } = {}) {
  const p = new PlanBuilder();
  const x = p.input('x', 'f32', [rows, cols]);
  const b = p.weight('b', 'f32', [cols], randoms(cols, 3));
  const y = p.output('y', 'f32', [rows, cols]);
  const n = rows * cols;
  p.source = `${extraSource}
extern "C" __global__ void relu_bias(const float* x, const float* b, float* y) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < ${n}) y[i] = fmaxf(x[i], 0.0f) + b[i % ${cols}];
}
`;
  p.kernel({ op: 'Add', family: 'elementwise', inputs: [x, b], outputs: [y], cuda: { before: [], after: [launch1d('relu_bias', n, [x, b, y])] } });
  return { bytes: p.build(), bias: randoms(cols, 3), n, cols };
}

function reluBiasRef(x, bias, cols) {
  return Float64Array.from(x, (v, i) => Math.max(v, 0) + bias[i % cols]);
}

describe('the cuda build and device', () => {
  it('has the CUDA backend and at least one device', () => {
    const info = loadNativeAddon().buildInfo();
    assert.equal(info.cuda, true, 'this addon was built without CUDA (scripts/test-gpu.sh builds it with MCPC_CUDA=ON)');
    const devices = cudaDevices();
    assert.ok(devices.length > 0, 'no CUDA device');
    assert.equal(devices[0].ordinal, 0);
    assert.ok(devices[0].computeCapability >= 80, `compute capability ${devices[0].computeCapability}`);
    assert.ok(devices[0].memoryBytes > 2 ** 30);
    console.log(`# ${devices[0].name}, sm_${devices[0].computeCapability}, cuda ${info.cudaVersion}, cudnn ${info.cudnnVersion ?? 'none'}`);
  });
});

describe('generated kernels', () => {
  it('runs a launch, captures a graph after the first run and replays it', async () => {
    const { bytes, bias, cols } = reluBiasArtifact();
    const s = await Session.load(bytes, { device: 'cuda:0' });
    assert.equal(s.device, 'cuda:0');
    assert.equal(s.cudaGraph, 'pending');
    assert.ok(s.deviceBytes >= 64 * 64 * 4 * 2);
    for (let r = 0; r < 5; r++) {
      const x = randoms(64 * 64, 10 + r);
      const { y } = await s.run({ x: new Tensor('f32', x, [64, 64]) });
      assert.ok(y instanceof Tensor);
      assert.deepEqual(y.dims, [64, 64]);
      assert.ok(relError(y.data, reluBiasRef(x, bias, cols)) < 1e-6, `run ${r}`);
      if (r === 0) assert.equal(s.cudaGraph, 'captured');
    }
    s.dispose();
    assert.equal(s.disposed, true);
    await assert.rejects(s.run({ x: new Tensor('f32', randoms(4096, 1), [64, 64]) }), { code: 'MCPC5004' });
  });

  it('runs eagerly every time with MCPC_CUDA_GRAPH=0', async () => {
    const { bytes, bias, cols } = reluBiasArtifact();
    process.env.MCPC_CUDA_GRAPH = '0';
    const s = await Session.load(bytes, { device: 'cuda' });
    delete process.env.MCPC_CUDA_GRAPH;
    for (let r = 0; r < 3; r++) {
      const x = randoms(4096, r);
      const { y } = await s.run({ x: new Tensor('f32', x, [64, 64]) });
      assert.ok(relError(y.data, reluBiasRef(x, bias, cols)) < 1e-6);
    }
    assert.equal(s.cudaGraph, 'off');
    s.dispose();
  });

  it('gives the sequential results for concurrent run() calls', async () => {
    const { bytes } = reluBiasArtifact();
    const s = await Session.load(bytes, { device: 'cuda:0' });
    const xs = Array.from({ length: 16 }, (_, i) => randoms(4096, 100 + i));
    const sequential = [];
    for (const x of xs) sequential.push((await s.run({ x: new Tensor('f32', x, [64, 64]) })).y.data);
    const concurrent = await Promise.all(xs.map((x) => s.run({ x: new Tensor('f32', x, [64, 64]) })));
    concurrent.forEach((r, i) => assert.deepEqual(r.y.data, sequential[i]));
    s.dispose();
  });

  it('loads from a path and writes preallocated host outputs', async () => {
    const { bytes, bias, cols } = reluBiasArtifact();
    const dir = mkdtempSync(join(tmpdir(), 'mcpc-gpu-'));
    try {
      const path = join(dir, 'relu.mcp');
      writeFileSync(path, bytes);
      const s = await Session.load(path, { device: 'cuda:0' });
      const x = randoms(4096, 5);
      const out = new Float32Array(4096);
      const { y } = await s.run({ x: new Tensor('f32', x, [64, 64]) }, { outputs: { y: out } });
      assert.equal(y.data, out);
      assert.ok(relError(out, reluBiasRef(x, bias, cols)) < 1e-6);
      s.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('passes dynamic shared memory above 48 KiB and outputs that are inputs or weights', async () => {
    const p = new PlanBuilder();
    const x = p.input('x', 'f32', [1024]);
    const w = p.weight('w', 'f32', [8], randoms(8, 9));
    const y = p.output('y', 'f32', [1024]);
    p.outputOf('x_again', x);
    p.outputOf('w_out', w);
    p.source = `
extern "C" __global__ void reverse_smem(const float* x, float* y) {
  extern __shared__ float buf[];
  const int i = threadIdx.x;
  buf[i] = x[i];
  buf[16383] = 1.0f;
  __syncthreads();
  y[i] = buf[1023 - i] * buf[16383];
}
`;
    p.kernel({ op: 'Add', inputs: [x], outputs: [y], cuda: { before: [], after: [{ entry: 'reverse_smem', grid: [1, 1, 1], block: [1024, 1, 1], sharedBytes: 65536, args: [x, y] }] } });
    const s = await Session.load(p.build(), { device: 'cuda:0' });
    const xv = randoms(1024, 4);
    const out = await s.run({ x: new Tensor('f32', xv, [1024]) });
    assert.deepEqual(Array.from(out.y.data), Array.from(xv).reverse());
    assert.deepEqual(out.x_again.data, xv);
    assert.deepEqual(out.w_out.data, randoms(8, 9));
    s.dispose();
  });
});

// ---- cuBLASLt ----

/** One MatMul (A input, B weight or input) through cuBLASLt; A may first be copied to an arena offset. */
function matmulArtifact({ sa, sb, dtype = 'f32', precision = 'fp32', bAsInput = false, aArenaOffset, a, b }) {
  const p = new PlanBuilder({ precision });
  const ax = p.input('a', dtype, sa);
  const bx = bAsInput ? p.input('b', dtype, sb) : p.weight('b', dtype, sb, b);
  const A = sa.length === 1 ? [1, sa[0]] : sa;
  const B = sb.length === 1 ? [sb[0], 1] : sb;
  const batch = [];
  const ba = A.slice(0, -2), bb = B.slice(0, -2);
  const rank = Math.max(ba.length, bb.length);
  for (let i = 0; i < rank; i++) {
    const da = ba[ba.length - rank + i] ?? 1, db = bb[bb.length - rank + i] ?? 1;
    batch.push(Math.max(da, db));
  }
  const sy = [...batch, ...(sa.length === 1 ? [] : [A[A.length - 2]]), ...(sb.length === 1 ? [] : [B[B.length - 1]])];
  const y = p.output('y', dtype, sy);
  let aSlot = ax;
  if (aArenaOffset !== undefined) {
    // Copy A to an arena slot at an odd offset, so cuBLASLt sees a badly aligned operand.
    aSlot = p.temp('a_copy', dtype, sa, aArenaOffset);
    const n = count(sa);
    const T = dtype === 'f32' ? 'float' : 'unsigned short';
    p.source += `extern "C" __global__ void copy_a(const ${T}* x, ${T}* y) { const int i = blockIdx.x * blockDim.x + threadIdx.x; if (i < ${n}) y[i] = x[i]; }\n`;
    p.kernel({ op: 'Identity', inputs: [ax], outputs: [aSlot], cuda: { before: [], after: [launch1d('copy_a', n, [ax, aSlot])] } });
  }
  p.kernel({ op: 'MatMul', family: 'contraction', inputs: [aSlot, bx], outputs: [y], cuda: { library: 'cublaslt', before: [], after: [] } });
  return { bytes: p.build(), sy };
}

async function checkMatmul(t, { sa, sb, dtype = 'f32', precision = 'fp32', tol, bAsInput = false, aArenaOffset }) {
  const a = randoms(count(sa), 1), b = randoms(count(sb), 2);
  const enc = (v) => (dtype === 'f16' ? Uint16Array.from(v, toF16) : dtype === 'bf16' ? Uint16Array.from(v, toBF16) : v);
  const dec = (v) => (dtype === 'f16' ? Float64Array.from(v, fromF16) : dtype === 'bf16' ? Float64Array.from(v, fromBF16) : v);
  const { bytes, sy } = matmulArtifact({ sa, sb, dtype, precision, bAsInput, aArenaOffset, a, b: enc(b) });
  const s = await Session.load(bytes, { device: 'cuda:0' });
  const feeds = { a: new Tensor(dtype, enc(a), sa) };
  if (bAsInput) feeds.b = new Tensor(dtype, enc(b), sb);
  const ref = matmulRef(dec(enc(a)), sa, dec(enc(b)), sb);
  for (let r = 0; r < 2; r++) {
    const { y } = await s.run(feeds);
    assert.deepEqual(y.dims, sy);
    const err = relError(dec(y.data), ref);
    assert.ok(err < tol, `${JSON.stringify(sa)} @ ${JSON.stringify(sb)} ${dtype}/${precision}: relative error ${err} (run ${r})`);
  }
  s.dispose();
}

describe('MatMul and Gemm through cuBLASLt', () => {
  const cases = [
    ['B without batch: folded into M', { sa: [2, 3, 33, 17], sb: [17, 21] }],
    ['equal batches: strided', { sa: [4, 32, 64], sb: [4, 64, 48], bAsInput: true }],
    ['A without batch: stride 0', { sa: [32, 64], sb: [3, 64, 16], bAsInput: true }],
    ['irregular broadcast: strided over the larger dim, a loop over the other', { sa: [2, 1, 8, 16], sb: [1, 3, 16, 8], bAsInput: true }],
    ['irregular broadcast over three batch dims', { sa: [2, 1, 3, 8, 16], sb: [1, 4, 3, 16, 8], bAsInput: true }],
    ['per-head projection: A [b, 1, M, K] by weights [1, h, K, N]', { sa: [3, 1, 16, 32], sb: [1, 5, 32, 8] }],
    ['1-D A', { sa: [64], sb: [64, 10] }],
    ['1-D B', { sa: [5, 64], sb: [64] }],
    ['A at a 4-byte aligned arena offset', { sa: [3, 7, 5], sb: [5, 9], aArenaOffset: 4 }],
    ['large', { sa: [256, 512], sb: [512, 384] }],
  ];
  for (const [name, c] of cases) it(`fp32: ${name}`, (t) => checkMatmul(t, { ...c, tol: 1e-5 }));
  it('tf32', (t) => checkMatmul(t, { sa: [128, 256], sb: [256, 64], precision: 'tf32', tol: 5e-3 }));
  it('f16 storage', (t) => checkMatmul(t, { sa: [2, 64, 64], sb: [64, 32], dtype: 'f16', precision: 'fp16', tol: 1e-2 }));
  it('bf16 storage', (t) => checkMatmul(t, { sa: [64, 64], sb: [2, 64, 32], dtype: 'bf16', precision: 'bf16', tol: 2e-2, bAsInput: true }));

  it('Gemm with transA, transB, alpha, and beta * C in the after launch', async () => {
    const M = 16, N = 24, K = 32, alpha = 0.5, beta = 2;
    const p = new PlanBuilder();
    const a = p.input('a', 'f32', [K, M]);
    const b = p.weight('b', 'f32', [N, K], randoms(N * K, 2));
    const c = p.weight('c', 'f32', [N], randoms(N, 3));
    const y = p.output('y', 'f32', [M, N]);
    p.source = `extern "C" __global__ void add_beta_c(const float* c, float* y) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < ${M * N}) y[i] += ${beta}.0f * c[i % ${N}];
}\n`;
    p.kernel({
      op: 'Gemm', family: 'contraction', inputs: [a, b, c], outputs: [y],
      attrs: { transA: { i: 1 }, transB: { i: 1 }, alpha: { f: alpha }, beta: { f: beta } },
      cuda: { library: 'cublaslt', before: [], after: [launch1d('add_beta_c', M * N, [c, y])] },
    });
    const s = await Session.load(p.build(), { device: 'cuda:0' });
    const av = randoms(K * M, 1), bv = randoms(N * K, 2), cv = randoms(N, 3);
    const { y: out } = await s.run({ a: new Tensor('f32', av, [K, M]) });
    const ref = new Float64Array(M * N);
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let acc = 0;
        for (let k = 0; k < K; k++) acc += av[k * M + m] * bv[n * K + k];
        ref[m * N + n] = alpha * acc + beta * cv[n];
      }
    }
    assert.ok(relError(out.data, ref) < 1e-5, `error ${relError(out.data, ref)}`);
    s.dispose();
  });
});

// ---- cuDNN ----

function convOutShape(xs, ws, { pads, strides, dilations }) {
  const n = xs.length - 2;
  const out = [xs[0], ws[0]];
  for (let i = 0; i < n; i++) {
    const span = (ws[2 + i] - 1) * dilations[i] + 1;
    out.push(Math.floor((xs[2 + i] + pads[i] + pads[n + i] - span) / strides[i]) + 1);
  }
  return out;
}

/** [N,C,...] data of dims `dims` as [N,...,C] (NCHW -> NHWC, [M,C,KH,KW] -> [M,KH,KW,C]). */
function toChannelsLast(v, dims) {
  const [N, C, H, W] = dims;
  const out = new Float64Array(v.length);
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) out[((n * H + h) * W + w) * C + c] = v[((n * C + c) * H + h) * W + w];
  return out;
}
const lastDims = ([n, c, h, w]) => [n, h, w, c];

/**
 * One cuDNN Conv kernel against convRef. `channelsLast` runs it as NhwcConv on permuted data;
 * `fused` ({ relu, residual }) names the epilogue relu?(y + b + z) in fusedEpilogue (z an extra
 * input), which the runtime runs in cuDNN's conv-bias-activation or, where refused, as the launch.
 */
async function checkConv({ xs, ws, pads, strides, dilations, group = 1, bias = false, tol = 1e-4, precision = 'fp32', dtype = 'f32', channelsLast = false, fused }) {
  const enc = (v) => (dtype === 'f16' ? Uint16Array.from(v, toF16) : dtype === 'bf16' ? Uint16Array.from(v, toBF16) : v);
  const dec = (v) => (dtype === 'f16' ? Float64Array.from(v, fromF16) : dtype === 'bf16' ? Float64Array.from(v, fromBF16) : v);
  const T = dtype === 'f32' ? 'float' : 'mcpc_' + dtype;
  const load = (e) => (dtype === 'f32' ? e : `mcpc_${dtype}_to_f32(${e})`);
  const store = (e) => (dtype === 'f32' ? e : `mcpc_f32_to_${dtype}(${e})`);
  const n = xs.length - 2;
  strides ??= Array(n).fill(1);
  dilations ??= Array(n).fill(1);
  pads ??= Array(2 * n).fill(0);
  const ys = convOutShape(xs, ws, { pads, strides, dilations });
  const xv = dec(enc(randoms(count(xs), 1))), wv = dec(enc(randoms(count(ws), 2, 0.5))), bv = dec(enc(randoms(ws[0], 3)));
  const zv = dec(enc(randoms(count(ys), 4)));
  // Plan data and dims in the kernel's layout.
  const lay = (v, dims) => (channelsLast ? toChannelsLast(v, dims) : v);
  const layDims = (dims) => (channelsLast ? lastDims(dims) : dims);
  const p = new PlanBuilder({ precision });
  const x = p.input('x', dtype, layDims(xs));
  const z = fused?.residual ? p.input('z', dtype, layDims(ys)) : undefined;
  const w = p.weight('w', dtype, layDims(ws), enc(lay(wv, ws)));
  const inputs = [x, w];
  const after = [];
  const y = p.output('y', dtype, layDims(ys));
  if (bias || fused) {
    const b = p.weight('b', dtype, [ws[0]], enc(bv));
    inputs.push(b);
    if (z !== undefined) inputs.push(z);
    const per = channelsLast ? 1 : count(ys.slice(2));
    let v = `${load('y[i]')} + ${load(`b[(i / ${per}) % ${ws[0]}]`)}`;
    if (z !== undefined) v = `${v} + ${load('z[i]')}`;
    if (fused?.relu) v = `fmaxf(${v}, 0.0f)`;
    p.source = `extern "C" __global__ void add_bias(const ${T}* b, ${z !== undefined ? `const ${T}* z, ` : ''}${T}* y) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < ${count(ys)}) y[i] = ${store(v)};
}\n`;
    after.push(launch1d('add_bias', count(ys), z !== undefined ? [b, z, y] : [b, y]));
  }
  const cuda = { library: 'cudnn', before: [], after };
  if (fused) cuda.fusedEpilogue = fused.residual ? { residual: 3, relu: fused.relu } : { relu: fused.relu };
  p.kernel({
    op: channelsLast ? 'NhwcConv' : 'Conv', family: 'contraction', inputs, outputs: [y],
    attrs: { pads: { ints: pads }, strides: { ints: strides }, dilations: { ints: dilations }, group: { i: group }, kernel_shape: { ints: ws.slice(2) } },
    cuda,
  });
  const s = await Session.load(p.build(), { device: 'cuda:0' });
  const ref = convRef(xv, xs, wv, ws, { pads, strides, dilations, group }, ys);
  if (bias || fused) {
    const per = count(ys.slice(2));
    for (let i = 0; i < ref.length; i++) {
      ref[i] += bv[Math.floor(i / per) % ws[0]] + (fused?.residual ? zv[i] : 0);
      if (fused?.relu) ref[i] = Math.max(ref[i], 0);
    }
  }
  const want = lay(ref, ys);
  const feeds = { x: new Tensor(dtype, enc(lay(xv, xs)), layDims(xs)) };
  if (z !== undefined) feeds.z = new Tensor(dtype, enc(lay(zv, ys)), layDims(ys));
  for (let r = 0; r < 2; r++) {
    const out = (await s.run(feeds)).y;
    assert.deepEqual(out.dims, layDims(ys));
    const err = relError(dec(out.data), want);
    assert.ok(err < tol, `Conv X ${JSON.stringify(xs)} W ${JSON.stringify(ws)} pads ${pads}: relative error ${err} (run ${r})`);
  }
  s.dispose();
}

describe('Conv through cuDNN', () => {
  const cases = [
    ['3x3, pad 1, with bias', { xs: [2, 8, 16, 16], ws: [16, 8, 3, 3], pads: [1, 1, 1, 1], bias: true }],
    ['stride 2, dilation 2', { xs: [1, 4, 17, 19], ws: [6, 4, 3, 3], pads: [2, 1, 2, 1], strides: [2, 2], dilations: [2, 2] }],
    ['depthwise', { xs: [1, 8, 12, 12], ws: [8, 1, 3, 3], pads: [1, 1, 1, 1], group: 8 }],
    ['two groups, no pad', { xs: [1, 8, 10, 10], ws: [6, 4, 3, 3], group: 2 }],
    ['asymmetric pads (SAME, stride 2)', { xs: [1, 3, 15, 15], ws: [4, 3, 3, 3], pads: [0, 0, 1, 1], strides: [2, 2] }],
    ['asymmetric pads on both sides', { xs: [1, 2, 9, 11], ws: [3, 2, 3, 2], pads: [2, 0, 0, 1] }],
    ['1-D', { xs: [2, 4, 20], ws: [5, 4, 3], pads: [1, 2] }],
    ['1x1, larger', { xs: [4, 64, 28, 28], ws: [128, 64, 1, 1], bias: true }],
    ['7x7 stride 2 (a ResNet stem)', { xs: [1, 3, 64, 64], ws: [16, 3, 7, 7], pads: [3, 3, 3, 3], strides: [2, 2] }],
  ];
  for (const [name, c] of cases) it(name, () => checkConv(c));
  it('tf32', () => checkConv({ xs: [2, 16, 16, 16], ws: [32, 16, 3, 3], pads: [1, 1, 1, 1], precision: 'tf32', tol: 5e-3 }));
  it('f16 storage, with bias', () => checkConv({ xs: [2, 16, 16, 16], ws: [32, 16, 3, 3], pads: [1, 1, 1, 1], bias: true, precision: 'fp16', dtype: 'f16', tol: 1e-2 }));
  it('f16 storage, asymmetric pads, depthwise', () => checkConv({ xs: [1, 8, 15, 15], ws: [8, 1, 3, 3], pads: [0, 0, 1, 1], strides: [2, 2], group: 8, precision: 'fp16', dtype: 'f16', tol: 1e-2 }));
  it('bf16 storage', () => checkConv({ xs: [1, 16, 12, 12], ws: [16, 16, 3, 3], pads: [1, 1, 1, 1], precision: 'bf16', dtype: 'bf16', tol: 2e-2 }));
  it('fused bias + residual + ReLU epilogue (f32)', () => checkConv({ xs: [2, 8, 16, 16], ws: [16, 8, 3, 3], pads: [1, 1, 1, 1], fused: { relu: true, residual: true } }));
});

describe('NhwcConv (channels-last) through cuDNN', () => {
  const f16 = { precision: 'fp16', dtype: 'f16', tol: 1e-2, channelsLast: true };
  const cases = [
    ['3x3, pad 1, with bias', { xs: [2, 16, 16, 16], ws: [32, 16, 3, 3], pads: [1, 1, 1, 1], bias: true }],
    ['depthwise, stride 2, asymmetric pads', { xs: [1, 8, 15, 15], ws: [8, 1, 3, 3], pads: [0, 0, 1, 1], strides: [2, 2], group: 8 }],
    ['asymmetric pads on both sides, two groups', { xs: [1, 8, 9, 11], ws: [6, 4, 3, 2], pads: [2, 0, 0, 1], group: 2 }],
    ['7x7 stride 2 on 3 channels (a ResNet stem)', { xs: [1, 3, 64, 64], ws: [16, 3, 7, 7], pads: [3, 3, 3, 3], strides: [2, 2], bias: true }],
    ['1x1 with bias and ReLU fused', { xs: [4, 64, 14, 14], ws: [128, 64, 1, 1], fused: { relu: true } }],
    ['3x3 with bias, residual and ReLU fused', { xs: [2, 32, 14, 14], ws: [32, 32, 3, 3], pads: [1, 1, 1, 1], fused: { relu: true, residual: true } }],
    ['1x1 with bias and residual, identity activation', { xs: [2, 32, 14, 14], ws: [16, 32, 1, 1], fused: { relu: false, residual: true } }],
    ['1x1 with bias only, identity activation', { xs: [2, 32, 14, 14], ws: [16, 32, 1, 1], fused: { relu: false } }],
  ];
  for (const [name, c] of cases) it(`${name} (f16)`, () => checkConv({ ...c, ...f16 }));
  it('bf16, 3x3 with bias and ReLU fused', () => checkConv({ xs: [1, 16, 12, 12], ws: [16, 16, 3, 3], pads: [1, 1, 1, 1], fused: { relu: true }, precision: 'bf16', dtype: 'bf16', tol: 2e-2, channelsLast: true }));
});

describe('sessions side by side', () => {
  it('runs a cuDNN and a cuBLASLt session concurrently from their first runs (graph captures included)', async () => {
    const conv = new PlanBuilder();
    const cx = conv.input('x', 'f32', [1, 8, 16, 16]);
    const cw = conv.weight('w', 'f32', [8, 8, 3, 3], randoms(576, 2, 0.5));
    const cy = conv.output('y', 'f32', [1, 8, 16, 16]);
    conv.kernel({ op: 'Conv', inputs: [cx, cw], outputs: [cy], attrs: { pads: { ints: [1, 1, 1, 1] } }, cuda: { library: 'cudnn', before: [], after: [] } });
    const mm = matmulArtifact({ sa: [4, 64, 64], sb: [64, 64], b: randoms(4096, 2) });
    const [s1, s2] = await Promise.all([Session.load(conv.build(), { device: 'cuda:0' }), Session.load(mm.bytes, { device: 'cuda:0' })]);
    const xv = randoms(2048, 1), av = randoms(4 * 64 * 64, 1);
    const want1 = convRef(xv, [1, 8, 16, 16], randoms(576, 2, 0.5), [8, 8, 3, 3], { pads: [1, 1, 1, 1], strides: [1, 1], dilations: [1, 1] }, [1, 8, 16, 16]);
    const want2 = matmulRef(av, [4, 64, 64], randoms(4096, 2), [64, 64]);
    const runs = [];
    for (let i = 0; i < 20; i++) {
      runs.push(s1.run({ x: new Tensor('f32', xv, [1, 8, 16, 16]) }).then((r) => assert.ok(relError(r.y.data, want1) < 1e-4)));
      runs.push(s2.run({ a: new Tensor('f32', av, [4, 64, 64]) }).then((r) => assert.ok(relError(r.y.data, want2) < 1e-5)));
    }
    await Promise.all(runs);
    assert.equal(s1.cudaGraph, 'captured');
    assert.equal(s2.cudaGraph, 'captured');
    s1.dispose();
    s2.dispose();
  });
});

// ---- device-resident tensors ----

describe('device tensors', () => {
  it('returns outputs on the device, takes them as feeds, and downloads them', async () => {
    const { bytes, bias, cols } = reluBiasArtifact();
    const s = await Session.load(bytes, { device: 'cuda:0' });
    const x = randoms(4096, 7);
    const { y } = await s.run({ x: new Tensor('f32', x, [64, 64]) }, { outputLocation: 'device' });
    assert.ok(y instanceof DeviceTensor);
    assert.equal(y.dtype, 'f32');
    assert.deepEqual(y.dims, [64, 64]);
    assert.equal(y.device, 'cuda:0');
    const once = reluBiasRef(x, bias, cols);
    assert.ok(relError((await y.download()).data, once) < 1e-6);
    // Chained: the device output is the next run's feed, device to device.
    const { y: y2 } = await s.run({ x: y }, { outputLocation: 'device' });
    const twice = reluBiasRef(Float32Array.from(once), bias, cols);
    assert.ok(relError((await y2.download()).data, twice) < 1e-6);
    const { y: host } = await s.run({ x: y2 });
    assert.ok(host instanceof Tensor);
    y.dispose();
    y.dispose();
    assert.equal(y.disposed, true);
    await assert.rejects(y.download(), { code: 'MCPC5004' });
    await assert.rejects(s.run({ x: y }), { code: 'MCPC5001' });
    y2.dispose();
    s.dispose();
  });

  it('uploads host tensors and checks their dtype and dims as feeds', async () => {
    const { bytes, bias, cols } = reluBiasArtifact();
    const s = await Session.load(bytes, { device: 'cuda:0' });
    const x = randoms(4096, 8);
    const dx = await DeviceTensor.fromHost(new Tensor('f32', x, [64, 64]), 'cuda:0');
    assert.deepEqual((await dx.download()).data, x);
    const { y } = await s.run({ x: dx });
    assert.ok(relError(y.data, reluBiasRef(x, bias, cols)) < 1e-6);
    const wrong = await DeviceTensor.fromHost(new Tensor('f32', x, [32, 128]));
    await assert.rejects(s.run({ x: wrong }), { code: 'MCPC5001' });
    const wrongType = await DeviceTensor.fromHost(new Tensor('i32', new Int32Array(4096), [64, 64]));
    await assert.rejects(s.run({ x: wrongType }), { code: 'MCPC5001' });
    assert.throws(() => new DeviceTensor(Symbol('x'), {}), TypeError);
    await assert.rejects(s.run({ x: dx }, { outputLocation: 'device', outputs: { y: new Float32Array(4096) } }), TypeError);
    for (const t of [dx, wrong, wrongType]) t.dispose();
    s.dispose();
  });

  it('a cpu session refuses device tensors and outputLocation device', async () => {
    const p = new PlanBuilder({ target: 'cpu' });
    const x = p.input('x', 'f32', [4]);
    const y = p.output('y', 'f32', [4]);
    p.kernel({ op: 'Relu', inputs: [x], outputs: [y] });
    const s = await Session.load(p.build(), { device: 'cpu' });
    const dx = await DeviceTensor.fromHost(new Tensor('f32', new Float32Array(4), [4]));
    await assert.rejects(s.run({ x: dx }), { code: 'MCPC5001', message: /runs on cpu/ });
    await assert.rejects(s.run({ x: new Tensor('f32', new Float32Array(4), [4]) }, { outputLocation: 'device' }), { code: 'MCPC5001' });
    dx.dispose();
    s.dispose();
  });
});

// ---- the compiled-code cache ----

describe('compiled-code cache', () => {
  it('writes one entry, reuses it, and recompiles a corrupted one', async () => {
    const tag = `// cache test ${process.pid} ${Date.now()}`;
    const { bytes, bias, cols } = reluBiasArtifact({ extraSource: tag });
    const before = new Set(readdirSync(cacheDir));
    const s1 = await Session.load(bytes, { device: 'cuda:0' });
    const added = readdirSync(cacheDir).filter((f) => !before.has(f));
    assert.equal(added.length, 1, `cache entries added: ${added}`);
    assert.match(added[0], /^sm_\d+-nvrtc[\d.]+-[0-9a-f]{40}\.bin$/);
    const entry = join(cacheDir, added[0]);
    const good = readFileSync(entry);
    s1.dispose();
    const s2 = await Session.load(bytes, { device: 'cuda:0' });
    assert.deepEqual(readFileSync(entry), good);
    s2.dispose();
    const bad = Buffer.from(good);
    for (let i = 100; i < Math.min(bad.length, 400); i++) bad[i] ^= 0x5a;
    writeFileSync(entry, bad);
    const s3 = await Session.load(bytes, { device: 'cuda:0' });
    const x = randoms(4096, 9);
    assert.ok(relError((await s3.run({ x: new Tensor('f32', x, [64, 64]) })).y.data, reluBiasRef(x, bias, cols)) < 1e-6);
    assert.deepEqual(readFileSync(entry), good, 'the corrupted entry was rewritten');
    writeFileSync(entry, good.subarray(0, 40));
    (await Session.load(bytes, { device: 'cuda:0' })).dispose();
    s3.dispose();
  });
});

// ---- errors ----

describe('errors', () => {
  let good;
  before(() => {
    good = reluBiasArtifact();
  });

  async function stillWorks() {
    const s = await Session.load(good.bytes, { device: 'cuda:0' });
    const x = randoms(4096, 11);
    assert.ok(relError((await s.run({ x: new Tensor('f32', x, [64, 64]) })).y.data, reluBiasRef(x, good.bias, good.cols)) < 1e-6);
    s.dispose();
  }

  it('a source that does not compile: MCPC5103 with the NVRTC log', async () => {
    const p = new PlanBuilder();
    const x = p.input('x', 'f32', [4]);
    const y = p.output('y', 'f32', [4]);
    p.source = 'extern "C" __global__ void k(const float* x, float* y) { y[0] = undeclared_thing; }\n';
    p.kernel({ op: 'Relu', inputs: [x], outputs: [y], cuda: { before: [], after: [launch1d('k', 4, [x, y])] } });
    await assert.rejects(Session.load(p.build(), { device: 'cuda:0' }), (e) => {
      assert.equal(e.code, 'MCPC5103');
      assert.match(e.message, /undeclared_thing/);
      return true;
    });
    await stillWorks();
  });

  it('a launch of a kernel the source does not define: MCPC4010 naming the kernel and node', async () => {
    const p = new PlanBuilder();
    const x = p.input('x', 'f32', [4]);
    const y = p.output('y', 'f32', [4]);
    p.source = 'extern "C" __global__ void k(const float* x, float* y) { y[threadIdx.x] = x[threadIdx.x]; }\n';
    p.kernel({ op: 'Relu', inputs: [x], outputs: [y], source: '/layer/Relu', cuda: { before: [], after: [launch1d('missing', 4, [x, y])] } });
    await assert.rejects(Session.load(p.build(), { device: 'cuda:0' }), { code: 'MCPC4010', message: /kernel 0 \(Relu at node '\/layer\/Relu'\).*'missing'/ });
  });

  it('a plan whose source hash does not match: MCPC4010', async () => {
    const p = new PlanBuilder();
    const x = p.input('x', 'f32', [4]);
    const y = p.output('y', 'f32', [4]);
    p.source = 'extern "C" __global__ void k(const float* x, float* y) { y[threadIdx.x] = x[threadIdx.x]; }\n';
    p.kernel({ op: 'Relu', inputs: [x], outputs: [y], cuda: { before: [], after: [launch1d('k', 4, [x, y])] } });
    await assert.rejects(Session.load(p.build({ sha256Override: 'f'.repeat(64) }), { device: 'cuda:0' }), { code: 'MCPC4010', message: /sha256/ });
  });

  it('a library that does not compute the op, and a kernel without CUDA code: MCPC4010', async () => {
    const p = new PlanBuilder();
    const x = p.input('x', 'f32', [4, 4]);
    const y = p.output('y', 'f32', [4, 4]);
    p.kernel({ op: 'MatMul', inputs: [x, x], outputs: [y], cuda: { library: 'cudnn', before: [], after: [] } });
    await assert.rejects(Session.load(p.build(), { device: 'cuda:0' }), { code: 'MCPC4010', message: /cudnn/ });
    const q = new PlanBuilder();
    const a = q.input('x', 'f32', [4]);
    const b = q.output('y', 'f32', [4]);
    q.kernel({ op: 'Relu', inputs: [a], outputs: [b] });
    await assert.rejects(Session.load(q.build(), { device: 'cuda:0' }), { code: 'MCPC4010', message: /no CUDA code/ });
  });

  it('a launch block larger than the device allows: MCPC4010', async () => {
    const p = new PlanBuilder();
    const x = p.input('x', 'f32', [4]);
    const y = p.output('y', 'f32', [4]);
    p.source = 'extern "C" __global__ void k(const float* x, float* y) { y[0] = x[0]; }\n';
    p.kernel({ op: 'Relu', inputs: [x], outputs: [y], cuda: { before: [], after: [{ entry: 'k', grid: [1, 1, 1], block: [2048, 1, 1], sharedBytes: 0, args: [x, y] }] } });
    await assert.rejects(Session.load(p.build(), { device: 'cuda:0' }), { code: 'MCPC4010', message: /threads per block/ });
  });

  it('an artifact for a newer GPU: MCPC5104 naming both', async () => {
    const p = new PlanBuilder();
    const x = p.input('x', 'f32', [4]);
    const y = p.output('y', 'f32', [4]);
    p.source = 'extern "C" __global__ void k(const float* x, float* y) { y[0] = x[0]; }\n';
    p.kernel({ op: 'Relu', inputs: [x], outputs: [y], cuda: { before: [], after: [launch1d('k', 1, [x, y])] } });
    await assert.rejects(Session.load(p.build({ minComputeCapability: 990 }), { device: 'cuda:0' }), { code: 'MCPC5104', message: /sm_990.*sm_\d+/ });
  });

  it('out of device memory at load: MCPC5102, and nothing leaks', async () => {
    const { bytes } = reluBiasArtifact();
    // The same plan with a 1 PiB arena.
    const p = new PlanBuilder();
    const x = p.input('x', 'f32', [64, 64]);
    const b = p.weight('b', 'f32', [64], randoms(64, 3));
    const t = p.temp('t', 'f32', [64, 64], 2 ** 50 - 64 * 64 * 4);
    const y = p.output('y', 'f32', [64, 64]);
    p.source = `extern "C" __global__ void relu_bias(const float* x, const float* b, float* y) { const int i = blockIdx.x * blockDim.x + threadIdx.x; if (i < 4096) y[i] = fmaxf(x[i], 0.0f) + b[i % 64]; }\n`;
    p.kernel({ op: 'Add', inputs: [x, b], outputs: [t], cuda: { before: [], after: [launch1d('relu_bias', 4096, [x, b, t])] } });
    p.kernel({ op: 'Add', inputs: [t, b], outputs: [y], cuda: { before: [], after: [launch1d('relu_bias', 4096, [t, b, y])] } });
    for (let i = 0; i < 3; i++) await assert.rejects(Session.load(p.build(), { device: 'cuda:0' }), { code: 'MCPC5102', message: /arena/ });
    void bytes;
    await stillWorks();
  });

  it('a device that does not exist: MCPC5006; a cpu artifact on cuda and the reverse: MCPC4012', async () => {
    await assert.rejects(Session.load(good.bytes, { device: 'cuda:99' }), { code: 'MCPC5006', message: /cuda:99/ });
    await assert.rejects(Session.load(good.bytes, { device: 'cpu' }), { code: 'MCPC4012', message: /target cuda.*device cpu/ });
    const p = new PlanBuilder({ target: 'cpu' });
    const x = p.input('x', 'f32', [4]);
    const y = p.output('y', 'f32', [4]);
    p.kernel({ op: 'Relu', inputs: [x], outputs: [y] });
    await assert.rejects(Session.load(p.build(), { device: 'cuda:0' }), { code: 'MCPC4012', message: /target cpu.*device cuda:0/ });
    await assert.rejects(Session.load(good.bytes, { device: 'gpu' }), { code: 'MCPC5006' });
    // A cuda artifact loads on cuda:0 when no device is named.
    const s = await Session.load(good.bytes);
    assert.equal(s.device, 'cuda:0');
    s.dispose();
  });

  it('feeds of the wrong size: MCPC5001', async () => {
    const s = await Session.load(good.bytes, { device: 'cuda:0' });
    await assert.rejects(s.run({ x: new Tensor('f32', new Float32Array(10), [10]) }), { code: 'MCPC5001' });
    s.dispose();
  });
});

// ---- faults that kill the GPU context: in child processes ----

function child(mode, env = {}) {
  const r = spawnSync(process.execPath, [join(ROOT, 'test', 'gpu', 'fault-child.mjs'), mode], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 120_000,
  });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  let result;
  try {
    result = JSON.parse(line);
  } catch {
    throw new Error(`child ${mode} exited ${r.status} ${r.signal ?? ''}: ${r.stdout}\n${r.stderr}`);
  }
  return result;
}

describe('faults (child processes)', () => {
  it('an illegal address in a kernel: MCPC5101, the session refuses to run again, the process lives on', () => {
    const r = child('illegal-address');
    assert.equal(r.first.code, 'MCPC5101', JSON.stringify(r));
    assert.match(r.first.message, /unusable/);
    assert.match(r.second.message, /cannot run/);
    assert.equal(r.alive, true);
  });

  it('MCPC_CUDA_SYNC=1 names the kernel that faulted', () => {
    const r = child('illegal-address', { MCPC_CUDA_SYNC: '1' });
    assert.equal(r.first.code, 'MCPC5101', JSON.stringify(r));
    assert.match(r.first.message, /kernel 1 \(Add at node '\/bad'\)/);
  });

  it('a kernel whose parameters do not match the launch: refused at load', () => {
    const r = child('param-mismatch');
    assert.equal(r.first.code, 'MCPC4010', JSON.stringify(r));
    assert.match(r.first.message, /kernel 'three' takes more than the 2 parameters the plan passes/);
  });
});
