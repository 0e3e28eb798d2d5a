// The compiler's ONNX schema (compiler/onnx/schema.ts) against the onnx-proto package (IR 8):
// every field both declare must have the same number and wire type, so a model written with one
// reads the same with the other. Fields newer than IR 8 (node metadata, overloads, function
// attribute defaults) are only in ours: onnx-proto silently drops them.

import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { ModelProtoType } from '../../compiler/onnx/schema.js';

const require = createRequire(import.meta.url);
const { onnx } = require('onnx-proto') as { onnx: { ModelProto: { fromObject(o: unknown): unknown; encode(m: unknown): { finish(): Uint8Array }; decode(b: Uint8Array): unknown; toObject(m: unknown, o: unknown): unknown } } };

const tensor = (name: string) => ({
  dims: [2, 3], dataType: 1, floatData: [1, 2, 3, 4, 5, 6], int32Data: [7, -8], stringData: [Buffer.from('s')],
  int64Data: [9, -10], name, docString: 'doc', rawData: Buffer.from([1, 2, 3]), externalData: [{ key: 'location', value: 'w.bin' }],
  dataLocation: 1, doubleData: [1.5], uint64Data: [11], segment: { begin: 1, end: 2 },
});

const tensorType = (elemType: number) => ({ tensorType: { elemType, shape: { dim: [{ dimValue: 4, denotation: 'N' }, { dimParam: 'batch' }] } }, denotation: 'TENSOR' });

/** A model that sets every IR 8 field at least once. */
const FULL_MODEL = {
  irVersion: 8, producerName: 'p', producerVersion: '1', domain: 'd', modelVersion: 3, docString: 'model doc',
  opsetImport: [{ domain: '', version: 17 }, { domain: 'com.example', version: 1 }],
  metadataProps: [{ key: 'k', value: 'v' }],
  graph: {
    name: 'g', docString: 'graph doc',
    node: [{
      input: ['x', ''], output: ['y'], name: 'n', opType: 'Op', domain: 'com.example', docString: 'node doc',
      attribute: [
        { name: 'f', type: 1, f: 0.5, docString: 'a' }, { name: 'i', type: 2, i: -3 }, { name: 's', type: 3, s: Buffer.from('str') },
        { name: 't', type: 4, t: tensor('at') }, { name: 'floats', type: 6, floats: [1.5, 2.5] }, { name: 'ints', type: 7, ints: [1, -2] },
        { name: 'strings', type: 8, strings: [Buffer.from('a')] }, { name: 'tensors', type: 9, tensors: [tensor('t2')] },
        { name: 'ref', type: 2, refAttrName: 'outer' },
        { name: 'sp', type: 11, sparseTensor: { values: tensor('v'), indices: tensor('ix'), dims: [5] } },
        { name: 'tp', type: 13, tp: tensorType(7) }, { name: 'tps', type: 14, typeProtos: [tensorType(1)] },
      ],
    }],
    initializer: [tensor('w')],
    sparseInitializer: [{ values: tensor('sv'), indices: tensor('si'), dims: [3, 3] }],
    input: [{ name: 'x', type: tensorType(1), docString: 'in' }],
    output: [{ name: 'y', type: { sequenceType: { elemType: tensorType(7) } } }],
    valueInfo: [
      { name: 'm', type: { mapType: { keyType: 7, valueType: tensorType(1) } } },
      { name: 'o', type: { optionalType: { elemType: tensorType(1) } } },
      { name: 's', type: { sparseTensorType: { elemType: 1, shape: { dim: [{ dimValue: 2 }] } } } },
    ],
  },
  functions: [{
    name: 'F', domain: 'com.example', input: ['a'], output: ['b'], attribute: ['alpha'], docString: 'fn',
    node: [{ input: ['a'], output: ['b'], opType: 'Relu' }], opsetImport: [{ domain: '', version: 17 }],
  }],
};

const options = { longs: Number, bytes: Array, defaults: false, arrays: false, oneofs: false, enums: Number };

describe('ONNX schema', () => {
  it('reads what onnx-proto writes, field for field', () => {
    const bytes = onnx.ModelProto.encode(onnx.ModelProto.fromObject(FULL_MODEL)).finish();
    const theirs = onnx.ModelProto.toObject(onnx.ModelProto.decode(bytes), options);
    const ours = ModelProtoType.toObject(ModelProtoType.decode(bytes), options);
    expect(ours).toEqual(theirs);
  });

  it('writes what onnx-proto reads, field for field', () => {
    const bytes = ModelProtoType.encode(ModelProtoType.fromObject(FULL_MODEL)).finish();
    const theirs = onnx.ModelProto.toObject(onnx.ModelProto.decode(bytes), options);
    const ours = ModelProtoType.toObject(ModelProtoType.decode(bytes), options);
    expect(theirs).toEqual(ours);
  });

  it('keeps fields newer than IR 8 that onnx-proto drops', () => {
    const model = {
      ...FULL_MODEL,
      irVersion: 10,
      graph: { ...FULL_MODEL.graph, node: [{ ...FULL_MODEL.graph.node[0], overload: 'v2', metadataProps: [{ key: 'pkg.torch.onnx.stack_trace', value: 'x' }] }] },
      functions: [{ ...FULL_MODEL.functions[0], attributeProto: [{ name: 'beta', type: 1, f: 2 }] }],
    };
    const bytes = ModelProtoType.encode(ModelProtoType.fromObject(model)).finish();
    type Decoded = { graph: { node: Record<string, unknown>[] }; functions: Record<string, unknown>[] };
    const ours = ModelProtoType.decode(bytes) as unknown as Decoded;
    expect(ours.graph.node[0]!['overload']).toBe('v2');
    expect(ours.graph.node[0]!['metadataProps']).toHaveLength(1);
    expect(ours.functions[0]!['attributeProto']).toHaveLength(1);
    const theirs = onnx.ModelProto.decode(bytes) as Decoded;
    expect(theirs.graph.node[0]!['metadataProps']).toBeUndefined();
    expect(theirs.functions[0]!['attributeProto']).toBeUndefined();
  });
});
