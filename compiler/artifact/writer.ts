// Writes an artifact (.mcp) from a compiled graph and its kernel plan: preamble, JSON header, the
// plan section and the page-aligned weights section, each section with a SHA-256 in the header.

import { createHash } from 'node:crypto';
import { closeSync, openSync, writevSync } from 'node:fs';
import type { Graph } from '../ir/graph.js';
import type { TensorData } from '../ir/tensor.js';
import type { EmittedPlan } from '../plan/emit-plan.js';
import { profileNodes } from '../plan/profile.js';
import {
  alignUp, ARTIFACT_MAGIC, ARTIFACT_VERSION, PREAMBLE_BYTES, TENSOR_ALIGNMENT, WEIGHTS_ALIGNMENT,
  type ArtifactDType, type ArtifactHeader, type Precision, type Target, type TensorSpec, type WeightEntry,
} from './format.js';

export const PRODUCER = 'mcpc 0.1.0';

export interface ArtifactInput {
  graph: Graph;
  emitted: EmittedPlan;
  target: Target;
  precision: Precision;
  options: Record<string, string | number | boolean>;
  source: { model: string; sha256: string; producer: string };
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function spec(v: { name: string; type: { dtype: string; shape: readonly (number | string)[] } }, values?: TensorData): TensorSpec {
  // A symbolic dim left in a compiled graph is a data-dependent one: -1, resolved at run time.
  const s: TensorSpec = { name: v.name, dtype: v.type.dtype as ArtifactDType, shape: v.type.shape.map((d) => (typeof d === 'number' ? d : -1)) };
  if (values) s.values = Array.from(values.values);
  return s;
}

/**
 * The artifact as a list of byte chunks in file order: the preamble and header, the plan, padding,
 * and every weight tensor's own bytes (not copied), so that writing a large model costs one pass.
 */
export interface ArtifactChunks {
  chunks: Uint8Array[];
  byteLength: number;
}

export function artifactToBuffer(a: ArtifactChunks): Buffer {
  return Buffer.concat(a.chunks, a.byteLength);
}

/** Writes the chunks to `path` without assembling them in memory first. */
export function writeArtifactFile(path: string, a: ArtifactChunks): void {
  const fd = openSync(path, 'w');
  try {
    for (let i = 0; i < a.chunks.length; i += 64) writevSync(fd, a.chunks.slice(i, i + 64));
  } finally {
    closeSync(fd);
  }
}

function padding(n: number): Uint8Array {
  return new Uint8Array(n);
}

export function writeArtifact(input: ArtifactInput): ArtifactChunks {
  const { graph, emitted } = input;
  const weights: WeightEntry[] = [];
  // Weight chunks with the zero padding that aligns each tensor, hashed as they will be written.
  const weightChunks: Uint8Array[] = [];
  const weightsHash = createHash('sha256');
  let weightsLength = 0;
  for (const w of emitted.weights) {
    const data = w.constant!;
    const aligned = alignUp(weightsLength, TENSOR_ALIGNMENT);
    if (aligned > weightsLength) {
      const pad = padding(aligned - weightsLength);
      weightChunks.push(pad);
      weightsHash.update(pad);
    }
    weightsLength = aligned;
    weights.push({ name: w.name, dtype: data.dtype as ArtifactDType, shape: [...data.dims], offset: weightsLength, byteLength: data.byteLength });
    const bytes = data.bytes;
    weightChunks.push(bytes);
    weightsHash.update(bytes);
    weightsLength += data.byteLength;
  }
  const planSection = Buffer.from(JSON.stringify(emitted.plan), 'utf8');

  const header: ArtifactHeader = {
    format: 'mcpc-artifact',
    formatVersion: ARTIFACT_VERSION,
    producer: PRODUCER,
    source: input.source,
    target: input.target,
    precision: input.precision,
    options: input.options,
    inputs: graph.inputs.map((v) => spec(v, graph.boundValues.get(v))),
    outputs: graph.outputs.map((v) => spec(v)),
    modules: [{
      id: 'm0',
      inputs: graph.inputs.map((v) => spec(v, graph.boundValues.get(v))),
      outputs: graph.outputs.map((v) => spec(v)),
      kernels: [0, emitted.plan.kernels.length],
      profile: profileNodes(graph.nodes, emitted.arena.size),
    }],
    weights,
    arena: emitted.arena,
    sections: [
      { name: 'plan', offset: 0, length: planSection.length, sha256: sha256(planSection) },
      { name: 'weights', offset: 0, length: weightsLength, sha256: weightsHash.digest('hex') },
    ],
  };
  // Section offsets depend on the header's length, which depends on the offsets: iterate to a fixpoint.
  let headerBytes = Buffer.alloc(0);
  for (let iter = 0; iter < 8; iter++) {
    const planOffset = alignUp(PREAMBLE_BYTES + headerBytes.length, TENSOR_ALIGNMENT);
    const weightsOffset = alignUp(planOffset + planSection.length, WEIGHTS_ALIGNMENT);
    header.sections[0]!.offset = planOffset;
    header.sections[1]!.offset = weightsOffset;
    const next = Buffer.from(JSON.stringify(header), 'utf8');
    const stable = next.length === headerBytes.length;
    headerBytes = next;
    if (stable) break;
  }
  const preamble = Buffer.alloc(PREAMBLE_BYTES);
  preamble.write(ARTIFACT_MAGIC, 0, 'latin1');
  preamble.writeUInt32LE(ARTIFACT_VERSION, 8);
  preamble.writeUInt32LE(0, 12);
  preamble.writeBigUInt64LE(BigInt(headerBytes.length), 16);
  createHash('sha256').update(headerBytes).digest().copy(preamble, 24);
  const planOffset = header.sections[0]!.offset;
  const weightsOffset = header.sections[1]!.offset;
  const chunks: Uint8Array[] = [
    preamble,
    headerBytes,
    padding(planOffset - PREAMBLE_BYTES - headerBytes.length),
    planSection,
    padding(weightsOffset - planOffset - planSection.length),
    ...weightChunks,
  ];
  return { chunks, byteLength: weightsOffset + weightsLength };
}
