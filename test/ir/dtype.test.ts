// Low-precision dtypes: ONNX codes, sizes, float8/float4/e8m0 encodings and sub-byte packing.
// Reference codes come from ml_dtypes 0.6 and onnx 1.23.1 (onnx.numpy_helper.saturate_cast for
// saturating casts, ndarray.astype for non-saturating ones, to_float8e8m0 for f8e8m0).

import { describe, expect, it } from 'vitest';
import {
  DTYPE_BITS, DTYPE_BYTES, LOWP_DTYPES, MINIFLOAT_FORMATS, ONNX_DTYPE_CODE, dtypeByteLength, dtypeFromOnnx, e8m0BitsToNumber,
  isFloat, isInteger, lowPrecisionCode, lowPrecisionValue, miniFloatBitsToNumber, numberToE8M0Bits, numberToMiniFloatBits,
  onnxDtypeName, roundTo, type DType, type MiniFloatDType,
} from '../../compiler/ir/dtype.js';
import { TensorData } from '../../compiler/ir/tensor.js';
import { tensorFromProto } from '../../compiler/onnx/tensor-proto.js';
import type { OnnxTensor } from '../../compiler/onnx/schema.js';

const hex = (codes: readonly number[]) => codes.map((c) => c.toString(16).padStart(2, '0')).join('');
const bytesHex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('dtype tables', () => {
  it('maps ONNX codes 17-26 to the low-precision dtypes and back', () => {
    const codes: Record<string, number> = {
      f8e4m3fn: 17, f8e4m3fnuz: 18, f8e5m2: 19, f8e5m2fnuz: 20, u4: 21, i4: 22, f4e2m1: 23, f8e8m0: 24, u2: 25, i2: 26,
    };
    for (const [d, c] of Object.entries(codes)) {
      expect(ONNX_DTYPE_CODE[d as DType]).toBe(c);
      expect(dtypeFromOnnx(c)).toBe(d);
    }
    expect(LOWP_DTYPES.length).toBe(10);
    expect(onnxDtypeName(27)).toBe('FLOAT6E2M3');
    expect(dtypeFromOnnx(27)).toBeUndefined();
  });
  it('keeps the storage types out of the arithmetic predicates', () => {
    for (const d of LOWP_DTYPES) {
      expect(isFloat(d)).toBe(false);
      expect(isInteger(d)).toBe(false);
    }
  });
  it('sizes packed data by bits: ceil(n * bits / 8)', () => {
    expect(DTYPE_BITS.i4).toBe(4);
    expect(DTYPE_BITS.u2).toBe(2);
    expect(DTYPE_BITS.f8e5m2).toBe(8);
    expect(DTYPE_BYTES.i4).toBe(1); // one element unpacked: an upper bound
    expect(dtypeByteLength('i4', 5)).toBe(3);
    expect(dtypeByteLength('f4e2m1', 4)).toBe(2);
    expect(dtypeByteLength('u2', 5)).toBe(2);
    expect(dtypeByteLength('i2', 8)).toBe(2);
    expect(dtypeByteLength('f8e4m3fn', 5)).toBe(5);
    expect(dtypeByteLength('f32', 3)).toBe(12);
    expect(dtypeByteLength('u4', 0)).toBe(0);
  });
});

// Inputs (float32 values) and the codes ml_dtypes gives: [saturating, non-saturating].
const XS = [0.0, -0.0, 1.0, -1.0, 0.1, -0.1, 0.3, 1e-07, -1e-07, 0.001953125, 0.0009765625, 0.00146484375, 1.52587890625e-05,
  7.62939453125e-06, 1.1444091796875e-05, 3.0517578125e-05, 0.46875, 0.484375, 0.5, 1.0625, 1.125, 1.1875, 2.5, 3.5, 5.0, 6.5,
  7.0, 100.0, 240.0, 247.0, 248.0, 255.0, 448.0, 464.0, 465.0, 480.0, 1000.0, -1000.0, 57344.0, 61439.0, 61440.0, 65536.0,
  -70000.0, 1000000.0, Infinity, -Infinity].map(Math.fround);
