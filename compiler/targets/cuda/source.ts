// Printing helpers shared by the CUDA generators: C types and loads/stores per dtype, literals,
// index arithmetic with baked-in shapes (unravelling, numpy-broadcast offsets), kernel parameter
// lists, launch geometry, and the module builder that deduplicates identical kernels.

import { createHash } from 'node:crypto';
import type { ArtifactDType, CudaLaunch } from '../../artifact/format.js';
import { DEVICE_HELPERS } from './device-helpers.js';

/** Threads per block of grid-stride kernels. */
export const BLOCK = 256;
/** Grid-stride kernels launch at most this many blocks; each thread then loops. */
export const MAX_BLOCKS = 8192;
/** Static shared memory a kernel may use without the opt-in: 48 KiB. */
export const MAX_SHARED_BYTES = 48 * 1024;
/**
 * Largest count a 32-bit `int` loop variable covers, with room for the grid stride added past the
 * end (so `i += stride` cannot overflow).
 */
const INT32_LIMIT = 2 ** 30;

/** Storage type of each dtype in generated code (prelude typedefs); bool is one byte, 0 or 1. */
const STORAGE: Partial<Record<ArtifactDType, string>> = {
  f32: 'float', f64: 'double', f16: 'mcpc_f16', bf16: 'mcpc_bf16',
  i64: 'mcpc_i64', i32: 'mcpc_i32', i16: 'mcpc_i16', i8: 'mcpc_i8',
  u64: 'mcpc_u64', u32: 'mcpc_u32', u16: 'mcpc_u16', u8: 'mcpc_u8', bool: 'mcpc_u8',
};

const BYTES: Partial<Record<ArtifactDType, number>> = {
  f32: 4, f64: 8, f16: 2, bf16: 2, i64: 8, i32: 4, i16: 2, i8: 1, u64: 8, u32: 4, u16: 2, u8: 1, bool: 1,
};

export function hasStorage(d: ArtifactDType): boolean {
  return STORAGE[d] !== undefined;
}

export function storageType(d: ArtifactDType): string {
  const t = STORAGE[d];
  if (!t) throw new Error(`cuda: no storage type for ${d}`);
  return t;
}

export function elementBytes(d: ArtifactDType): number {
  return BYTES[d]!;
}

export const isFloatDtype = (d: ArtifactDType) => d === 'f32' || d === 'f16' || d === 'bf16' || d === 'f64';
export const isIntDtype = (d: ArtifactDType) => !isFloatDtype(d) && d !== 'bool';
export const isSignedDtype = (d: ArtifactDType) => d === 'i8' || d === 'i16' || d === 'i32' || d === 'i64';

/** The type values of a dtype are computed in: float for f32/f16/bf16, double for f64, bool, or the integer itself. */
export function computeType(d: ArtifactDType): string {
  if (d === 'f32' || d === 'f16' || d === 'bf16') return 'float';
  if (d === 'bool') return 'bool';
  return storageType(d);
}

/** A computed value: a C expression (usually a local's name) in computeType(dtype). */
export interface Val {
  expr: string;
  dtype: ArtifactDType;
}

/** Loads element `index` of `ptr` (a pointer to dtype storage) as its compute type. */
export function load(d: ArtifactDType, ptr: string, index: string): string {
  const e = `${ptr}[${index}]`;
  if (d === 'f16') return `mcpc_f16_to_f32(${e})`;
  if (d === 'bf16') return `mcpc_bf16_to_f32(${e})`;
  if (d === 'bool') return `(${e} != 0)`;
  return e;
}

/** Converts a storage element (already read) to its compute type. */
export function fromStorage(d: ArtifactDType, e: string): string {
  if (d === 'f16') return `mcpc_f16_to_f32(${e})`;
  if (d === 'bf16') return `mcpc_bf16_to_f32(${e})`;
  if (d === 'bool') return `(${e} != 0)`;
  return e;
}

