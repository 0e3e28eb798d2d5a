// TensorProto -> TensorData: raw little-endian bytes are used in place; typed fields (float_data,
// int32_data holding f16/bf16/bool/8- and 16-bit ints, int64_data, double_data, uint64_data) are
// converted; external data is read from the side file it names, which must lie beside the model.
// Low-precision types: raw_data and external data hold ceil(n*bits/8) bytes, sub-byte elements packed
// low bits first; int32_data holds one float8/f8e8m0 bit pattern per entry, and for the 4- and 2-bit
// types one packed byte per entry (two or four elements), as onnx.proto and onnx.helper.make_tensor
// have it. An int32_data with exactly one entry per element is also taken, as unpacked codes.

import { closeSync, openSync, readSync, fstatSync } from 'node:fs';
import { isAbsolute, normalize, resolve, sep } from 'node:path';
import { diagnostic, q } from '../diagnostics.js';
import {
  DTYPE_BITS, bf16BitsToNumber, dtypeByteLength, dtypeFromOnnx, f16BitsToNumber, isLowPrecision, onnxDtypeName, type DType,
} from '../ir/dtype.js';
import { TensorData, elementCount, packCodes } from '../ir/tensor.js';
import { int64, type OnnxTensor } from './schema.js';

export interface TensorSource {
  /** Folder holding the model file, for external data; undefined when the model came from bytes. */
  baseDir?: string;
}

export function tensorFromProto(t: OnnxTensor, what: string, source: TensorSource = {}): TensorData {
  const name = t.name || what;
  const dtype = dtypeFromOnnx(t.dataType);
  if (!dtype) throw diagnostic('unsupportedDtype', { what: `tensor ${q(name)}`, dtype: onnxDtypeName(t.dataType) });
  const dims = (t.dims ?? []).map((d) => int64(d));
  if (dims.some((d) => d < 0 || !Number.isSafeInteger(d))) {
    throw diagnostic('malformedTensor', { tensor: q(name), reason: `invalid dims [${dims.join(',')}]` });
  }
  const n = elementCount(dims);
  const byteLength = dtypeByteLength(dtype, n);
  if (t.dataLocation === 1) return TensorData.fromBytes(dtype, dims, readExternal(t, name, byteLength, source));
  if (t.rawData && t.rawData.length > 0) {
    if (t.rawData.length !== byteLength) {
      throw diagnostic('malformedTensor', {
        tensor: q(name), reason: `raw_data has ${t.rawData.length} bytes, ${dtype}[${dims.join(',')}] needs ${byteLength}`,
      });
    }
    return TensorData.fromBytes(dtype, dims, t.rawData);
  }
  if (isLowPrecision(dtype)) return lowPrecisionFromInt32(t, name, dtype, dims, n);
  const values = typedFieldValues(t, dtype);
  if (values.length !== n) {
    throw diagnostic('malformedTensor', { tensor: q(name), reason: `holds ${values.length} values, shape [${dims.join(',')}] needs ${n}` });
  }
  return TensorData.fromValues(dtype, dims, values);
}

function typedFieldValues(t: OnnxTensor, dtype: DType): Float64Array {
  switch (dtype) {
    case 'f32': return Float64Array.from(t.floatData ?? []);
    case 'f64': return Float64Array.from(t.doubleData ?? []);
    case 'i64': return Float64Array.from(t.int64Data ?? [], (x) => int64(x));
    case 'u64': case 'u32': return Float64Array.from(t.uint64Data ?? [], (x) => uint64(x));
    case 'f16': return Float64Array.from(t.int32Data ?? [], (x) => f16BitsToNumber(x & 0xffff));
    case 'bf16': return Float64Array.from(t.int32Data ?? [], (x) => bf16BitsToNumber(x & 0xffff));
    default: return Float64Array.from(t.int32Data ?? []);
  }
}

/** Low-precision types from int32_data: bit patterns, packed bytes for the sub-byte types. */
function lowPrecisionFromInt32(t: OnnxTensor, name: string, dtype: DType, dims: number[], n: number): TensorData {
  const data = t.int32Data ?? [];
  const bits = DTYPE_BITS[dtype];
  const packed = dtypeByteLength(dtype, n);
  if (data.length === packed) return TensorData.fromBytes(dtype, dims, Uint8Array.from(data, (x) => x & 0xff));
  if (bits < 8 && data.length === n) return TensorData.fromBytes(dtype, dims, packCodes(dtype, data));
  const need = bits < 8 ? `${packed} packed entries` : `${n}`;
  throw diagnostic('malformedTensor', { tensor: q(name), reason: `holds ${data.length} int32_data entries, ${dtype}[${dims.join(',')}] needs ${need}` });
}

function uint64(x: number | { toNumber(): number; low?: number; high?: number; unsigned?: boolean }): number {
  if (typeof x === 'number') return x;
  if (x.low !== undefined && x.high !== undefined) return (x.high >>> 0) * 2 ** 32 + (x.low >>> 0);
  return x.toNumber();
}

function readExternal(t: OnnxTensor, name: string, byteLength: number, source: TensorSource): Uint8Array {
  const info = new Map((t.externalData ?? []).map((e) => [e.key, e.value]));
  const location = info.get('location');
  const fail = (reason: string) => diagnostic('externalDataUnreadable', { tensor: q(name), location: location ?? '(none)', reason });
  if (!location) throw fail('the tensor has no external_data location');
  if (source.baseDir === undefined) throw fail('the model was given as bytes, so files beside it cannot be found');
  if (isAbsolute(location) || normalize(location).split(/[\\/]/).includes('..')) {
    throw fail('the location must be a relative path inside the model folder');
  }
  const path = resolve(source.baseDir, location);
  if (!path.startsWith(resolve(source.baseDir) + sep)) throw fail('the location leaves the model folder');
  const offset = Number(info.get('offset') ?? 0);
  const length = info.has('length') ? Number(info.get('length')) : byteLength;
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) throw fail('invalid offset or length');
  if (length !== byteLength) throw fail(`length ${length} does not match the ${byteLength} bytes its shape needs`);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw fail((e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message);
  }
  try {
    const size = fstatSync(fd).size;
    if (offset + length > size) throw fail(`bytes ${offset}..${offset + length} lie past the end of the ${size}-byte file`);
    const bytes = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const k = readSync(fd, bytes, done, length - done, offset + done);
      if (k === 0) throw fail('unexpected end of file');
      done += k;
    }
    return bytes;
  } finally {
    closeSync(fd);
  }
}