const F8_REF: Record<string, [string, string]> = {
  f8e4m3fn: ['008038b81d9d2a0080010001000000002f303038393a42464a4d4e6c777778787e7e7e7e7efe7e7e7e7efe7e7efe', '008038b81d9d2a0080010001000000002f303038393a42464a4d4e6c777778787e7e7f7f7fff7f7f7f7fff7f7fff'],
  f8e4m3fnuz: ['000040c025a5320000020102000000003738384041424a4e525556747f7f7f7f7f7f7f7f7fff7f7f7f7fff7f7fff', '000040c025a5320000020102000000003738384041424a4e525556747f7f80808080808080808080808080808080'],
  f8e5m2: ['00803cbc2eae350080181416010001023838383c3c3d4143454647565c5c5c5c5f5f5f6064e47b7b7b7bfb7b7bfb', '00803cbc2eae350080181416010001023838383c3c3d4143454647565c5c5c5c5f5f5f6064e47b7b7c7cfc7c7cfc'],
  f8e5m2fnuz: ['000040c032b23900001c181a020102043c3c3c4040414547494a4b5a606060606363636468e87f7f7f7fff7f7fff', '000040c032b23900001c181a020102043c3c3c4040414547494a4b5a606060606363636468e87f7f808080808080'],
};
const F4_REF = '0008020a0008010008000000000000000101010202020406060707070707070707070707070f070707070f07070f';

describe('float8 and float4', () => {
  it('encodes like ml_dtypes, saturating and not', () => {
    for (const [d, [sat, nosat]] of Object.entries(F8_REF)) {
      expect(hex(XS.map((x) => lowPrecisionCode(d as DType, x, true))), `${d} saturate`).toBe(sat);
      expect(hex(XS.map((x) => lowPrecisionCode(d as DType, x, false))), `${d} no saturate`).toBe(nosat);
    }
    // float4e2m1 has no inf or NaN: it always saturates (NaN becomes -0, as ml_dtypes has it).
    expect(hex(XS.map((x) => lowPrecisionCode('f4e2m1', x)))).toBe(F4_REF);
    expect(lowPrecisionCode('f4e2m1', NaN)).toBe(0x8);
  });
  it('decodes every code, with the format limits and special values', () => {
    const f = MINIFLOAT_FORMATS;
    expect([f.f8e4m3fn.max, f.f8e4m3fnuz.max, f.f8e5m2.max, f.f8e5m2fnuz.max, f.f4e2m1.max]).toEqual([448, 240, 57344, 57344, 6]);
    expect(miniFloatBitsToNumber(f.f8e4m3fn, 0x7f)).toBeNaN();
    expect(miniFloatBitsToNumber(f.f8e4m3fn, 0xff)).toBeNaN();
    expect(miniFloatBitsToNumber(f.f8e4m3fn, 0x01)).toBe(2 ** -9);
    expect(miniFloatBitsToNumber(f.f8e4m3fnuz, 0x80)).toBeNaN();
    expect(miniFloatBitsToNumber(f.f8e4m3fnuz, 0x01)).toBe(2 ** -10);
    expect(miniFloatBitsToNumber(f.f8e5m2, 0x7c)).toBe(Infinity);
    expect(miniFloatBitsToNumber(f.f8e5m2, 0xfc)).toBe(-Infinity);
    expect(miniFloatBitsToNumber(f.f8e5m2, 0x7e)).toBeNaN();
    expect(miniFloatBitsToNumber(f.f8e5m2fnuz, 0x80)).toBeNaN();
    expect(miniFloatBitsToNumber(f.f8e5m2fnuz, 0x01)).toBe(2 ** -17);
    expect(Array.from({ length: 16 }, (_, b) => miniFloatBitsToNumber(f.f4e2m1, b))).toEqual(
      [0, 0.5, 1, 1.5, 2, 3, 4, 6, -0, -0.5, -1, -1.5, -2, -3, -4, -6]);
  });
  it('round-trips every non-NaN code, and roundTo keeps every representable value', () => {
    for (const d of Object.keys(MINIFLOAT_FORMATS) as MiniFloatDType[]) {
      const fmt = MINIFLOAT_FORMATS[d];
      for (let b = 0; b < fmt.table.length; b++) {
        const v = fmt.table[b]!;
        if (Number.isNaN(v)) {
          expect(roundTo(d, v)).toBeNaN();
          continue;
        }
        expect(numberToMiniFloatBits(fmt, v, false), `${d} 0x${b.toString(16)}`).toBe(b);
        expect(Object.is(roundTo(d, v), v), `${d} roundTo ${v}`).toBe(true);
      }
    }
  });
  it('rounds with Cast defaults, keeping inf where the format has it and dropping -0 in fnuz', () => {
    expect(roundTo('f8e4m3fn', 1000)).toBe(448);
    expect(roundTo('f8e4m3fn', Infinity)).toBe(448);
    expect(roundTo('f8e5m2', 1e6)).toBe(57344);
    expect(roundTo('f8e5m2', -Infinity)).toBe(-Infinity);
    expect(roundTo('f8e4m3fnuz', -Infinity)).toBe(-240);
    expect(Object.is(roundTo('f8e4m3fnuz', -0), 0)).toBe(true);
    expect(Object.is(roundTo('f8e4m3fnuz', -1e-9), 0)).toBe(true);
    expect(Object.is(roundTo('f8e5m2', -1e-9), -0)).toBe(true);
    expect(roundTo('f8e4m3fn', 464)).toBe(448); // tie between 448 and 480: even mantissa
    expect(roundTo('f8e4m3fn', 0.3)).toBe(0.3125);
    expect(roundTo('f4e2m1', 2.5)).toBe(2);
    expect(roundTo('f4e2m1', 5)).toBe(4);
    expect(roundTo('f4e2m1', 0.75)).toBe(1);
    expect(roundTo('f4e2m1', -100)).toBe(-6);
  });
});

