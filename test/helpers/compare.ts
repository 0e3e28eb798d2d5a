// Comparing tensors in tests: the relative error the project reports everywhere
// (max abs difference / max abs reference), and onnxruntime values as IR tensors.

import type { DType } from '../../compiler/ir/dtype.js';
import { TensorData } from '../../compiler/ir/tensor.js';
import { toIrDtype, type TensorValue } from './ort.js';

/** max |a - b| / max |b| */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < actual.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i]! - expected[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  return diff / (scale || 1);
}

export function toTensorData(v: TensorValue): TensorData {
  const dtype = toIrDtype(v.dtype) as DType;
  const data = v.data instanceof BigInt64Array ? Float64Array.from(v.data, Number) : Float64Array.from(v.data as ArrayLike<number>);
  return TensorData.fromValues(dtype, v.dims, data);
}