/** Converts a compute-type value to storage (rounding halves to nearest even). */
export function toStorage(d: ArtifactDType, value: string): string {
  if (d === 'f16') return `mcpc_f32_to_f16(${value})`;
  if (d === 'bf16') return `mcpc_f32_to_bf16(${value})`;
  if (d === 'bool') return `(mcpc_u8)(${value})`;
  return `(${storageType(d)})(${value})`;
}

/** A statement storing `value` (in d's compute type) into element `index` of `ptr`. */
export function store(d: ArtifactDType, ptr: string, index: string, value: string): string {
  return `${ptr}[${index}] = ${toStorage(d, value)};`;
}

/**
 * Converts a value to another dtype with ONNX Cast semantics: float to integer truncates (NaN to 0,
 * out-of-range to the i64 bounds, then wraps to narrower types), anything to bool is `!= 0`, and a
 * value cast to f16/bf16 is rounded to that type although it stays a float.
 */
export function convert(v: Val, to: ArtifactDType): string {
  const from = v.dtype;
  if (from === to) return v.expr;
  if (to === 'bool') return from === 'bool' ? v.expr : `(${v.expr} != 0)`;
  const ct = computeType(to);
  if (to === 'f16') return `mcpc_round_f16((float)(${v.expr}))`;
  if (to === 'bf16') return `mcpc_round_bf16((float)(${v.expr}))`;
  if (isIntDtype(to) && isFloatDtype(from)) {
    const wide = `mcpc_f2i64((double)(${v.expr}))`;
    return to === 'i64' ? wide : `(${ct})(${wide})`;
  }
  return `(${ct})(${v.expr})`;
}

/** A C literal of `x` in the compute type of `d`. */
export function literal(x: number, d: ArtifactDType): string {
  const ct = computeType(d);
  if (ct === 'bool') return x !== 0 ? 'true' : 'false';
  if (ct === 'float') return floatLiteral(x);
  if (ct === 'double') return doubleLiteral(x);
  if (d === 'i64') return `${Math.trunc(x)}LL`;
  if (d === 'u64') return `${Math.trunc(x)}ULL`;
  return `(${ct})${Math.trunc(x)}`;
}

export function floatLiteral(x: number): string {
  if (Number.isNaN(x)) return '__int_as_float(0x7fc00000)';
  if (x === Infinity) return '__int_as_float(0x7f800000)';
  if (x === -Infinity) return '__int_as_float((int)0xff800000u)';
  const f = Math.fround(x);
  if (!Number.isFinite(f)) return f > 0 ? '__int_as_float(0x7f800000)' : '__int_as_float((int)0xff800000u)';
  const s = Object.is(f, -0) ? '-0.0' : shortestFloat(f);
  return f < 0 || Object.is(f, -0) ? `(${s}f)` : `${s}f`;
}

/** Shortest decimal that rounds back to the float32 `f`. */
function shortestFloat(f: number): string {
  for (let p = 1; p <= 9; p++) {
    const s = f.toPrecision(p);
    if (Math.fround(Number(s)) === f) return withPoint(s);
  }
  return withPoint(f.toPrecision(9));
}

function withPoint(s: string): string {
  return /[.e]/.test(s) ? s : `${s}.0`;
}

export function doubleLiteral(x: number): string {
  if (Number.isNaN(x)) return '__longlong_as_double(0x7ff8000000000000LL)';
  if (x === Infinity) return '__longlong_as_double(0x7ff0000000000000LL)';
  if (x === -Infinity) return '__longlong_as_double((mcpc_i64)0xfff0000000000000ULL)';
  const s = Object.is(x, -0) ? '-0.0' : withPoint(String(x));
  return x < 0 || Object.is(x, -0) ? `(${s})` : s;
}

export function numel(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

export function stridesOf(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length);
  let acc = 1;
  for (let i = dims.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= dims[i]!;
  }
  return s;
}

