// Tensor: a TypedArray with dims and an element type. The one dtype table of the runtime lives here
// (artifact dtype <-> TypedArray class <-> onnxruntime-common type name); native/binding mirrors
// the TypedArray column for outputs, and test/runtime checks the two agree.

import type { ArtifactDType } from '../compiler/artifact/format.js';

/**
 * The artifact dtypes a runtime tensor can hold (native/core/dtype.h has the same list), the
 * low-precision storage types included: float8 (f8*) as one byte per element, f4e2m1, i4, u4, i2 and
 * u2 packed (two 4-bit or four 2-bit elements per byte, the first in the low bits), so their data is
 * a Uint8Array of `dataLength` bytes while `dims` count elements.
 */
export type TensorDType = Extract<
  ArtifactDType,
  | 'f32' | 'f16' | 'bf16' | 'f64' | 'i64' | 'i32' | 'i16' | 'i8' | 'u64' | 'u32' | 'u16' | 'u8' | 'bool'
  | 'f8e4m3fn' | 'f8e4m3fnuz' | 'f8e5m2' | 'f8e5m2fnuz' | 'f8e8m0' | 'f4e2m1' | 'i4' | 'u4' | 'i2' | 'u2'
>;

/** onnxruntime-common's Tensor type names (and the same style of name for the low-precision types). */
export type OrtTensorType =
  | 'float32' | 'float16' | 'bfloat16' | 'float64' | 'int64' | 'int32' | 'int16' | 'int8'
  | 'uint64' | 'uint32' | 'uint16' | 'uint8' | 'bool'
  | 'float8e4m3fn' | 'float8e4m3fnuz' | 'float8e5m2' | 'float8e5m2fnuz' | 'float8e8m0' | 'float4e2m1'
  | 'int4' | 'uint4' | 'int2' | 'uint2';

export type TensorData =
  | Float32Array | Float64Array | Uint16Array | BigInt64Array | BigUint64Array
  | Int32Array | Uint32Array | Int16Array | Int8Array | Uint8Array;

type TypedArrayClass = { new (length: number): TensorData; new (buffer: ArrayBufferLike, byteOffset?: number, length?: number): TensorData; readonly BYTES_PER_ELEMENT: number; readonly name: string };

interface DTypeInfo {
  array: TypedArrayClass;
  ort: OrtTensorType;
  /** Bits per element when packed below a byte (f4e2m1, i4, u4: 4; i2, u2: 2). */
  packedBits?: number;
}

/**
 * f16 and bf16 travel as their raw bits in a Uint16Array; bool as 0/1 in a Uint8Array; the
 * low-precision types as their codes in a Uint8Array (packed for the sub-byte ones).
 */
export const DTYPES: Readonly<Record<TensorDType, DTypeInfo>> = {
  f32: { array: Float32Array, ort: 'float32' },
  f16: { array: Uint16Array, ort: 'float16' },
  bf16: { array: Uint16Array, ort: 'bfloat16' },
  f64: { array: Float64Array, ort: 'float64' },
  i64: { array: BigInt64Array, ort: 'int64' },
  i32: { array: Int32Array, ort: 'int32' },
  i16: { array: Int16Array, ort: 'int16' },
  i8: { array: Int8Array, ort: 'int8' },
  u64: { array: BigUint64Array, ort: 'uint64' },
  u32: { array: Uint32Array, ort: 'uint32' },
  u16: { array: Uint16Array, ort: 'uint16' },
  u8: { array: Uint8Array, ort: 'uint8' },
  bool: { array: Uint8Array, ort: 'bool' },
  f8e4m3fn: { array: Uint8Array, ort: 'float8e4m3fn' },
  f8e4m3fnuz: { array: Uint8Array, ort: 'float8e4m3fnuz' },
  f8e5m2: { array: Uint8Array, ort: 'float8e5m2' },
  f8e5m2fnuz: { array: Uint8Array, ort: 'float8e5m2fnuz' },
  f8e8m0: { array: Uint8Array, ort: 'float8e8m0' },
  f4e2m1: { array: Uint8Array, ort: 'float4e2m1', packedBits: 4 },
  i4: { array: Uint8Array, ort: 'int4', packedBits: 4 },
  u4: { array: Uint8Array, ort: 'uint4', packedBits: 4 },
  i2: { array: Uint8Array, ort: 'int2', packedBits: 2 },
  u2: { array: Uint8Array, ort: 'uint2', packedBits: 2 },
};

const FROM_ORT = new Map<string, TensorDType>(Object.entries(DTYPES).map(([k, v]) => [v.ort, k as TensorDType]));

export function isTensorDType(s: unknown): s is TensorDType {
  return typeof s === 'string' && Object.hasOwn(DTYPES, s);
}

/** Our dtype for a dtype or an onnxruntime type name, or undefined. */
export function toTensorDType(s: unknown): TensorDType | undefined {
  if (isTensorDType(s)) return s;
  return typeof s === 'string' ? FROM_ORT.get(s) : undefined;
}

export function elementCount(dims: readonly number[]): number {
  return dims.reduce((a, d) => a * d, 1);
}

/** The length of the data array that holds `count` elements of `dtype` (packed bytes for sub-byte types). */
export function dataLength(dtype: TensorDType, count: number): number {
  const bits = DTYPES[dtype].packedBits;
  return bits ? Math.ceil((count * bits) / 8) : count;
}

export class Tensor {
  readonly dtype: TensorDType;
  readonly data: TensorData;
  readonly dims: readonly number[];

  /**
   * `new Tensor('f32', data, [1, 3])`; the dtype may also be an onnxruntime name ('float32'), and
   * data a plain array (numbers, or bigints for i64/u64), which is converted.
   */
  constructor(dtype: TensorDType | OrtTensorType, data: TensorData | readonly number[] | readonly bigint[], dims: readonly number[]) {
    const t = toTensorDType(dtype);
    if (!t) throw new TypeError(`unknown tensor dtype '${String(dtype)}'`);
    const Array_ = DTYPES[t].array;
    if (!ArrayBuffer.isView(data)) data = (Array_ as unknown as { from(a: ArrayLike<unknown>): TensorData }).from(data as ArrayLike<unknown>);
    if (!(data instanceof Array_)) throw new TypeError(`a ${t} tensor needs a ${Array_.name}, got ${(data as object).constructor.name}`);
    if (!Array.isArray(dims) || dims.some((d) => !Number.isSafeInteger(d) || d < 0)) {
      throw new TypeError(`dims must be an array of non-negative integers, got [${String(dims)}]`);
    }
    const need = dataLength(t, elementCount(dims));
    if (need !== data.length) {
      const what = DTYPES[t].packedBits ? `${need} bytes (${elementCount(dims)} packed ${t} elements)` : `${need} elements`;
      throw new RangeError(`dims [${dims.join(',')}] need ${what}, data has ${data.length}`);
    }
    this.dtype = t;
    this.data = data;
    this.dims = Object.freeze([...dims]);
  }

  /** The onnxruntime-common type name, so a Tensor can be handed to code written for onnxruntime. */
  get type(): OrtTensorType {
    return DTYPES[this.dtype].ort;
  }

  /** The number of elements (for sub-byte types more than data.length). */
  get size(): number {
    return elementCount(this.dims);
  }
}