const YS = [0.0, 5.877471754111438e-39, 1.0000002153053333e-39, 0.12399999797344208, 0.125, 0.1875, 0.1899999976158142, 0.25, 0.75,
  1.0, 1.100000023841858, 1.5, 1.600000023841858, 2.0, 3.0, 3.5, 1.0000000150474662e+30, 1.7014118346046923e+38,
  2.5521177519070385e+38, 3.0000000054977558e+38];
// onnx.numpy_helper.to_float8e8m0(x, saturate, round_mode) for YS.
const E8M0_REF: Record<string, string> = {
  up1: '0001017c7c7d7d7d7f7f808080808181e3fefefe',
  up0: '0001017c7c7d7d7d7f7f808080808181e3feffff',
  down1: '0000007b7c7c7c7d7e7f7f7f7f808080e2fefefe',
  down0: '0000007b7c7c7c7d7e7f7f7f7f808080e2fefefe',
  nearest1: '0000007c7c7d7d7d7f7f7f8080808181e3fefefe',
  nearest0: '0000007c7c7d7d7d7f7f7f8080808181e3feffff',
};

describe('float8e8m0', () => {
  it('rounds the exponent by round_mode and saturates like onnx.numpy_helper.to_float8e8m0', () => {
    for (const mode of ['up', 'down', 'nearest'] as const) {
      for (const sat of [1, 0]) {
        let want = E8M0_REF[`${mode}${sat}`]!;
        // 2^-127 is exact in e8m0 (code 0); the reference rounds its float32-subnormal form up to code 1.
        if (mode === 'up') want = want.slice(0, 2) + '00' + want.slice(4);
        expect(hex(YS.map((y) => numberToE8M0Bits(y, sat === 1, mode))), `${mode} saturate=${sat}`).toBe(want);
      }
    }
  });
  it('decodes powers of two and NaN, and maps inf to E8M0_MAX when saturating (the Cast table)', () => {
    expect(e8m0BitsToNumber(0)).toBe(2 ** -127);
    expect(e8m0BitsToNumber(127)).toBe(1);
    expect(e8m0BitsToNumber(0xfe)).toBe(2 ** 127);
    expect(e8m0BitsToNumber(0xff)).toBeNaN();
    expect(numberToE8M0Bits(Infinity, true)).toBe(0xfe);
    expect(numberToE8M0Bits(Infinity, false)).toBe(0xff);
    expect(numberToE8M0Bits(NaN)).toBe(0xff);
    for (let b = 0; b < 255; b++) expect(roundTo('f8e8m0', e8m0BitsToNumber(b))).toBe(e8m0BitsToNumber(b));
  });
});

describe('4- and 2-bit integers', () => {
  it('truncate and wrap like Cast to the wider integers', () => {
    expect([-9, -8, -1.5, 7, 8, 15, 16, NaN].map((x) => roundTo('i4', x))).toEqual([7, -8, -1, 7, -8, -1, 0, 0]);
    expect([-1, 15, 16, 3.9].map((x) => roundTo('u4', x))).toEqual([15, 15, 0, 3]);
    expect([-3, -2, 1, 2, 3].map((x) => roundTo('i2', x))).toEqual([1, -2, 1, -2, -1]);
    expect([-1, 3, 4].map((x) => roundTo('u2', x))).toEqual([3, 3, 0]);
    expect(lowPrecisionCode('i4', -1)).toBe(0xf);
    expect(lowPrecisionValue('i4', 0x8)).toBe(-8);
    expect(lowPrecisionValue('i2', 0x3)).toBe(-1);
    expect(lowPrecisionValue('u2', 0x3)).toBe(3);
  });
});