/** The index type of loops over `n` elements: int when it fits, else 64-bit. */
export function indexType(n: number): string {
  return n > INT32_LIMIT ? 'mcpc_i64' : 'int';
}

/** An integer literal for index arithmetic (64-bit when large). */
export function intLit(n: number): string {
  return Math.abs(n) > INT32_LIMIT ? `${n}LL` : String(n);
}

/**
 * Expression for the offset `sum_k coord_k(i) * stride_k` where coord_k(i) are the coordinates of
 * flat index `i` in `dims` (row-major). Axes of size 1 or stride 0 drop out; adjacent axes that are
 * contiguous in both the index space and the strides merge, so a plain copy becomes `i`.
 */
export function stridedOffset(dims: readonly number[], strides: readonly number[], i: string): string {
  // Merge axes: drop size-1 axes, then join (a, b) when stride[a] == stride[b] * dims[b].
  const axes: { dim: number; stride: number }[] = [];
  dims.forEach((d, k) => {
    if (d !== 1) axes.push({ dim: d, stride: strides[k]! });
  });
  const merged: { dim: number; stride: number }[] = [];
  for (const a of axes) {
    const prev = merged[merged.length - 1];
    if (prev && prev.stride === a.stride * a.dim) {
      prev.dim *= a.dim;
      prev.stride = a.stride;
    } else if (prev && prev.stride === 0 && a.stride === 0) {
      prev.dim *= a.dim;
    } else merged.push({ ...a });
  }
  const terms: string[] = [];
  let inner = 1;
  for (let k = merged.length - 1; k >= 0; k--) {
    const { dim, stride } = merged[k]!;
    if (stride !== 0) {
      let c = inner === 1 ? i : `${i} / ${intLit(inner)}`;
      if (k > 0) c = `(${c}) % ${intLit(dim)}`;
      else if (inner !== 1) c = `(${c})`;
      terms.push(stride === 1 ? c : `${c} * ${intLit(stride)}`);
    }
    inner *= dim;
  }
  if (terms.length === 0) return '0';
  return terms.length === 1 ? terms[0]! : `(${terms.reverse().join(' + ')})`;
}

/** Offset into a tensor of `inDims` read at flat index `i` of its numpy broadcast to `outDims`. */
export function broadcastOffset(inDims: readonly number[], outDims: readonly number[], i: string): string {
  const off = outDims.length - inDims.length;
  const inStrides = stridesOf(inDims);
  const eff = outDims.map((_, k) => (k < off || inDims[k - off] === 1 ? 0 : inStrides[k - off]!));
  return stridedOffset(outDims, eff, i);
}

/** Coordinate `k` of flat index `i` in `dims`, as an expression. */
export function coordinate(dims: readonly number[], k: number, i: string): string {
  const inner = numel(dims.slice(k + 1));
  if (dims[k] === 1) return '0';
  const q = inner === 1 ? i : `${i} / ${intLit(inner)}`;
  return k === 0 ? (inner === 1 ? i : `(${q})`) : `(${q}) % ${intLit(dims[k]!)}`;
}

/** Launch geometry of a grid-stride loop over `n` items with `block` threads per block. */
export function gridStride(n: number, block = BLOCK): Pick<CudaLaunch, 'grid' | 'block' | 'sharedBytes'> {
  const blocks = Math.max(1, Math.min(Math.ceil(n / block), MAX_BLOCKS));
  return { grid: [blocks, 1, 1], block: [block, 1, 1], sharedBytes: 0 };
}

/** Launch geometry of one block per row (rows beyond the grid are looped over). */
export function blockPerRow(rows: number, block: number): Pick<CudaLaunch, 'grid' | 'block' | 'sharedBytes'> {
  return { grid: [Math.max(1, Math.min(rows, 65535 * 16)), 1, 1], block: [block, 1, 1], sharedBytes: 0 };
}

