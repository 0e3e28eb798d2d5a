// Element types of the IR, with their ONNX codes, sizes and the rounding that makes a float64
// value representable in each type. The reference interpreter computes in float64 and rounds every
// result through `roundTo`, so its values are exactly what a tensor of that dtype can hold.
//
// Besides the compute types the IR has ONNX's low-precision storage types: the float8 formats
// (e4m3fn, e4m3fnuz, e5m2, e5m2fnuz), the power-of-two scale type f8e8m0, the 4-bit float f4e2m1
// and the 4- and 2-bit integers. Sub-byte types are packed as ONNX raw_data packs them: two 4-bit or
// four 2-bit elements per byte, the first element in the least significant bits.

export const DTYPES = [
  'f32', 'f16', 'bf16', 'f64', 'i64', 'i32', 'i16', 'i8', 'u64', 'u32', 'u16', 'u8', 'bool',
  'f8e4m3fn', 'f8e4m3fnuz', 'f8e5m2', 'f8e5m2fnuz', 'f8e8m0', 'f4e2m1', 'i4', 'u4', 'i2', 'u2',
] as const;
export type DType = (typeof DTYPES)[number];

export const FLOAT_DTYPES: readonly DType[] = ['f32', 'f16', 'bf16', 'f64'];
export const INT_DTYPES: readonly DType[] = ['i64', 'i32', 'i16', 'i8', 'u64', 'u32', 'u16', 'u8'];
/** The float8 formats with a sign, exponent and mantissa (not f8e8m0). */
export const FLOAT8_DTYPES: readonly DType[] = ['f8e4m3fn', 'f8e4m3fnuz', 'f8e5m2', 'f8e5m2fnuz'];
/** Integer types narrower than a byte. */
export const SUBBYTE_INT_DTYPES: readonly DType[] = ['i4', 'u4', 'i2', 'u2'];
/**
 * Low-precision storage types: ONNX allows them in Cast, (De)QuantizeLinear and data movement, not in
 * arithmetic, so `isFloat` and `isInteger` leave them out.
 */
export const LOWP_DTYPES: readonly DType[] = ['f8e4m3fn', 'f8e4m3fnuz', 'f8e5m2', 'f8e5m2fnuz', 'f8e8m0', 'f4e2m1', 'i4', 'u4', 'i2', 'u2'];

/** ONNX TensorProto.DataType code of each IR dtype. */
export const ONNX_DTYPE_CODE: Record<DType, number> = {
  f32: 1, u8: 2, i8: 3, u16: 4, i16: 5, i32: 6, i64: 7, bool: 9, f16: 10, f64: 11, u32: 12, u64: 13, bf16: 16,
  f8e4m3fn: 17, f8e4m3fnuz: 18, f8e5m2: 19, f8e5m2fnuz: 20, u4: 21, i4: 22, f4e2m1: 23, f8e8m0: 24, u2: 25, i2: 26,
};

/** Names of ONNX data types the IR does not represent, for diagnostics. */
export const ONNX_UNSUPPORTED_DTYPE_NAMES: Record<number, string> = {
  0: 'UNDEFINED', 8: 'STRING', 14: 'COMPLEX64', 15: 'COMPLEX128', 27: 'FLOAT6E2M3', 28: 'FLOAT6E3M2',
};

const DTYPE_BY_ONNX_CODE = new Map<number, DType>(Object.entries(ONNX_DTYPE_CODE).map(([k, v]) => [v, k as DType]));

export function dtypeFromOnnx(code: number): DType | undefined {
  return DTYPE_BY_ONNX_CODE.get(code);
}

export function onnxDtypeName(code: number): string {
  const dtype = DTYPE_BY_ONNX_CODE.get(code);
  return dtype ?? ONNX_UNSUPPORTED_DTYPE_NAMES[code] ?? `data type ${code}`;
}

/** Bits one element occupies in packed storage (raw_data, artifacts, TensorData.bytes). */
export const DTYPE_BITS: Record<DType, number> = {
  f32: 32, f16: 16, bf16: 16, f64: 64, i64: 64, i32: 32, i16: 16, i8: 8, u64: 64, u32: 32, u16: 16, u8: 8, bool: 8,
  f8e4m3fn: 8, f8e4m3fnuz: 8, f8e5m2: 8, f8e5m2fnuz: 8, f8e8m0: 8, f4e2m1: 4, i4: 4, u4: 4, i2: 2, u2: 2,
};

