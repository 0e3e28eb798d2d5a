// NumPy .npy files (format versions 1, 2 and 3): little-endian, C order, the dtypes the runtime
// has (f32 f64 f16 i64 i32 i16 i8 u64 u32 u16 u8 bool). Read data is copied into a fresh, aligned
// TypedArray; a malformed file is an error naming the file and what is wrong with it.

import { readFileSync } from 'node:fs';
import { diagnostic } from '../compiler/diagnostics.js';
import { DTYPES, Tensor, type TensorDType } from '../runtime/tensor.js';

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY

/** numpy descr (without byte-order char) <-> our dtype. bf16 has no numpy type. */
const DESCR: Partial<Record<TensorDType, string>> = {
  f32: 'f4', f64: 'f8', f16: 'f2', i64: 'i8', i32: 'i4', i16: 'i2', i8: 'i1', u64: 'u8', u32: 'u4', u16: 'u2', u8: 'u1', bool: 'b1',
};
const FROM_DESCR = new Map(Object.entries(DESCR).map(([k, v]) => [v, k as TensorDType]));

export class NpyError extends Error {
  constructor(path: string, reason: string) {
    super(`${path} is not a readable .npy file: ${reason}`);
    this.name = 'NpyError';
  }
}

export function readNpy(bytes: Uint8Array, path = '<bytes>'): Tensor {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 10 || !buf.subarray(0, 6).equals(MAGIC)) throw new NpyError(path, 'bad magic (expected \\x93NUMPY)');
  const major = buf[6]!;
  let headerLen: number;
  let start: number;
  if (major === 1) {
    headerLen = buf.readUInt16LE(8);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (buf.length < 12) throw new NpyError(path, 'truncated header');
    headerLen = buf.readUInt32LE(8);
    start = 12;
  } else {
    throw new NpyError(path, `format version ${major} is not supported (1, 2, 3)`);
  }
  if (start + headerLen > buf.length) throw new NpyError(path, 'truncated header');
  const header = buf.toString(major === 3 ? 'utf8' : 'latin1', start, start + headerLen);
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw new NpyError(path, `cannot parse header ${header.trim()}`);
  if (fortran === 'True') throw new NpyError(path, 'Fortran-order arrays are not supported (save with np.ascontiguousarray)');
  const order = descr[0]!;
  const code = descr.slice(1);
  if (order === '>' && code !== 'i1' && code !== 'u1' && code !== 'b1') throw new NpyError(path, `big-endian dtype ${descr} is not supported`);
  if (!['<', '|', '='].includes(order) && !['>'].includes(order)) throw new NpyError(path, `unknown dtype ${descr}`);
  const dtype = FROM_DESCR.get(code);
  if (!dtype) throw new NpyError(path, `dtype ${descr} is not supported (supported: ${Object.values(DESCR).join(', ')})`);
  const dims = shapeText.split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  if (dims.some((d) => !Number.isSafeInteger(d) || d < 0)) throw new NpyError(path, `bad shape (${shapeText})`);
  const Array_ = DTYPES[dtype].array;
  const count = dims.reduce((a, d) => a * d, 1);
  const dataStart = start + headerLen;
  const byteLength = count * Array_.BYTES_PER_ELEMENT;
  if (dataStart + byteLength > buf.length) throw new NpyError(path, `data is truncated: shape (${dims.join(', ')}) needs ${byteLength} bytes, the file has ${buf.length - dataStart}`);
  const data = new Array_(count);
  new Uint8Array(data.buffer).set(buf.subarray(dataStart, dataStart + byteLength));
  return new Tensor(dtype, data, dims);
}

export function writeNpy(t: { dtype: TensorDType; dims: readonly number[]; data: ArrayBufferView }): Buffer {
  const code = DESCR[t.dtype];
  if (!code) throw new Error(`dtype ${t.dtype} has no .npy equivalent`);
  const descr = `${code.endsWith('1') ? '|' : '<'}${code}`;
  const shape = t.dims.length === 1 ? `(${t.dims[0]},)` : `(${t.dims.join(', ')})`;
  let dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  // numpy pads the header with spaces and a newline so the data starts at a multiple of 64.
  const v1 = dict.length + 1 + 10 <= 0xffff + 10;
  const prefix = v1 ? 10 : 12;
  const total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  dict = dict.padEnd(total - prefix - 1, ' ') + '\n';
  const head = Buffer.alloc(prefix);
  MAGIC.copy(head, 0);
  head[6] = v1 ? 1 : 2;
  head[7] = 0;
  if (v1) head.writeUInt16LE(dict.length, 8);
  else head.writeUInt32LE(dict.length, 8);
  return Buffer.concat([head, Buffer.from(dict, 'latin1'), Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)]);
}

/**
 * Reads the .npy `file` a flag names (`what`: "--input x"): an unreadable file or a malformed one is
 * a diagnostic naming both.
 */
export function readNpyFlag(file: string, what: string): Tensor {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw diagnostic('fileUnreadable', { path: file, reason: err.code === 'ENOENT' ? 'no such file' : err.message });
  }
  try {
    return readNpy(bytes, file);
  } catch (e) {
    if (e instanceof NpyError) throw diagnostic('badFeed', { reason: `${what}: ${e.message}` });
    throw e;
  }
}
