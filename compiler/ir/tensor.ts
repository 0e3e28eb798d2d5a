// Constant tensor data: weights, folded constants and the values the reference interpreter passes
// between ops. Data is held either as little-endian bytes in the tensor's own dtype (as read from a
// model or written to an artifact, never copied or widened unless asked) or as float64 values (what
// the reference implementations compute on); each form is derived from the other on first use.
// Sub-byte dtypes (i4 u4 f4e2m1 i2 u2) are packed as in ONNX raw_data: element k lies in bits
// (k*bits mod 8) of byte floor(k*bits/8), so the first element is in the least significant bits.

import {
  DTYPE_BITS, MINIFLOAT_FORMATS, type DType, bf16BitsToNumber, dtypeByteLength, e8m0BitsToNumber, f16BitsToNumber,
  miniFloatBitsToNumber, miniFloatStoreBits, numberToBF16Bits, numberToE8M0Bits, numberToF16Bits, roundArrayTo,
  subByteIntCode, subByteIntValue,
} from './dtype.js';

export function elementCount(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

export class TensorData {
  readonly dtype: DType;
  readonly dims: readonly number[];
  private bytesCache: Uint8Array | undefined;
  private valuesCache: Float64Array | undefined;

  private constructor(dtype: DType, dims: readonly number[], bytes?: Uint8Array, values?: Float64Array) {
    this.dtype = dtype;
    this.dims = dims;
    this.bytesCache = bytes;
    this.valuesCache = values;
  }

  /** Wraps float64 values, rounding them to `dtype` in place. */
  static fromValues(dtype: DType, dims: readonly number[], values: Float64Array | readonly number[]): TensorData {
    const n = elementCount(dims);
    const v = values instanceof Float64Array ? values : Float64Array.from(values);
    if (v.length !== n) throw new RangeError(`tensor of shape [${dims.join(',')}] needs ${n} values, got ${v.length}`);
    return new TensorData(dtype, [...dims], undefined, roundArrayTo(dtype, v));
  }

  /** Wraps little-endian bytes in the dtype's encoding; the bytes are used in place. */
  static fromBytes(dtype: DType, dims: readonly number[], bytes: Uint8Array): TensorData {
    const need = dtypeByteLength(dtype, elementCount(dims));
    if (bytes.byteLength !== need) {
      throw new RangeError(`tensor of type ${dtype}[${dims.join(',')}] needs ${need} bytes, got ${bytes.byteLength}`);
    }
    return new TensorData(dtype, [...dims], bytes, undefined);
  }

  static scalar(dtype: DType, value: number): TensorData {
    return TensorData.fromValues(dtype, [], [value]);
  }

  get size(): number {
    return elementCount(this.dims);
  }
  get rank(): number {
    return this.dims.length;
  }
  /** Bytes of the packed data: ceil(size * bits / 8). */
  get byteLength(): number {
    return dtypeByteLength(this.dtype, this.size);
  }

  /** Elements as float64 (decoded on first use; do not mutate). */
  get values(): Float64Array {
    if (!this.valuesCache) this.valuesCache = decodeBytes(this.dtype, this.bytesCache!, this.size);
    return this.valuesCache;
  }

  /** Elements as little-endian bytes in the tensor's dtype (encoded on first use; do not mutate). */
  get bytes(): Uint8Array {
    if (!this.bytesCache) this.bytesCache = encodeValues(this.dtype, this.valuesCache!);
    return this.bytesCache;
  }

  /** Elements as plain numbers (small tensors: shapes, axes). */
  toArray(): number[] {
    return Array.from(this.values);
  }

  withDims(dims: readonly number[]): TensorData {
    if (elementCount(dims) !== this.size) throw new RangeError('reshape changes the element count');
    return new TensorData(this.dtype, [...dims], this.bytesCache, this.valuesCache);
  }
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function decodeBytes(dtype: DType, bytes: Uint8Array, n: number): Float64Array {
  const out = new Float64Array(n);
  const dv = view(bytes);
  switch (dtype) {
    case 'f32': for (let i = 0; i < n; i++) out[i] = dv.getFloat32(i * 4, true); break;
    case 'f64': for (let i = 0; i < n; i++) out[i] = dv.getFloat64(i * 8, true); break;
    case 'f16': for (let i = 0; i < n; i++) out[i] = f16BitsToNumber(dv.getUint16(i * 2, true)); break;
    case 'bf16': for (let i = 0; i < n; i++) out[i] = bf16BitsToNumber(dv.getUint16(i * 2, true)); break;
    case 'i64': for (let i = 0; i < n; i++) out[i] = Number(dv.getBigInt64(i * 8, true)); break;
    case 'u64': for (let i = 0; i < n; i++) out[i] = Number(dv.getBigUint64(i * 8, true)); break;
    case 'i32': for (let i = 0; i < n; i++) out[i] = dv.getInt32(i * 4, true); break;
    case 'u32': for (let i = 0; i < n; i++) out[i] = dv.getUint32(i * 4, true); break;
    case 'i16': for (let i = 0; i < n; i++) out[i] = dv.getInt16(i * 2, true); break;
    case 'u16': for (let i = 0; i < n; i++) out[i] = dv.getUint16(i * 2, true); break;
    case 'i8': for (let i = 0; i < n; i++) out[i] = dv.getInt8(i); break;
    case 'u8': for (let i = 0; i < n; i++) out[i] = bytes[i]!; break;
    case 'bool': for (let i = 0; i < n; i++) out[i] = bytes[i] ? 1 : 0; break;
    case 'f8e4m3fn': case 'f8e4m3fnuz': case 'f8e5m2': case 'f8e5m2fnuz': {
      const table = MINIFLOAT_FORMATS[dtype].table;
      for (let i = 0; i < n; i++) out[i] = table[bytes[i]!]!;
      break;
    }
    case 'f8e8m0': for (let i = 0; i < n; i++) out[i] = e8m0BitsToNumber(bytes[i]!); break;
    case 'f4e2m1': for (let i = 0; i < n; i++) out[i] = miniFloatBitsToNumber(MINIFLOAT_FORMATS.f4e2m1, unpackCode(bytes, i, 4)); break;
    case 'i4': case 'u4': case 'i2': case 'u2': {
      const bits = DTYPE_BITS[dtype];
      for (let i = 0; i < n; i++) out[i] = subByteIntValue(dtype, unpackCode(bytes, i, bits));
      break;
    }
  }
  return out;
}

export function encodeValues(dtype: DType, values: Float64Array): Uint8Array {
  const n = values.length;
  const bytes = new Uint8Array(dtypeByteLength(dtype, n));
  const dv = view(bytes);
  switch (dtype) {
    case 'f32': for (let i = 0; i < n; i++) dv.setFloat32(i * 4, values[i]!, true); break;
    case 'f64': for (let i = 0; i < n; i++) dv.setFloat64(i * 8, values[i]!, true); break;
    case 'f16': for (let i = 0; i < n; i++) dv.setUint16(i * 2, numberToF16Bits(values[i]!), true); break;
    case 'bf16': for (let i = 0; i < n; i++) dv.setUint16(i * 2, numberToBF16Bits(values[i]!), true); break;
    case 'i64': for (let i = 0; i < n; i++) dv.setBigInt64(i * 8, BigInt(clampInt(values[i]!, -(2 ** 63), 9223372036854774784)), true); break;
    case 'u64': for (let i = 0; i < n; i++) dv.setBigUint64(i * 8, BigInt(clampInt(values[i]!, 0, 18446744073709549568)), true); break;
    case 'i32': for (let i = 0; i < n; i++) dv.setInt32(i * 4, values[i]!, true); break;
    case 'u32': for (let i = 0; i < n; i++) dv.setUint32(i * 4, values[i]!, true); break;
    case 'i16': for (let i = 0; i < n; i++) dv.setInt16(i * 2, values[i]!, true); break;
    case 'u16': for (let i = 0; i < n; i++) dv.setUint16(i * 2, values[i]!, true); break;
    case 'i8': for (let i = 0; i < n; i++) dv.setInt8(i, values[i]!); break;
    case 'u8': case 'bool': for (let i = 0; i < n; i++) bytes[i] = values[i]!; break;
    case 'f8e4m3fn': case 'f8e4m3fnuz': case 'f8e5m2': case 'f8e5m2fnuz':
      for (let i = 0; i < n; i++) bytes[i] = miniFloatStoreBits(dtype, values[i]!);
      break;
    case 'f8e8m0': for (let i = 0; i < n; i++) bytes[i] = numberToE8M0Bits(values[i]!); break;
    case 'f4e2m1': for (let i = 0; i < n; i++) packCode(bytes, i, 4, miniFloatStoreBits('f4e2m1', values[i]!)); break;
    case 'i4': case 'u4': case 'i2': case 'u2': {
      const bits = DTYPE_BITS[dtype];
      for (let i = 0; i < n; i++) packCode(bytes, i, bits, subByteIntCode(dtype, values[i]!));
      break;
    }
  }
  return bytes;
}

/** The `bits`-wide code of element `i` of a packed buffer (low bits first). */
export function unpackCode(bytes: Uint8Array, i: number, bits: number): number {
  const bit = i * bits;
  return (bytes[bit >>> 3]! >>> (bit & 7)) & ((1 << bits) - 1);
}

/** Stores the `bits`-wide `code` of element `i` into a packed buffer (whose other bits are kept). */
export function packCode(bytes: Uint8Array, i: number, bits: number, code: number): void {
  const bit = i * bits;
  const mask = (1 << bits) - 1;
  const k = bit >>> 3;
  const shift = bit & 7;
  bytes[k] = (bytes[k]! & ~(mask << shift)) | ((code & mask) << shift);
}

/** Packs one code per element (as `lowPrecisionCode` gives them) into the dtype's byte layout. */
export function packCodes(dtype: DType, codes: ArrayLike<number>): Uint8Array {
  const bits = DTYPE_BITS[dtype];
  const bytes = new Uint8Array(dtypeByteLength(dtype, codes.length));
  if (bits === 8) {
    for (let i = 0; i < codes.length; i++) bytes[i] = codes[i]!;
  } else if (bits < 8) {
    for (let i = 0; i < codes.length; i++) packCode(bytes, i, bits, codes[i]!);
  } else {
    throw new RangeError(`packCodes handles types of at most 8 bits, not ${dtype}`);
  }
  return bytes;
}

function clampInt(x: number, lo: number, hi: number): number {
  if (Number.isNaN(x)) return 0;
  return Math.trunc(Math.min(Math.max(x, lo), hi));
}
