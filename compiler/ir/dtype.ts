// Element types of the IR, with their ONNX codes, byte sizes and the rounding that makes a float64
// value representable in each type. The reference interpreter computes in float64 and rounds every
// result through `roundTo`, so its values are exactly what a tensor of that dtype can hold.

export const DTYPES = ['f32', 'f16', 'bf16', 'f64', 'i64', 'i32', 'i16', 'i8', 'u64', 'u32', 'u16', 'u8', 'bool'] as const;
export type DType = (typeof DTYPES)[number];

export const FLOAT_DTYPES: readonly DType[] = ['f32', 'f16', 'bf16', 'f64'];
export const INT_DTYPES: readonly DType[] = ['i64', 'i32', 'i16', 'i8', 'u64', 'u32', 'u16', 'u8'];

/** ONNX TensorProto.DataType code of each IR dtype. */
export const ONNX_DTYPE_CODE: Record<DType, number> = {
  f32: 1, u8: 2, i8: 3, u16: 4, i16: 5, i32: 6, i64: 7, bool: 9, f16: 10, f64: 11, u32: 12, u64: 13, bf16: 16,
};

/** Names of ONNX data types the IR does not represent, for diagnostics. */
export const ONNX_UNSUPPORTED_DTYPE_NAMES: Record<number, string> = {
  0: 'UNDEFINED', 8: 'STRING', 14: 'COMPLEX64', 15: 'COMPLEX128', 17: 'FLOAT8E4M3FN', 18: 'FLOAT8E4M3FNUZ',
  19: 'FLOAT8E5M2', 20: 'FLOAT8E5M2FNUZ', 21: 'UINT4', 22: 'INT4', 23: 'FLOAT4E2M1', 24: 'FLOAT8E8M0',
  25: 'UINT2', 26: 'INT2',
};

const DTYPE_BY_ONNX_CODE = new Map<number, DType>(Object.entries(ONNX_DTYPE_CODE).map(([k, v]) => [v, k as DType]));

export function dtypeFromOnnx(code: number): DType | undefined {
  return DTYPE_BY_ONNX_CODE.get(code);
}

export function onnxDtypeName(code: number): string {
  const dtype = DTYPE_BY_ONNX_CODE.get(code);
  return dtype ?? ONNX_UNSUPPORTED_DTYPE_NAMES[code] ?? `data type ${code}`;
}

export const DTYPE_BYTES: Record<DType, number> = {
  f32: 4, f16: 2, bf16: 2, f64: 8, i64: 8, i32: 4, i16: 2, i8: 1, u64: 8, u32: 4, u16: 2, u8: 1, bool: 1,
};

export function isDType(s: string): s is DType {
  return (DTYPES as readonly string[]).includes(s);
}
export function isFloat(d: DType): boolean {
  return d === 'f32' || d === 'f16' || d === 'bf16' || d === 'f64';
}
export function isInteger(d: DType): boolean {
  return INT_DTYPES.includes(d);
}
export function isSigned(d: DType): boolean {
  return d[0] === 'i' || isFloat(d);
}

const f32Scratch = new Float32Array(1);
const u32View = new Uint32Array(f32Scratch.buffer);

/** Rounds a float64 to the nearest float16 value (round to nearest even), as a float64. */
export function roundToF16(x: number): number {
  return f16BitsToNumber(numberToF16Bits(x));
}

/** Rounds a float64 to the nearest bfloat16 value (round to nearest even), as a float64. */
export function roundToBF16(x: number): number {
  return bf16BitsToNumber(numberToBF16Bits(x));
}

export function numberToBF16Bits(x: number): number {
  f32Scratch[0] = x;
  const bits = u32View[0]!;
  if (Number.isNaN(x)) return 0x7fc0;
  const lsb = (bits >>> 16) & 1;
  return ((bits + 0x7fff + lsb) >>> 16) & 0xffff;
}
export function bf16BitsToNumber(h: number): number {
  u32View[0] = (h & 0xffff) << 16;
  return f32Scratch[0]!;
}

export function numberToF16Bits(value: number): number {
  // Convert from float64 directly so that values are rounded once.
  if (Number.isNaN(value)) return 0x7e00;
  const sign = value < 0 || Object.is(value, -0) ? 0x8000 : 0;
  let x = Math.abs(value);
  if (x === Infinity) return sign | 0x7c00;
  if (x >= 65520) return sign | 0x7c00; // rounds to infinity
  if (x < 2 ** -24 * 0.5) return sign; // underflows to zero (ties to even: exactly half rounds to 0)
  let exp = Math.floor(Math.log2(x));
  if (2 ** exp > x) exp -= 1;
  if (2 ** (exp + 1) <= x) exp += 1;
  if (exp < -14) {
    // subnormal: multiple of 2^-24
    const m = roundHalfEven(x / 2 ** -24);
    return sign | m; // m may be 1024 which correctly becomes the smallest normal
  }
  let m = roundHalfEven((x / 2 ** exp - 1) * 1024);
  if (m === 1024) {
    m = 0;
    exp += 1;
  }
  if (exp > 15) return sign | 0x7c00;
  return sign | ((exp + 15) << 10) | m;
}

export function f16BitsToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  if (Math.abs(x % 1) === 0.5) return 2 * Math.round(x / 2);
  return r;
}

/** Converts a float64 to the value a tensor of `dtype` stores for it (ONNX Cast semantics). */
export function roundTo(dtype: DType, x: number): number {
  switch (dtype) {
    case 'f64': return x;
    case 'f32': return Math.fround(x);
    case 'f16': return roundToF16(x);
    case 'bf16': return roundToBF16(x);
    case 'bool': return x !== 0 && !Number.isNaN(x) ? 1 : 0;
    case 'i64': return Number.isFinite(x) ? Math.trunc(x) : x !== x ? 0 : x > 0 ? 2 ** 63 - 1 : -(2 ** 63);
    case 'u64': return Number.isFinite(x) ? wrapUnsigned(Math.trunc(x), 64) : 0;
    case 'i32': return Number.isFinite(x) ? Math.trunc(x) | 0 : 0;
    case 'u32': return Number.isFinite(x) ? Math.trunc(x) >>> 0 : 0;
    case 'i16': return Number.isFinite(x) ? (Math.trunc(x) << 16) >> 16 : 0;
    case 'u16': return Number.isFinite(x) ? Math.trunc(x) & 0xffff : 0;
    case 'i8': return Number.isFinite(x) ? (Math.trunc(x) << 24) >> 24 : 0;
    case 'u8': return Number.isFinite(x) ? Math.trunc(x) & 0xff : 0;
  }
}

function wrapUnsigned(x: number, bits: number): number {
  const m = 2 ** bits;
  const r = x % m;
  return r < 0 ? r + m : r;
}

/** Rounds every element of `values` in place to `dtype`. */
export function roundArrayTo(dtype: DType, values: Float64Array): Float64Array {
  if (dtype === 'f64') return values;
  if (dtype === 'f32') {
    for (let i = 0; i < values.length; i++) values[i] = Math.fround(values[i]!);
    return values;
  }
  for (let i = 0; i < values.length; i++) values[i] = roundTo(dtype, values[i]!);
  return values;
}
