// Helpers of the GPU tests (node:test, plain JS against dist/: run by scripts/test-gpu.sh on a
// machine with a GPU, where TypeScript and vitest are not available). PlanBuilder writes cuda
// artifacts by hand (slots, kernels with hand-written CUDA C++, library anchors) so the runtime is
// tested independently of the compiler's CUDA generator; reference math runs here in float64.

import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DIST = join(ROOT, 'dist');

export async function importRuntime() {
  if (!existsSync(join(DIST, 'runtime', 'index.js'))) throw new Error(`no ${DIST}/runtime/index.js: build dist/ first (npm run build)`);
  return import(join(DIST, 'runtime', 'index.js'));
}

const BYTES = { f32: 4, f16: 2, bf16: 2, f64: 8, i64: 8, i32: 4, u8: 1, bool: 1 };
const ARRAYS = { f32: Float32Array, f16: Uint16Array, bf16: Uint16Array, f64: Float64Array, i64: BigInt64Array, i32: Int32Array, u8: Uint8Array, bool: Uint8Array };

export const count = (shape) => shape.reduce((a, d) => a * d, 1);
const alignUp = (x, a) => Math.ceil(x / a) * a;
const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

/** A cuda (or cpu) KernelPlan and artifact, assembled slot by slot. */
export class PlanBuilder {
  constructor({ target = 'cuda', precision = 'fp32' } = {}) {
    this.target = target;
    this.precision = precision;
    this.slots = [];
    this.kernels = [];
    this.inputSlots = [];
    this.outputSlots = [];
    this.inputs = [];
    this.outputs = [];
    this.weights = [];
    this.weightData = [];
    this.weightsLength = 0;
    this.arenaSize = 0;
    this.source = '';
  }

  #slot(name, dtype, shape, kind, index) {
    const id = this.slots.length;
    this.slots.push({ id, name, dtype, shape, byteLength: count(shape) * BYTES[dtype], kind, index });
    return id;
  }

  input(name, dtype, shape) {
    const id = this.#slot(name, dtype, shape, 'input', this.inputSlots.length);
    this.inputSlots.push(id);
    this.inputs.push({ name, dtype, shape });
    return id;
  }

  /** A model output computed by a kernel (a slot of kind output). */
  output(name, dtype, shape) {
    const id = this.#slot(name, dtype, shape, 'output', this.outputSlots.length);
    this.outputSlots.push(id);
    this.outputs.push({ name, dtype, shape });
    return id;
  }

  /** A model output that is another slot (an input, a weight or an arena value). */
  outputOf(name, slot) {
    const s = this.slots[slot];
    this.outputSlots.push(slot);
    this.outputs.push({ name, dtype: s.dtype, shape: s.shape });
  }

  weight(name, dtype, shape, data) {
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const offset = alignUp(this.weightsLength, 64);
    const index = this.weights.length;
    this.weights.push({ name, dtype, shape, offset, byteLength: bytes.byteLength });
    this.weightData.push({ offset, bytes });
    this.weightsLength = offset + bytes.byteLength;
    return this.#slot(name, dtype, shape, 'weight', index);
  }

  /** An arena value at a 256-byte aligned offset, or at `offset` if given. */
  temp(name, dtype, shape, offset) {
    const at = offset ?? alignUp(this.arenaSize, 256);
    const id = this.#slot(name, dtype, shape, 'arena', at);
    this.arenaSize = Math.max(this.arenaSize, at + count(shape) * BYTES[dtype]);
    return id;
  }

  kernel({ op, inputs, outputs, attrs = {}, cuda, family = 'opaque', source }) {
    const id = this.kernels.length;
    this.kernels.push({ id, family, op, attrs, inputs, outputs, sources: [source ?? `/${op}_${id}`], module: 'm0', ...(cuda ? { cuda } : {}) });
    return id;
  }

  plan({ sha256Override, minComputeCapability = 80 } = {}) {
    const plan = {
      target: this.target,
      slots: this.slots,
      kernels: this.kernels,
      outputSlots: this.outputSlots,
      inputSlots: this.inputSlots,
      precision: this.precision,
    };
    if (this.target === 'cuda') {
      const source = this.source.startsWith('#include') ? this.source : `#include "mcpc_prelude.cuh"\n${this.source}`;
      plan.cuda = { source, sha256: sha256Override ?? sha256(source), minComputeCapability };
    }
    return plan;
  }

  /** The artifact bytes (format of compiler/artifact/format.ts). */
  build(options = {}) {
    const planBytes = Buffer.from(JSON.stringify(this.plan(options)), 'utf8');
    const weights = Buffer.alloc(this.weightsLength);
    for (const w of this.weightData) Buffer.from(w.bytes.buffer, w.bytes.byteOffset, w.bytes.byteLength).copy(weights, w.offset);
    const header = {
      format: 'mcpc-artifact',
      formatVersion: 1,
      producer: 'test/gpu',
      source: { model: 'test.onnx', sha256: '0'.repeat(64), producer: 'test/gpu' },
      target: this.target,
      precision: this.precision,
      options: {},
      inputs: this.inputs,
      outputs: this.outputs,
      modules: [],
      weights: this.weights,
      arena: { size: options.arenaSize ?? this.arenaSize, alignment: 256, lowerBound: this.arenaSize, naiveSize: this.arenaSize },
      sections: [],
    };
    // Sections after the header: their offsets depend on the header's length, which depends on them.
    let headerBytes;
    for (let planOffset = 0; ; ) {
      const weightsOffset = alignUp(planOffset + planBytes.length, 4096);
      header.sections = [
        { name: 'plan', offset: planOffset, length: planBytes.length, sha256: sha256(planBytes) },
        { name: 'weights', offset: weightsOffset, length: weights.length, sha256: sha256(weights) },
      ];
      headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
      const want = alignUp(64 + headerBytes.length, 64);
      if (want === planOffset) break;
      planOffset = want;
    }
    const [plan, w] = header.sections;
    const out = Buffer.alloc(w.offset + w.length);
    out.write('MCPCART\0', 0, 'latin1');
    out.writeUInt32LE(1, 8);
    out.writeUInt32LE(0, 12);
    out.writeBigUInt64LE(BigInt(headerBytes.length), 16);
    createHash('sha256').update(headerBytes).digest().copy(out, 24);
    headerBytes.copy(out, 64);
    planBytes.copy(out, plan.offset);
    weights.copy(out, w.offset);
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  }
}

