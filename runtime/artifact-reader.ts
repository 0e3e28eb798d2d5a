// Reads and validates an artifact (.mcp): magic, format version, header and section hashes, and
// that every section, weight and slot lies inside the file. Weights are views into the file's
// bytes (no copy). Any violation is an ArtifactError with a code, never a crash.

import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync, readFileSync } from 'node:fs';
import {
  ARTIFACT_MAGIC, ARTIFACT_VERSION, MIN_ARTIFACT_VERSION, PREAMBLE_BYTES, type ArtifactHeader, type KernelPlan, type WeightEntry,
} from '../compiler/artifact/format.js';

export class ArtifactError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ArtifactError';
  }
}

/** What a session needs of an artifact: its header and plan (weights stay in the file or the bytes). */
export interface ArtifactHead {
  path: string;
  header: ArtifactHeader;
  plan: KernelPlan;
}

export interface Artifact extends ArtifactHead {
  bytes: Uint8Array;
  /** Bytes of weight `i`, a view into the file. */
  weight(i: number): Uint8Array;
}

export const ARTIFACT_CODES = {
  magic: 'MCPC4001',
  version: 'MCPC4002',
  corrupt: 'MCPC4003',
  truncated: 'MCPC4004',
  unreadable: 'MCPC1001',
} as const;

export function readArtifactFile(path: string): Artifact {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new ArtifactError(ARTIFACT_CODES.unreadable, `cannot read ${path}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
  }
  return readArtifact(bytes, path);
}

export function readArtifact(bytes: Uint8Array, path = '<bytes>'): Artifact {
  const fail = (kind: keyof typeof ARTIFACT_CODES, reason: string) => {
    const prefix = kind === 'truncated' ? `${path} is truncated: ` : kind === 'corrupt' ? `${path} is corrupted: ` : '';
    return new ArtifactError(ARTIFACT_CODES[kind], prefix + reason);
  };
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 8 || buf.toString('latin1', 0, 8) !== ARTIFACT_MAGIC) {
    throw fail('magic', `${path} is not an mcpc artifact (bad magic number)`);
  }
  if (buf.length < PREAMBLE_BYTES) throw fail('truncated', `the ${buf.length}-byte file ends inside the ${PREAMBLE_BYTES}-byte preamble`);
  const version = buf.readUInt32LE(8);
  if (version < MIN_ARTIFACT_VERSION || version > ARTIFACT_VERSION) {
    throw fail('version', `${path} is artifact format version ${version}; this build reads versions ${MIN_ARTIFACT_VERSION} to ${ARTIFACT_VERSION}`);
  }
  const headerLength = Number(buf.readBigUInt64LE(16));
  if (PREAMBLE_BYTES + headerLength > buf.length) {
    throw fail('truncated', `the header needs ${headerLength} bytes after the preamble, the file has ${buf.length - PREAMBLE_BYTES}`);
  }
  const headerBytes = buf.subarray(PREAMBLE_BYTES, PREAMBLE_BYTES + headerLength);
  if (!createHash('sha256').update(headerBytes).digest().equals(buf.subarray(24, 56))) {
    throw fail('corrupt', 'the header checksum does not match');
  }
  let header: ArtifactHeader;
  try {
    header = JSON.parse(headerBytes.toString('utf8')) as ArtifactHeader;
  } catch (e) {
    throw fail('corrupt', `the header is not valid JSON (${(e as Error).message})`);
  }
  const section = (name: string) => {
    const s = header.sections?.find((x) => x.name === name);
    if (!s) throw fail('corrupt', `the header lists no ${name} section`);
    if (!Number.isSafeInteger(s.offset) || !Number.isSafeInteger(s.length) || s.offset < 0 || s.length < 0) {
      throw fail('corrupt', `the ${name} section has an invalid offset or length`);
    }
    if (s.offset + s.length > buf.length) {
      throw fail('truncated', `the ${name} section ends at byte ${s.offset + s.length}, the file has ${buf.length}`);
    }
    const data = buf.subarray(s.offset, s.offset + s.length);
    if (createHash('sha256').update(data).digest('hex') !== s.sha256) throw fail('corrupt', `the ${name} section checksum does not match`);
    return data;
  };
  const planBytes = section('plan');
  const weights = section('weights');
  let plan: KernelPlan;
  try {
    plan = JSON.parse(planBytes.toString('utf8')) as KernelPlan;
  } catch (e) {
    throw fail('corrupt', `the plan is not valid JSON (${(e as Error).message})`);
  }
  header.weights.forEach((w: WeightEntry, i) => {
    if (w.offset < 0 || w.offset + w.byteLength > weights.length) throw fail('corrupt', `weight ${i} (${w.name}) lies outside the weights section`);
  });
  return {
    path,
    bytes,
    header,
    plan,
    weight(i) {
      const w = header.weights[i];
      if (!w) throw new RangeError(`weight index ${i} is out of range (${header.weights.length} weights)`);
      return weights.subarray(w.offset, w.offset + w.byteLength);
    },
  };
}

export interface ArtifactHeadOptions {
  /** Also read the weights section (in chunks) and check its SHA-256. Off by default. */
  verifyWeights?: boolean;
}

/** The header and plan of an artifact file, the file's size and its weights section's place in it. */
export interface ArtifactFileHead extends ArtifactHead {
  fileSize: number;
  weightsOffset: number;
  weightsLength: number;
}

const HASH_CHUNK = 8 << 20;

/**
 * Reads only the preamble, header and plan sections of the artifact file at `path` (partial reads),
 * with the checks of readArtifact and the same coded errors: magic, version, header and plan
 * checksums, every section and weight inside the file. The weights section is hashed only with
 * `verifyWeights` (read in chunks, never held whole).
 */
export function readArtifactHead(path: string, options: ArtifactHeadOptions = {}): ArtifactFileHead {
  const unreadable = (e: unknown) => {
    const err = e as NodeJS.ErrnoException;
    return new ArtifactError(ARTIFACT_CODES.unreadable, `cannot read ${path}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
  };
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw unreadable(e);
  }
  try {
    let size: number;
    try {
      const st = fstatSync(fd);
      if (st.isDirectory()) throw Object.assign(new Error('illegal operation on a directory, read'), { code: 'EISDIR' });
      size = st.size;
    } catch (e) {
      throw unreadable(e);
    }
    /** Bytes [offset, offset + length) of the file (fewer when it ends first). */
    const read = (offset: number, length: number): Buffer => {
      const n = Math.max(0, Math.min(length, size - offset));
      const out = Buffer.allocUnsafe(n);
      let got = 0;
      try {
        while (got < n) {
          const r = readSync(fd, out, got, n - got, offset + got);
          if (r === 0) break;
          got += r;
        }
      } catch (e) {
        throw unreadable(e);
      }
      return got === n ? out : out.subarray(0, got);
    };
    return parseHead(read, size, path, options.verifyWeights === true);
  } finally {
    closeSync(fd);
  }
}

