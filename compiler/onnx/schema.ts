// The ONNX protobuf schema as protobufjs reflection, declared here field by field (ONNX IR version
// 14, onnx 1.23). The onnx-proto package stops at IR 8 and pins protobufjs 6: it drops fields that
// current exporters write (node metadata, function value_info and overloads) and does not know the
// newer data types, so the compiler decodes with protobufjs 7 and this schema. A test checks that
// every field both schemas declare has the same number and type.

import protobuf from 'protobufjs';

type Fields = Record<string, { id: number; type: string; rule?: 'repeated'; options?: Record<string, unknown> }>;
const rep = (id: number, type: string) => ({ id, type, rule: 'repeated' as const });
const packed = (id: number, type: string) => ({ id, type, rule: 'repeated' as const, options: { packed: true } });

const StringStringEntryProto: Fields = { key: { id: 1, type: 'string' }, value: { id: 2, type: 'string' } };

const OperatorSetIdProto: Fields = { domain: { id: 1, type: 'string' }, version: { id: 2, type: 'int64' } };

const TensorProto: Fields = {
  dims: packed(1, 'int64'),
  dataType: { id: 2, type: 'int32' },
  segment: { id: 3, type: 'Segment' },
  floatData: packed(4, 'float'),
  int32Data: packed(5, 'int32'),
  stringData: rep(6, 'bytes'),
  int64Data: packed(7, 'int64'),
  name: { id: 8, type: 'string' },
  docString: { id: 12, type: 'string' },
  rawData: { id: 9, type: 'bytes' },
  externalData: rep(13, 'StringStringEntryProto'),
  dataLocation: { id: 14, type: 'int32' },
  doubleData: packed(10, 'double'),
  uint64Data: packed(11, 'uint64'),
  metadataProps: rep(16, 'StringStringEntryProto'),
};

const SparseTensorProto: Fields = {
  values: { id: 1, type: 'TensorProto' },
  indices: { id: 2, type: 'TensorProto' },
  dims: packed(3, 'int64'),
};

const AttributeProto: Fields = {
  name: { id: 1, type: 'string' },
  refAttrName: { id: 21, type: 'string' },
  docString: { id: 13, type: 'string' },
  type: { id: 20, type: 'int32' },
  f: { id: 2, type: 'float' },
  i: { id: 3, type: 'int64' },
  s: { id: 4, type: 'bytes' },
  t: { id: 5, type: 'TensorProto' },
  g: { id: 6, type: 'GraphProto' },
  sparseTensor: { id: 22, type: 'SparseTensorProto' },
  tp: { id: 14, type: 'TypeProto' },
  floats: packed(7, 'float'),
  ints: packed(8, 'int64'),
  strings: rep(9, 'bytes'),
  tensors: rep(10, 'TensorProto'),
  graphs: rep(11, 'GraphProto'),
  sparseTensors: rep(23, 'SparseTensorProto'),
  typeProtos: rep(15, 'TypeProto'),
};

const ValueInfoProto: Fields = {
  name: { id: 1, type: 'string' },
  type: { id: 2, type: 'TypeProto' },
  docString: { id: 3, type: 'string' },
  metadataProps: rep(4, 'StringStringEntryProto'),
};

const NodeProto: Fields = {
  input: rep(1, 'string'),
  output: rep(2, 'string'),
  name: { id: 3, type: 'string' },
  opType: { id: 4, type: 'string' },
  domain: { id: 7, type: 'string' },
  overload: { id: 8, type: 'string' },
  attribute: rep(5, 'AttributeProto'),
  docString: { id: 6, type: 'string' },
  metadataProps: rep(9, 'StringStringEntryProto'),
};

const GraphProto: Fields = {
  node: rep(1, 'NodeProto'),
  name: { id: 2, type: 'string' },
  initializer: rep(5, 'TensorProto'),
  sparseInitializer: rep(15, 'SparseTensorProto'),
  docString: { id: 10, type: 'string' },
  input: rep(11, 'ValueInfoProto'),
  output: rep(12, 'ValueInfoProto'),
  valueInfo: rep(13, 'ValueInfoProto'),
  metadataProps: rep(16, 'StringStringEntryProto'),
};

const FunctionProto: Fields = {
  name: { id: 1, type: 'string' },
  input: rep(4, 'string'),
  output: rep(5, 'string'),
  attribute: rep(6, 'string'),
  attributeProto: rep(11, 'AttributeProto'),
  node: rep(7, 'NodeProto'),
  docString: { id: 8, type: 'string' },
  opsetImport: rep(9, 'OperatorSetIdProto'),
  domain: { id: 10, type: 'string' },
  overload: { id: 13, type: 'string' },
  valueInfo: rep(12, 'ValueInfoProto'),
  metadataProps: rep(14, 'StringStringEntryProto'),
};

const ModelProto: Fields = {
  irVersion: { id: 1, type: 'int64' },
  opsetImport: rep(8, 'OperatorSetIdProto'),
  producerName: { id: 2, type: 'string' },
  producerVersion: { id: 3, type: 'string' },
  domain: { id: 4, type: 'string' },
  modelVersion: { id: 5, type: 'int64' },
  docString: { id: 6, type: 'string' },
  graph: { id: 7, type: 'GraphProto' },
  metadataProps: rep(14, 'StringStringEntryProto'),
  functions: rep(25, 'FunctionProto'),
};