/** A launch covering `n` elements, one thread each. */
export function launch1d(entry, n, args, block = 256) {
  return { entry, grid: [Math.max(1, Math.ceil(n / block)), 1, 1], block: [block, 1, 1], sharedBytes: 0, args };
}

/** Deterministic values in [-scale, scale). */
export function randoms(n, seed, scale = 1) {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1) * scale;
  }
  return out;
}

/** max |a - b| / max(|b|, tiny): the relative error the tests bound. */
export function relError(actual, expected) {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(Number(actual[i]) - Number(expected[i]));
    if (!(d <= diff)) diff = Number.isNaN(d) ? Infinity : d;
    scale = Math.max(scale, Math.abs(Number(expected[i])));
  }
  return diff / (scale || 1);
}

// ---- float16 / bfloat16 bits ----

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function toF16(x) {
  f32[0] = x;
  const b = u32[0];
  const sign = (b >>> 16) & 0x8000;
  let exp = ((b >>> 23) & 0xff) - 127 + 15;
  let mant = b & 0x7fffff;
  if (((b >>> 23) & 0xff) === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  if (exp >= 31) return sign | 0x7c00;
  if (exp <= 0) {
    if (exp < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - exp;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1))) h++;
    return sign | h;
  }
  let h = (exp << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++;
  return sign | h;
}

export function fromF16(h) {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

export function toBF16(x) {
  f32[0] = x;
  const b = u32[0];
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

export function fromBF16(h) {
  u32[0] = h << 16;
  return f32[0];
}

// ---- reference math (float64) ----

/** numpy-style MatMul of row-major a (shape sa) and b (shape sb), as ONNX defines it. */
export function matmulRef(a, sa, b, sb) {
  let A = sa.length === 1 ? [1, sa[0]] : sa;
  let B = sb.length === 1 ? [sb[0], 1] : sb;
  const M = A[A.length - 2], K = A[A.length - 1], N = B[B.length - 1];
  const ba = A.slice(0, -2), bb = B.slice(0, -2);
  const rank = Math.max(ba.length, bb.length);
  const pa = [...Array(rank - ba.length).fill(1), ...ba], pb = [...Array(rank - bb.length).fill(1), ...bb];
  const batch = pa.map((d, i) => Math.max(d, pb[i]));
  const nb = count(batch);
  const out = new Float64Array(nb * M * N);
  const idx = new Array(rank).fill(0);
  for (let i = 0; i < nb; i++) {
    let oa = 0, ob = 0;
    for (let d = 0; d < rank; d++) {
      oa = oa * pa[d] + (pa[d] === 1 ? 0 : idx[d]);
      ob = ob * pb[d] + (pb[d] === 1 ? 0 : idx[d]);
    }
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += a[oa * M * K + m * K + k] * b[ob * K * N + k * N + n];
        out[i * M * N + m * N + n] = s;
      }
    }
    for (let d = rank - 1; d >= 0; d--) {
      if (++idx[d] < batch[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

/** Conv NCHW with 1 or 2 spatial dims (pads as ONNX: begins then ends). */
export function convRef(x, xs, w, ws, { pads, strides, dilations, group = 1 }, ys) {
  const two = xs.length === 4;
  const [N, C] = xs, [M, Cg] = ws;
  const H = two ? xs[2] : 1, W = xs[xs.length - 1];
  const KH = two ? ws[2] : 1, KW = ws[ws.length - 1];
  const OH = two ? ys[2] : 1, OW = ys[ys.length - 1];
  const [sh, sw] = two ? strides : [1, strides[0]];
  const [dh, dw] = two ? dilations : [1, dilations[0]];
  const [ph, pw] = two ? [pads[0], pads[1]] : [0, pads[0]];
  const out = new Float64Array(N * M * OH * OW);
  const Mg = M / group;
  for (let n = 0; n < N; n++) {
    for (let m = 0; m < M; m++) {
      const g = Math.floor(m / Mg);
      for (let oh = 0; oh < OH; oh++) {
        for (let ow = 0; ow < OW; ow++) {
          let s = 0;
          for (let c = 0; c < Cg; c++) {
            for (let kh = 0; kh < KH; kh++) {
              const ih = oh * sh - ph + kh * dh;
              if (ih < 0 || ih >= H) continue;
              for (let kw = 0; kw < KW; kw++) {
                const iw = ow * sw - pw + kw * dw;
                if (iw < 0 || iw >= W) continue;
                s += x[((n * C + g * Cg + c) * H + ih) * W + iw] * w[((m * Cg + c) * KH + kh) * KW + kw];
              }
            }
          }
          out[((n * M + m) * OH + oh) * OW + ow] = s;
        }
      }
    }
  }
  return out;
}

export { ARRAYS };

export function readJson(path) {
  return JSON.parse(readFileSync(path, 'utf8'));
}