function parseHead(read: (offset: number, length: number) => Buffer, size: number, path: string, verifyWeights: boolean): ArtifactFileHead {
  const fail = (kind: keyof typeof ARTIFACT_CODES, reason: string) => {
    const prefix = kind === 'truncated' ? `${path} is truncated: ` : kind === 'corrupt' ? `${path} is corrupted: ` : '';
    return new ArtifactError(ARTIFACT_CODES[kind], prefix + reason);
  };
  const pre = read(0, PREAMBLE_BYTES);
  if (size < 8 || pre.length < 8 || pre.toString('latin1', 0, 8) !== ARTIFACT_MAGIC) {
    throw fail('magic', `${path} is not an mcpc artifact (bad magic number)`);
  }
  if (size < PREAMBLE_BYTES || pre.length < PREAMBLE_BYTES) {
    throw fail('truncated', `the ${size}-byte file ends inside the ${PREAMBLE_BYTES}-byte preamble`);
  }
  const version = pre.readUInt32LE(8);
  if (version < MIN_ARTIFACT_VERSION || version > ARTIFACT_VERSION) {
    throw fail('version', `${path} is artifact format version ${version}; this build reads versions ${MIN_ARTIFACT_VERSION} to ${ARTIFACT_VERSION}`);
  }
  const headerLength = Number(pre.readBigUInt64LE(16));
  if (PREAMBLE_BYTES + headerLength > size) {
    throw fail('truncated', `the header needs ${headerLength} bytes after the preamble, the file has ${size - PREAMBLE_BYTES}`);
  }
  const headerBytes = read(PREAMBLE_BYTES, headerLength);
  if (headerBytes.length !== headerLength) throw fail('truncated', `the file ended while reading the header`);
  if (!createHash('sha256').update(headerBytes).digest().equals(pre.subarray(24, 56))) {
    throw fail('corrupt', 'the header checksum does not match');
  }
  let header: ArtifactHeader;
  try {
    header = JSON.parse(headerBytes.toString('utf8')) as ArtifactHeader;
  } catch (e) {
    throw fail('corrupt', `the header is not valid JSON (${(e as Error).message})`);
  }
  const section = (name: string) => {
    const s = header.sections?.find((x) => x.name === name);
    if (!s) throw fail('corrupt', `the header lists no ${name} section`);
    if (!Number.isSafeInteger(s.offset) || !Number.isSafeInteger(s.length) || s.offset < 0 || s.length < 0) {
      throw fail('corrupt', `the ${name} section has an invalid offset or length`);
    }
    if (s.offset + s.length > size) {
      throw fail('truncated', `the ${name} section ends at byte ${s.offset + s.length}, the file has ${size}`);
    }
    return s;
  };
  const hashOf = (offset: number, length: number) => {
    const h = createHash('sha256');
    for (let at = 0; at < length; at += HASH_CHUNK) {
      const chunk = read(offset + at, Math.min(HASH_CHUNK, length - at));
      if (chunk.length !== Math.min(HASH_CHUNK, length - at)) throw fail('truncated', `the file ended while reading byte ${offset + at + chunk.length}`);
      h.update(chunk);
    }
    return h.digest('hex');
  };
  const planSection = section('plan');
  const planBytes = read(planSection.offset, planSection.length);
  if (planBytes.length !== planSection.length) throw fail('truncated', `the file ended while reading the plan section`);
  if (createHash('sha256').update(planBytes).digest('hex') !== planSection.sha256) throw fail('corrupt', 'the plan section checksum does not match');
  const weights = section('weights');
  if (verifyWeights && hashOf(weights.offset, weights.length) !== weights.sha256) throw fail('corrupt', 'the weights section checksum does not match');
  // Every section the header lists lies inside the file.
  for (const s of header.sections) section(s.name);
  let plan: KernelPlan;
  try {
    plan = JSON.parse(planBytes.toString('utf8')) as KernelPlan;
  } catch (e) {
    throw fail('corrupt', `the plan is not valid JSON (${(e as Error).message})`);
  }
  header.weights.forEach((w: WeightEntry, i) => {
    if (w.offset < 0 || w.offset + w.byteLength > weights.length) throw fail('corrupt', `weight ${i} (${w.name}) lies outside the weights section`);
  });
  return { path, header, plan, fileSize: size, weightsOffset: weights.offset, weightsLength: weights.length };
}
