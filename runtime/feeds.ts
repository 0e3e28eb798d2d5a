// Feed validation, on the JS side so that errors name the tensor and the dimension
// ("feeds.input_ids.dims[1] must be 128, got 64") before anything crosses into native code.
// Accepts our Tensor, objects shaped like onnxruntime-common's Tensor ({type, dims, data}), and
// DeviceTensors (which only a session on a CUDA device can take).

import type { TensorSpec } from '../compiler/artifact/format.js';
import { DeviceTensor } from './device-tensor.js';
import { feedError } from './errors.js';
import { dataLength, DTYPES, isTensorDType, Tensor, toTensorDType, type OrtTensorType, type TensorData, type TensorDType } from './tensor.js';

/** What `session.run` accepts per input. */
export type FeedTensor =
  | Tensor
  | DeviceTensor
  | { readonly type: OrtTensorType | TensorDType; readonly dims: readonly number[]; readonly data: TensorData }
  | { readonly dtype: TensorDType | OrtTensorType; readonly dims: readonly number[]; readonly data: TensorData };

export type Feeds = Readonly<Record<string, FeedTensor>>;

const shapeText = (dims: readonly unknown[]) => `[${dims.join(',')}]`;

/** Validates `feeds` against the model's inputs and returns their data (or device tensors) in input order. */
export function orderFeeds(feeds: unknown, inputs: readonly TensorSpec[]): (TensorData | DeviceTensor)[] {
  const names = inputs.map((i) => i.name).join(', ');
  if (feeds === null || typeof feeds !== 'object' || Array.isArray(feeds)) {
    throw feedError('type', `feeds must be an object mapping input names (${names}) to tensors`);
  }
  for (const key of Object.keys(feeds)) {
    if (!inputs.some((i) => i.name === key)) throw feedError('type', `feeds.${key} is not an input of the model (inputs: ${names})`);
  }
  return inputs.map((spec) => checkFeed((feeds as Record<string, unknown>)[spec.name], spec, names));
}

function checkDims(where: string, dims: readonly unknown[], spec: TensorSpec): void {
  if (dims.length !== spec.shape.length) {
    throw feedError('range', `${where}.dims must have rank ${spec.shape.length} (${shapeText(spec.shape)}), got ${shapeText(dims)}`);
  }
  spec.shape.forEach((want, k) => {
    if (dims[k] !== want) throw feedError('range', `${where}.dims[${k}] must be ${want}, got ${String(dims[k])}`);
  });
}

function checkFeed(value: unknown, spec: TensorSpec, names: string): TensorData | DeviceTensor {
  const where = `feeds.${spec.name}`;
  if (value === undefined) throw feedError('type', `${where} is missing (the model's inputs: ${names})`);
  if (value === null || typeof value !== 'object') throw feedError('type', `${where} must be a Tensor, got ${value === null ? 'null' : typeof value}`);
  if (value instanceof DeviceTensor) {
    if (value.disposed) throw feedError('type', `${where} is a DeviceTensor that has been disposed`);
    if (value.dtype !== spec.dtype) throw feedError('type', `${where} must have dtype ${spec.dtype}, got a ${value.dtype} DeviceTensor`);
    checkDims(where, value.dims, spec);
    // Inputs fixed at compile time (spec.values) are not compared: the data is on the device.
    return value;
  }
  const v = value as { dtype?: unknown; type?: unknown; dims?: unknown; data?: unknown };
  const typeName = v instanceof Tensor ? v.dtype : (v.dtype ?? v.type);
  const dtype = toTensorDType(typeName);
  if (!isTensorDType(spec.dtype)) throw feedError('type', `${where}: dtype ${spec.dtype} is not supported by the runtime yet`);
  if (!dtype) throw feedError('type', `${where} has no known dtype (got ${JSON.stringify(typeName)}); expected ${spec.dtype}`);
  if (dtype !== spec.dtype) throw feedError('type', `${where} must have dtype ${spec.dtype} (${DTYPES[spec.dtype].ort}), got ${dtype}`);
  const expected = DTYPES[dtype].array;
  if (!(v.data instanceof expected)) {
    const got = ArrayBuffer.isView(v.data) || Array.isArray(v.data) ? (v.data as object).constructor.name : typeof v.data;
    throw feedError('type', `${where}.data must be a ${expected.name} for dtype ${dtype}, got ${got}`);
  }
  if (!Array.isArray(v.dims)) throw feedError('type', `${where}.dims must be an array`);
  checkDims(where, v.dims as unknown[], spec);
  const count = dataLength(dtype, spec.shape.reduce((a, d) => a * d, 1));
  if (v.data.length !== count) {
    const unit = DTYPES[dtype].packedBits ? 'bytes' : 'elements';
    throw feedError('range', `${where}.data has ${v.data.length} ${unit}, dims ${shapeText(spec.shape)} need ${count}`);
  }
  if (spec.values) {
    const got = Array.from(v.data as ArrayLike<number | bigint>, Number);
    if (got.some((x, i) => x !== spec.values![i])) {
      throw feedError('range', `${where} must equal ${shapeText(spec.values)}, the value the model was compiled for (--value), got ${shapeText(got)}`);
    }
  }
  return v.data;
}
