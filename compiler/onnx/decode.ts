// Decodes ONNX ModelProto bytes and checks the envelope (IR version, opset imports) before any
// graph is built, so that truncated files, random bytes and unknown opsets are reported as such.

import { diagnostic } from '../diagnostics.js';
import { ModelProtoType, TensorProtoType, int64, type OnnxModel, type OnnxTensor } from './schema.js';

/** Newest ONNX IR version and default-domain opset this compiler reads (onnx 1.23). */
export const MAX_IR_VERSION = 14;
export const MAX_ONNX_OPSET = 28;
export const MIN_IR_VERSION = 3;

export function decodeModel(bytes: Uint8Array, path: string): OnnxModel {
  if (bytes.length === 0) throw diagnostic('notOnnx', { path, reason: 'the file is empty' });
  let model: OnnxModel;
  try {
    model = ModelProtoType.decode(bytes) as unknown as OnnxModel;
  } catch (e) {
    throw diagnostic('notOnnx', { path, reason: describeDecodeError(e as Error) });
  }
  const ir = int64(model.irVersion);
  if (ir === 0 && !model.graph) throw diagnostic('notOnnx', { path, reason: 'it has neither ir_version nor a graph' });
  if (ir < MIN_IR_VERSION || ir > MAX_IR_VERSION) {
    throw diagnostic('unsupportedIrVersion', { version: ir, max: MAX_IR_VERSION });
  }
  if (!model.graph) throw diagnostic('noGraph', { path });
  return model;
}

export function decodeTensorProto(bytes: Uint8Array, path: string): OnnxTensor {
  try {
    return TensorProtoType.decode(bytes) as unknown as OnnxTensor;
  } catch (e) {
    throw diagnostic('notOnnx', { path, reason: describeDecodeError(e as Error) });
  }
}

function describeDecodeError(e: Error): string {
  const m = e.message;
  if (/index out of range/.test(m)) return `the protobuf data ends early (truncated file?): ${m}`;
  if (/invalid wire type/.test(m)) return `the protobuf data is malformed (${m})`;
  return `protobuf decoding failed: ${m}`;
}

/** Opset versions by domain, with 'ai.onnx' folded into ''. Checks the default domain's version if imported. */
export function readOpsets(model: OnnxModel): Record<string, number> {
  const opsets: Record<string, number> = {};
  for (const o of model.opsetImport ?? []) {
    const domain = o.domain === 'ai.onnx' ? '' : o.domain ?? '';
    opsets[domain] = int64(o.version);
  }
  const v = opsets[''];
  if (v !== undefined && (v < 1 || v > MAX_ONNX_OPSET)) {
    throw diagnostic('unsupportedOpset', { version: v, domain: 'ai.onnx', range: `1 to ${MAX_ONNX_OPSET}` });
  }
  return opsets;
}