const TypeProto = {
  oneofs: { value: { oneof: ['tensorType', 'sequenceType', 'mapType', 'optionalType', 'sparseTensorType', 'opaqueType'] } },
  fields: {
    tensorType: { id: 1, type: 'Tensor' },
    sequenceType: { id: 4, type: 'Sequence' },
    mapType: { id: 5, type: 'Map' },
    optionalType: { id: 9, type: 'Optional' },
    sparseTensorType: { id: 8, type: 'SparseTensor' },
    opaqueType: { id: 7, type: 'Opaque' },
    denotation: { id: 6, type: 'string' },
  },
  nested: {
    Tensor: { fields: { elemType: { id: 1, type: 'int32' }, shape: { id: 2, type: 'TensorShapeProto' } } },
    Sequence: { fields: { elemType: { id: 1, type: 'TypeProto' } } },
    Map: { fields: { keyType: { id: 1, type: 'int32' }, valueType: { id: 2, type: 'TypeProto' } } },
    Optional: { fields: { elemType: { id: 1, type: 'TypeProto' } } },
    SparseTensor: { fields: { elemType: { id: 1, type: 'int32' }, shape: { id: 2, type: 'TensorShapeProto' } } },
    Opaque: { fields: { domain: { id: 1, type: 'string' }, name: { id: 2, type: 'string' } } },
  },
};

const TensorShapeProto = {
  fields: { dim: rep(1, 'Dimension') },
  nested: {
    Dimension: {
      oneofs: { value: { oneof: ['dimValue', 'dimParam'] } },
      fields: { dimValue: { id: 1, type: 'int64' }, dimParam: { id: 2, type: 'string' }, denotation: { id: 3, type: 'string' } },
    },
  },
};

const root = protobuf.Root.fromJSON({
  nested: {
    onnx: {
      nested: {
        StringStringEntryProto: { fields: StringStringEntryProto },
        OperatorSetIdProto: { fields: OperatorSetIdProto },
        TensorProto: {
          fields: TensorProto,
          nested: { Segment: { fields: { begin: { id: 1, type: 'int64' }, end: { id: 2, type: 'int64' } } } },
        },
        SparseTensorProto: { fields: SparseTensorProto },
        AttributeProto: { fields: AttributeProto },
        ValueInfoProto: { fields: ValueInfoProto },
        NodeProto: { fields: NodeProto },
        GraphProto: { fields: GraphProto },
        FunctionProto: { fields: FunctionProto },
        ModelProto: { fields: ModelProto },
        TypeProto,
        TensorShapeProto,
      },
    },
  },
});

export const ModelProtoType = root.lookupType('onnx.ModelProto');
export const TensorProtoType = root.lookupType('onnx.TensorProto');
export const onnxSchemaRoot = root;

/** protobufjs decodes 64-bit integers as Long objects (or numbers when they fit). */
export type Int64 = number | { toNumber(): number };

export function int64(x: Int64 | null | undefined): number {
  if (x === null || x === undefined) return 0;
  return typeof x === 'number' ? x : x.toNumber();
}

// Plain shapes of the decoded messages (the fields the compiler reads).
export interface StringStringEntry { key: string; value: string }
export interface OnnxTensor {
  dims: Int64[]; dataType: number; floatData: number[]; int32Data: number[]; stringData: Uint8Array[];
  int64Data: Int64[]; name: string; rawData: Uint8Array; externalData: StringStringEntry[];
  dataLocation: number; doubleData: number[]; uint64Data: Int64[]; segment?: unknown;
}
export interface OnnxDimension { dimValue?: Int64; dimParam?: string; value?: 'dimValue' | 'dimParam' }
export interface OnnxTypeProto {
  tensorType?: { elemType: number; shape?: { dim: OnnxDimension[] } };
  value?: string;
}
export interface OnnxValueInfo { name: string; type?: OnnxTypeProto }
export interface OnnxAttribute {
  name: string; refAttrName: string; type: number; f: number; i: Int64; s: Uint8Array; t?: OnnxTensor; g?: OnnxGraph;
  floats: number[]; ints: Int64[]; strings: Uint8Array[]; tensors: OnnxTensor[]; graphs: OnnxGraph[];
  sparseTensor?: unknown; tp?: unknown;
}
export interface OnnxNode {
  input: string[]; output: string[]; name: string; opType: string; domain: string; overload: string;
  attribute: OnnxAttribute[];
}
export interface OnnxGraph {
  node: OnnxNode[]; name: string; initializer: OnnxTensor[]; sparseInitializer: unknown[];
  input: OnnxValueInfo[]; output: OnnxValueInfo[]; valueInfo: OnnxValueInfo[];
}
export interface OnnxOpsetId { domain: string; version: Int64 }
export interface OnnxFunction {
  name: string; domain: string; overload: string; input: string[]; output: string[]; attribute: string[];
  attributeProto: OnnxAttribute[]; node: OnnxNode[]; opsetImport: OnnxOpsetId[];
}
export interface OnnxModel {
  irVersion: Int64; opsetImport: OnnxOpsetId[]; producerName: string; producerVersion: string;
  graph?: OnnxGraph; functions: OnnxFunction[]; metadataProps: StringStringEntry[];
}