/**
 * Bytes per element. Sub-byte types (i4 u4 f4e2m1 i2 u2) say 1, the size of one element unpacked:
 * an upper bound, never the packed size. Use `dtypeByteLength` for the bytes n elements occupy.
 */
export const DTYPE_BYTES: Record<DType, number> = {
  f32: 4, f16: 2, bf16: 2, f64: 8, i64: 8, i32: 4, i16: 2, i8: 1, u64: 8, u32: 4, u16: 2, u8: 1, bool: 1,
  f8e4m3fn: 1, f8e4m3fnuz: 1, f8e5m2: 1, f8e5m2fnuz: 1, f8e8m0: 1, f4e2m1: 1, i4: 1, u4: 1, i2: 1, u2: 1,
};

/** Bytes that `count` packed elements of `dtype` occupy: ceil(count * bits / 8). */
export function dtypeByteLength(dtype: DType, count: number): number {
  const bits = DTYPE_BITS[dtype];
  return bits >= 8 ? count * (bits / 8) : Math.ceil((count * bits) / 8);
}

export function isSubByte(d: DType): boolean {
  return DTYPE_BITS[d] < 8;
}
export function isLowPrecision(d: DType): boolean {
  return LOWP_DTYPES.includes(d);
}
export function isFloat8(d: DType): boolean {
  return FLOAT8_DTYPES.includes(d);
}
export function isSubByteInt(d: DType): boolean {
  return SUBBYTE_INT_DTYPES.includes(d);
}
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
  return d[0] === 'i' || isFloat(d) || isFloat8(d) || d === 'f4e2m1';
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

// Low-precision floats --------------------------------------------------------------------------

/**
 * A float format of 1 sign bit, `exp` exponent bits and `man` mantissa bits. `kind` says how the
 * all-ones exponent and the sign are used:
 * - ieee: all-ones exponent holds +-inf (mantissa 0) and NaN (f8e5m2);
 * - fn: only S.1111.111 is NaN, there is no inf (f8e4m3fn);
 * - fnuz: 0x80 (negative zero's encoding) is the only NaN, there is no inf nor -0 (f8e4m3fnuz, f8e5m2fnuz);
 * - finite: no inf nor NaN (f4e2m1).
 */
export interface MiniFloatFormat {
  readonly exp: number;
  readonly man: number;
  readonly bias: number;
  readonly kind: 'ieee' | 'fn' | 'fnuz' | 'finite';
  /** Largest finite value, and its encoding. */
  readonly max: number;
  readonly maxBits: number;
  /** Encoding of NaN (for finite: what NaN converts to, -0 as ml_dtypes does). */
  readonly nanBits: number;
  /** Value of each encoding. */
  readonly table: Float64Array;
}

function miniFloat(exp: number, man: number, bias: number, kind: MiniFloatFormat['kind']): MiniFloatFormat {
  const emax = (1 << exp) - 1;
  const mmax = (1 << man) - 1;
  const max =
    kind === 'ieee' ? (2 - 2 ** -man) * 2 ** (emax - 1 - bias)
      : kind === 'fn' ? (2 - 2 ** (1 - man)) * 2 ** (emax - bias)
        : (2 - 2 ** -man) * 2 ** (emax - bias);
  const signBit = 1 << (exp + man);
  const nanBits = kind === 'ieee' ? (emax << man) | (1 << (man - 1)) : kind === 'fn' ? (emax << man) | mmax : signBit;
  const maxBits = kind === 'ieee' ? (emax << man) - 1 : kind === 'fn' ? nanBits - 1 : signBit - 1;
  const table = new Float64Array(signBit << 1);
  for (let b = 0; b < table.length; b++) {
    const e = (b >> man) & emax;
    const m = b & mmax;
    const sign = b & signBit ? -1 : 1;
    let v = e === 0 ? m * 2 ** (1 - bias - man) : (1 + m / (mmax + 1)) * 2 ** (e - bias);
    if (kind === 'ieee' && e === emax) v = m ? NaN : Infinity;
    if (kind === 'fn' && e === emax && m === mmax) v = NaN;
    if (kind === 'fnuz' && b === signBit) v = NaN;
    table[b] = sign * v;
  }
  if (table[maxBits] !== max) throw new Error(`miniFloat(${exp}, ${man}): inconsistent maximum`);
  return { exp, man, bias, kind, max, maxBits, nanBits, table };
}

