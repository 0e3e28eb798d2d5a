// Reads and validates an artifact (.mcp): magic, format version, header and section hashes, and
// that every section, weight and slot lies inside the file. Weights are views into the file's
// bytes (no copy). Any violation is an ArtifactError with a code, never a crash.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  ARTIFACT_MAGIC, ARTIFACT_VERSION, PREAMBLE_BYTES, type ArtifactHeader, type KernelPlan, type WeightEntry,
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

export interface Artifact {
  path: string;
  bytes: Uint8Array;
  header: ArtifactHeader;
  plan: KernelPlan;
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
  if (version !== ARTIFACT_VERSION) {
    throw fail('version', `${path} is artifact format version ${version}; this build reads version ${ARTIFACT_VERSION}`);
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
