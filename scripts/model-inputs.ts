// Deterministic model inputs described by `<model>.inputs.json` (written by
// scripts/export-models.py and scripts/make-fixtures.py), shared by the benchmark and the tests.

import { readFileSync } from 'node:fs';

/** 32-bit FNV-1a hash of a string's UTF-16 code units. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** mulberry32: a small seeded PRNG returning uniform floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type TypedArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array;

export interface TensorValue {
  /** ORT / numpy-style name ('float32', 'int64', 'bool', ...); IR names ('f32', 'i64', ...) are accepted as input. */
  dtype: string;
  dims: number[];
  data: TypedArray;
}

const IR_TO_ORT: Record<string, string> = {
  f32: 'float32', f16: 'float16', f64: 'float64', i64: 'int64', i32: 'int32', i16: 'int16', i8: 'int8',
  u64: 'uint64', u32: 'uint32', u16: 'uint16', u8: 'uint8', bool: 'bool',
};

const ORT_TO_IR: Record<string, string> = Object.fromEntries(Object.entries(IR_TO_ORT).map(([k, v]) => [v, k]));

/** 'f32' -> 'float32'; ORT names pass through. */
export function toOrtDtype(dtype: string): string {
  return IR_TO_ORT[dtype] ?? dtype;
}

/** 'float32' -> 'f32' (the compiler IR's names); IR names pass through. */
export function toIrDtype(dtype: string): string {
  return ORT_TO_IR[dtype] ?? dtype;
}

/** One entry of `<model>.inputs.json`. */
export interface InputSpec {
  name: string;
  dtype: string;
  /** Declared dims; strings are symbolic (dynamic) dims, resolved from `example_dims`. */
  dims: (number | string)[];
  example_dims?: number[];
  /** Token ids: uniform integers in [0, vocab). */
  vocab?: number;
  /** Constant fill (attention masks: 1, token type ids: 0). */
  fill?: number;
  /** Float range, default [-1, 1]. */
  range?: [number, number];
}

export interface InputsJson {
  model: string;
  inputs: InputSpec[];
  outputs: { name: string; dtype: string; dims: (number | string)[] }[];
}

export function readInputsJson(inputsJsonPath: string): InputsJson {
  return JSON.parse(readFileSync(inputsJsonPath, 'utf8')) as InputsJson;
}

function concreteDims(spec: InputSpec): number[] {
  return spec.dims.map((d, i) => {
    if (typeof d === 'number') return d;
    const e = spec.example_dims?.[i];
    if (e === undefined) throw new Error(`input ${spec.name}: symbolic dim ${d} has no example_dims`);
    return e;
  });
}

function allocate(dtype: string, n: number): TypedArray {
  switch (dtype) {
    case 'float32': return new Float32Array(n);
    case 'float64': return new Float64Array(n);
    case 'int64': return new BigInt64Array(n);
    case 'uint64': return new BigUint64Array(n);
    case 'int32': return new Int32Array(n);
    case 'uint32': return new Uint32Array(n);
    case 'int16': return new Int16Array(n);
    case 'uint16': return new Uint16Array(n);
    case 'int8': return new Int8Array(n);
    case 'uint8':
    case 'bool': return new Uint8Array(n);
    default: throw new Error(`makeInputs: unsupported input dtype ${dtype}`);
  }
}

/**
 * Deterministic inputs for a model from its inputs.json: floats uniform in `range` (default [-1, 1]),
 * integer inputs with `vocab` uniform in [0, vocab), inputs with `fill` constant (masks all ones),
 * other integer inputs zero. Each input's PRNG is seeded from a hash of its name (xor `seed`).
 */
export function makeInputs(inputsJsonPath: string, seed = 0): Record<string, TensorValue> {
  const doc = readInputsJson(inputsJsonPath);
  const feeds: Record<string, TensorValue> = {};
  for (const spec of doc.inputs) {
    const dtype = toOrtDtype(spec.dtype);
    const dims = concreteDims(spec);
    const n = dims.reduce((a, b) => a * b, 1);
    const data = allocate(dtype, n);
    const rand = mulberry32((hashString(spec.name) ^ seed) >>> 0);
    const isFloat = dtype.startsWith('float');
    for (let i = 0; i < n; i++) {
      let v: number;
      if (spec.fill !== undefined) v = spec.fill;
      else if (isFloat) {
        const [lo, hi] = spec.range ?? [-1, 1];
        v = lo + (hi - lo) * rand();
      } else if (spec.vocab !== undefined) v = Math.floor(rand() * spec.vocab);
      else v = 0;
      if (data instanceof BigInt64Array || data instanceof BigUint64Array) data[i] = BigInt(v);
      else data[i] = v;
    }
    feeds[spec.name] = { dtype, dims, data };
  }
  return feeds;
}