export const MINIFLOAT_FORMATS = {
  f8e4m3fn: miniFloat(4, 3, 7, 'fn'),
  f8e4m3fnuz: miniFloat(4, 3, 8, 'fnuz'),
  f8e5m2: miniFloat(5, 2, 15, 'ieee'),
  f8e5m2fnuz: miniFloat(5, 2, 16, 'fnuz'),
  f4e2m1: miniFloat(2, 1, 1, 'finite'),
} as const satisfies Partial<Record<DType, MiniFloatFormat>>;
export type MiniFloatDType = keyof typeof MINIFLOAT_FORMATS;

export function isMiniFloat(d: DType): d is MiniFloatDType {
  return d in MINIFLOAT_FORMATS;
}

/** floor(log2(a)) for a finite a > 0, exactly. */
function exponentOf(a: number): number {
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e -= 1;
  if (2 ** (e + 1) <= a) e += 1;
  return e;
}

/**
 * Encodes a float64 in a low-precision float format, rounding to nearest even once. With `saturate`
 * (ONNX Cast's default) +-inf and values whose rounding exceeds the largest finite value become
 * +-max; without it they become inf (ieee) or NaN. f4e2m1 has neither, so it always saturates.
 */
export function numberToMiniFloatBits(fmt: MiniFloatFormat, x: number, saturate = true): number {
  const signBit = 1 << (fmt.exp + fmt.man);
  if (Number.isNaN(x)) return fmt.nanBits;
  const neg = x < 0 || Object.is(x, -0);
  const sign = neg ? signBit : 0;
  const a = Math.abs(x);
  const emin = 1 - fmt.bias;
  let r = Infinity;
  if (a !== Infinity) {
    const q = 2 ** ((a < 2 ** emin ? emin : exponentOf(a)) - fmt.man);
    r = roundHalfEven(a / q) * q;
  }
  if (r > fmt.max) {
    if (saturate || fmt.kind === 'finite') return sign | fmt.maxBits;
    if (fmt.kind === 'ieee') return sign | (fmt.maxBits + 1); // inf
    return fmt.kind === 'fn' ? sign | fmt.nanBits : fmt.nanBits;
  }
  if (r === 0) return fmt.kind === 'fnuz' ? 0 : sign;
  if (r < 2 ** emin) return sign | (r / 2 ** (emin - fmt.man));
  const e = exponentOf(r);
  return sign | ((e + fmt.bias) << fmt.man) | ((r / 2 ** e - 1) * 2 ** fmt.man);
}

export function miniFloatBitsToNumber(fmt: MiniFloatFormat, bits: number): number {
  return fmt.table[bits & (fmt.table.length - 1)]!;
}

/** Encoding of the value `roundTo` gives: Cast's saturating rounding, but +-inf stays inf in f8e5m2. */
export function miniFloatStoreBits(dtype: MiniFloatDType, x: number): number {
  const fmt = MINIFLOAT_FORMATS[dtype];
  return numberToMiniFloatBits(fmt, x, !(fmt.kind === 'ieee' && Math.abs(x) === Infinity));
}

export type E8M0RoundMode = 'up' | 'down' | 'nearest';

/**
 * Encodes a float64 as float8e8m0 (an unbiased-by-127 power of two; 0xff is NaN) the way ONNX's
 * reference (onnx.numpy_helper.to_float8e8m0) does: the value is taken as float32, its sign is ignored
 * and its exponent rounded by `mode` (`up`: any fraction rounds up, `down`: truncates, `nearest`: by
 * the guard, round and sticky bits). Saturation keeps 0xfe from rounding up into NaN. Two departures,
 * both where the reference contradicts the spec: exact powers of two map to themselves (the reference
 * rounds float32-subnormal 2^-127 up to 2^-126), and +-inf saturates to E8M0_MAX as the Cast table says.
 */