/** Smallest power of two >= n, clamped to [lo, hi]. */
export function pow2Block(n: number, lo = 32, hi = BLOCK): number {
  let b = lo;
  while (b < n && b < hi) b *= 2;
  return b;
}

/**
 * The parameters of one kernel: device pointers to plan slots, in order. A slot read by several
 * operands is passed once; the slot a kernel updates in place is passed once, writable.
 */
export class KernelParams {
  readonly slots: number[] = [];
  private readonly names = new Map<number, string>();
  private readonly decls: string[] = [];

  /**
   * A read-only pointer to `slot`'s storage (or to `type`, for kernels that move raw bytes); the
   * same name for the same slot.
   */
  read(slot: number, dtype: ArtifactDType, type = storageType(dtype)): string {
    const known = this.names.get(slot);
    if (known) return known;
    return this.add(slot, `const ${type}* __restrict__`);
  }

  /** A writable pointer to `slot`'s storage (or to `type`). */
  write(slot: number, dtype: ArtifactDType, type = storageType(dtype)): string {
    if (this.names.has(slot)) throw new Error(`cuda: slot ${slot} is both read and written; use inPlace`);
    return this.add(slot, `${type}* __restrict__`);
  }

  /** A pointer to a slot the kernel reads and writes (no __restrict__). */
  inPlace(slot: number, dtype: ArtifactDType): string {
    if (this.names.has(slot)) throw new Error(`cuda: slot ${slot} passed twice`);
    return this.add(slot, `${storageType(dtype)}*`);
  }

  private add(slot: number, type: string): string {
    const name = `p${this.slots.length}`;
    this.slots.push(slot);
    this.names.set(slot, name);
    this.decls.push(`${type} ${name}`);
    return name;
  }

  get declaration(): string {
    return this.decls.join(', ');
  }
}


/**
 * The translation unit of a plan: kernels added one by one; a kernel whose parameters and body
 * equal an earlier one's is not printed again, its launches reuse the earlier entry.
 */
export class CudaModuleBuilder {
  private readonly byText = new Map<string, string>();
  private readonly chunks: string[] = [];

  /** Adds `extern "C" __global__ void <name>(<params>) { body }` and returns the entry to launch. */
  addKernel(name: string, params: string, body: string): string {
    const key = `${params}\n${body}`;
    const known = this.byText.get(key);
    if (known) return known;
    this.byText.set(key, name);
    this.chunks.push(`extern "C" __global__ void ${name}(${params}) {\n${body}}\n`);
    return name;
  }

  get kernelCount(): number {
    return this.chunks.length;
  }

  finish(): { source: string; sha256: string } {
    const source = ['#include "mcpc_prelude.cuh"\n', DEVICE_HELPERS, ...this.chunks].join('\n');
    return { source, sha256: createHash('sha256').update(source).digest('hex') };
  }
}

/** Indents every line of `lines` by `n` spaces. */
export function indent(lines: readonly string[], n: number): string[] {
  const pad = ' '.repeat(n);
  return lines.map((l) => (l.length ? pad + l : l));
}

/** A C identifier fragment made of an op name. */
export function entryName(kernelId: number, op: string): string {
  return `k${kernelId}_${op.replace(/[^A-Za-z0-9_]/g, '_')}`;
}

/** The grid-stride loop header over `n` items with loop variable `i` of type `it`. */
export function gridStrideLoop(i: string, n: number): string {
  const it = indexType(n);
  const start = it === 'int' ? 'blockIdx.x * blockDim.x + threadIdx.x' : '(mcpc_i64)blockIdx.x * blockDim.x + threadIdx.x';
  const step = it === 'int' ? 'blockDim.x * gridDim.x' : '(mcpc_i64)blockDim.x * gridDim.x';
  return `for (${it} ${i} = ${start}; ${i} < ${intLit(n)}; ${i} += ${step})`;
}
