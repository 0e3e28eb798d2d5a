// Builds small ONNX models in memory for tests (malformed ones too), encoded with the compiler's
// own protobuf schema.

import { ModelProtoType } from '../../compiler/onnx/schema.js';

export interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  domain?: string;
  attrs?: Record<string, number | number[] | string | { floats: number[] } | { float: number }>;
}

export interface ModelSpec {
  inputs: { name: string; elemType?: number; dims: (number | string)[] }[];
  outputs: { name: string; elemType?: number; dims?: (number | string)[] }[];
  nodes: NodeSpec[];
  initializers?: { name: string; dims: number[]; floats?: number[]; int64s?: number[] }[];
  opset?: number;
  irVersion?: number;
  opsetImports?: { domain: string; version: number }[];
}

function valueInfo(v: { name: string; elemType?: number; dims?: (number | string)[] }) {
  return {
    name: v.name,
    type: {
      tensorType: {
        elemType: v.elemType ?? 1,
        shape: v.dims ? { dim: v.dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } : undefined,
      },
    },
  };
}

function attribute(name: string, v: NonNullable<NodeSpec['attrs']>[string]) {
  if (typeof v === 'number') return { name, type: 2, i: v };
  if (typeof v === 'string') return { name, type: 3, s: Buffer.from(v) };
  if (Array.isArray(v)) return { name, type: 7, ints: v };
  if ('floats' in v) return { name, type: 6, floats: v.floats };
  return { name, type: 1, f: v.float };
}

export function buildModel(spec: ModelSpec): Uint8Array {
  const model = {
    irVersion: spec.irVersion ?? 8,
    producerName: 'mcpc-tests',
    opsetImport: spec.opsetImports ?? [{ domain: '', version: spec.opset ?? 17 }],
    graph: {
      name: 'test',
      node: spec.nodes.map((n, i) => ({
        opType: n.op,
        input: n.inputs,
        output: n.outputs,
        name: n.name ?? `${n.op}_${i}`,
        domain: n.domain ?? '',
        attribute: Object.entries(n.attrs ?? {}).map(([k, v]) => attribute(k, v)),
      })),
      input: spec.inputs.map(valueInfo),
      output: spec.outputs.map(valueInfo),
      initializer: (spec.initializers ?? []).map((t) => ({
        name: t.name,
        dims: t.dims,
        dataType: t.int64s ? 7 : 1,
        floatData: t.floats ?? [],
        int64Data: t.int64s ?? [],
      })),
    },
  };
  return ModelProtoType.encode(ModelProtoType.fromObject(model)).finish();
}

/** A two-node model: y = Relu(x + b), x: f32[batch, 4]. */
export function addReluModel(): Uint8Array {
  return buildModel({
    inputs: [{ name: 'x', dims: ['batch', 4] }],
    outputs: [{ name: 'y' }],
    initializers: [{ name: 'b', dims: [4], floats: [1, -2, 3, -4] }],
    nodes: [
      { op: 'Add', inputs: ['x', 'b'], outputs: ['s'], name: '/add/Add' },
      { op: 'Relu', inputs: ['s'], outputs: ['y'], name: '/relu/Relu' },
    ],
  });
}