export function numberToE8M0Bits(x: number, saturate = true, mode: E8M0RoundMode = 'up'): number {
  if (Number.isNaN(x)) return 0xff;
  f32Scratch[0] = x;
  const bits = u32View[0]!;
  let exponent = (bits >>> 23) & 0xff;
  if (exponent === 0xff) return saturate && Math.abs(x) === Infinity ? 0xfe : 0xff;
  const a = Math.abs(x);
  if (a !== 0 && a >= 2 ** -127 && a <= 2 ** 127 && 2 ** exponentOf(a) === a) return exponentOf(a) + 127;
  let up = false;
  if (mode === 'nearest') {
    const g = (bits & 0x400000) !== 0;
    const r = (bits & 0x200000) !== 0;
    const s = (bits & 0x1fffff) !== 0;
    up = g && (r || s || exponent > 0);
  } else if (mode === 'up') {
    up = (bits & 0x7fffff) !== 0;
  }
  if (up && !(saturate && exponent === 0xfe)) exponent += 1;
  return exponent;
}

export function e8m0BitsToNumber(bits: number): number {
  const b = bits & 0xff;
  return b === 0xff ? NaN : 2 ** (b - 127);
}

/** The stored code of a 4- or 2-bit integer: its two's complement low bits. */
export function subByteIntCode(dtype: DType, x: number): number {
  return x & ((1 << DTYPE_BITS[dtype]) - 1);
}
/** The value of a 4- or 2-bit integer code. */
export function subByteIntValue(dtype: DType, code: number): number {
  const bits = DTYPE_BITS[dtype];
  const c = code & ((1 << bits) - 1);
  return dtype[0] === 'i' && c >= 1 << (bits - 1) ? c - (1 << bits) : c;
}

/**
 * The code (the bits, one element per number) a low-precision dtype stores for a float64, by ONNX
 * Cast with the given `saturate` and `round_mode`: float8 and f4e2m1 round to nearest even, f8e8m0 by
 * `roundMode`, the small integers truncate and wrap like the wider ones.
 */
export function lowPrecisionCode(dtype: DType, x: number, saturate = true, roundMode: E8M0RoundMode = 'up'): number {
  if (isMiniFloat(dtype)) return numberToMiniFloatBits(MINIFLOAT_FORMATS[dtype], x, saturate);
  if (dtype === 'f8e8m0') return numberToE8M0Bits(x, saturate, roundMode);
  if (isSubByteInt(dtype)) return subByteIntCode(dtype, roundTo(dtype, x));
  throw new RangeError(`${dtype} is not a low-precision dtype`);
}

/** The value of a low-precision code. */
export function lowPrecisionValue(dtype: DType, code: number): number {
  if (isMiniFloat(dtype)) return miniFloatBitsToNumber(MINIFLOAT_FORMATS[dtype], code);
  if (dtype === 'f8e8m0') return e8m0BitsToNumber(code);
  if (isSubByteInt(dtype)) return subByteIntValue(dtype, code);
  throw new RangeError(`${dtype} is not a low-precision dtype`);
}

/**
 * Converts a float64 to the value a tensor of `dtype` stores for it (ONNX Cast semantics, with its
 * defaults saturate=1 and round_mode=up for the float8 types; every value a dtype can hold maps to
 * itself, +-inf in f8e5m2 included). Integers truncate toward zero and wrap.
 */
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
    case 'i4': return Number.isFinite(x) ? (Math.trunc(x) << 28) >> 28 : 0;
    case 'u4': return Number.isFinite(x) ? Math.trunc(x) & 0xf : 0;
    case 'i2': return Number.isFinite(x) ? (Math.trunc(x) << 30) >> 30 : 0;
    case 'u2': return Number.isFinite(x) ? Math.trunc(x) & 0x3 : 0;
    case 'f8e4m3fn': case 'f8e4m3fnuz': case 'f8e5m2': case 'f8e5m2fnuz': case 'f4e2m1':
      return miniFloatBitsToNumber(MINIFLOAT_FORMATS[dtype], miniFloatStoreBits(dtype, x));
    case 'f8e8m0': return e8m0BitsToNumber(numberToE8M0Bits(x));
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
