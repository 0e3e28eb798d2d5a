// Writes an artifact (.mcp) from a compiled graph and its kernel plan: preamble, JSON header, the
// plan section and the page-aligned weights section, each section with a SHA-256 in the header.

import { createHash } from 'node:crypto';
import type { Graph } from '../ir/graph.js';
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

export function spec(v: { name: string; type: { dtype: string; shape: readonly (number | string)[] } }): TensorSpec {
  return { name: v.name, dtype: v.type.dtype as ArtifactDType, shape: v.type.shape as number[] };
}

export function writeArtifact(input: ArtifactInput): Buffer {
  const { graph, emitted } = input;
  const weights: WeightEntry[] = [];
  let weightsLength = 0;
  for (const w of emitted.weights) {
    const data = w.constant!;
    weightsLength = alignUp(weightsLength, TENSOR_ALIGNMENT);
    weights.push({ name: w.name, dtype: data.dtype as ArtifactDType, shape: [...data.dims], offset: weightsLength, byteLength: data.byteLength });
    weightsLength += data.byteLength;
  }
  const weightsSection = Buffer.alloc(weightsLength);
  emitted.weights.forEach((w, i) => weightsSection.set(w.constant!.bytes, weights[i]!.offset));
  const planSection = Buffer.from(JSON.stringify(emitted.plan), 'utf8');

  const header: ArtifactHeader = {
    format: 'mcpc-artifact',
    formatVersion: ARTIFACT_VERSION,
    producer: PRODUCER,
    source: input.source,
    target: input.target,
    precision: input.precision,
    options: input.options,
    inputs: graph.inputs.map(spec),
    outputs: graph.outputs.map(spec),
    modules: [{
      id: 'm0',
      inputs: graph.inputs.map(spec),
      outputs: graph.outputs.map(spec),
      kernels: [0, emitted.plan.kernels.length],
      profile: profileNodes(graph.nodes, emitted.arena.size),
    }],
    weights,
    arena: emitted.arena,
    sections: [
      { name: 'plan', offset: 0, length: planSection.length, sha256: sha256(planSection) },
      { name: 'weights', offset: 0, length: weightsSection.length, sha256: sha256(weightsSection) },
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
  const total = header.sections[1]!.offset + weightsSection.length;
  const out = Buffer.alloc(total);
  out.write(ARTIFACT_MAGIC, 0, 'latin1');
  out.writeUInt32LE(ARTIFACT_VERSION, 8);
  out.writeUInt32LE(0, 12);
  out.writeBigUInt64LE(BigInt(headerBytes.length), 16);
  createHash('sha256').update(headerBytes).digest().copy(out, 24);
  headerBytes.copy(out, PREAMBLE_BYTES);
  planSection.copy(out, header.sections[0]!.offset);
  weightsSection.copy(out, header.sections[1]!.offset);
  return out;
}