describe('TensorData packing', () => {
  it('packs sub-byte elements low bits first and pads the last byte', () => {
    const t = TensorData.fromValues('i4', [3], [1, -2, 3]);
    expect(bytesHex(t.bytes)).toBe('e103');
    expect(t.byteLength).toBe(2);
    const u = TensorData.fromValues('u2', [5], [1, 2, 3, 0, 3]);
    expect(bytesHex(u.bytes)).toBe('3903');
    const f = TensorData.fromValues('f4e2m1', [2, 2], [0.5, -6, 3, 1]);
    expect(bytesHex(f.bytes)).toBe('f125');
  });
  it('unpacks bytes and checks their length', () => {
    expect(Array.from(TensorData.fromBytes('i4', [3], Uint8Array.of(0xe1, 0x03)).values)).toEqual([1, -2, 3]);
    expect(Array.from(TensorData.fromBytes('u2', [5], Uint8Array.of(0x39, 0x03)).values)).toEqual([1, 2, 3, 0, 3]);
    expect(Array.from(TensorData.fromBytes('f8e5m2', [2], Uint8Array.of(0x7c, 0x3c)).values)).toEqual([Infinity, 1]);
    expect(() => TensorData.fromBytes('i4', [3], new Uint8Array(3))).toThrow(/needs 2 bytes, got 3/);
  });
  it('re-encodes decoded values to the same bytes (inf, NaN and 2^-127 included)', () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    for (const d of ['f8e4m3fn', 'f8e4m3fnuz', 'f8e5m2', 'f8e5m2fnuz', 'f8e8m0', 'f4e2m1', 'i4', 'u4', 'i2', 'u2'] as DType[]) {
      const n = (256 * 8) / DTYPE_BITS[d];
      const decoded = TensorData.fromBytes(d, [n], all);
      const again = TensorData.fromValues(d, [n], Float64Array.from(decoded.values)).bytes;
      const nanSafe = (b: Uint8Array) => Array.from(decoded.values, (v, i) => (Number.isNaN(v) ? 'nan' : b[i]));
      if (DTYPE_BITS[d] === 8) expect(nanSafe(again), d).toEqual(nanSafe(all));
      else expect(bytesHex(again), d).toBe(bytesHex(all));
    }
  });
});

function proto(dataType: number, dims: number[], fields: Partial<OnnxTensor>): OnnxTensor {
  return {
    dims, dataType, floatData: [], int32Data: [], stringData: [], int64Data: [], name: 't', rawData: new Uint8Array(0),
    externalData: [], dataLocation: 0, doubleData: [], uint64Data: [], ...fields,
  } as OnnxTensor;
}

describe('TensorProto', () => {
  it('reads packed raw_data', () => {
    const t = tensorFromProto(proto(22, [3], { rawData: Uint8Array.of(0xe1, 0x03) }), 't');
    expect(t.dtype).toBe('i4');
    expect(Array.from(t.values)).toEqual([1, -2, 3]);
    expect(() => tensorFromProto(proto(22, [3], { rawData: Uint8Array.of(1, 2, 3) }), 't')).toThrow(/raw_data has 3 bytes, i4\[3\] needs 2/);
  });
  it('reads int32_data: one float8 pattern per entry, packed bytes for 4- and 2-bit types', () => {
    expect(Array.from(tensorFromProto(proto(17, [2], { int32Data: [0x38, 0xb8] }), 't').values)).toEqual([1, -1]);
    expect(Array.from(tensorFromProto(proto(24, [2], { int32Data: [127, 128] }), 't').values)).toEqual([1, 2]);
    // onnx.helper.make_tensor('t', INT4, [3], [1, -2, 3]).int32_data == [225, 3]
    expect(Array.from(tensorFromProto(proto(22, [3], { int32Data: [225, 3] }), 't').values)).toEqual([1, -2, 3]);
    // make_tensor('t', UINT2, [5], [1, 2, 3, 0, 3]).int32_data == [57, 3]
    expect(Array.from(tensorFromProto(proto(25, [5], { int32Data: [57, 3] }), 't').values)).toEqual([1, 2, 3, 0, 3]);
    // One unpacked value per entry is accepted too.
    expect(Array.from(tensorFromProto(proto(22, [3], { int32Data: [1, -2, 3] }), 't').values)).toEqual([1, -2, 3]);
    expect(() => tensorFromProto(proto(22, [3], { int32Data: [1] }), 't')).toThrow(/needs 2 packed entries/);
  });
});
