// onnxruntime-node as the reference runtime in tests, plus deterministic model inputs described by
// `<model>.inputs.json` files (written by scripts/export-models.py and scripts/make-fixtures.py).

import { InferenceSession, Tensor } from 'onnxruntime-node';
import { toOrtDtype, type TensorValue, type TypedArray } from '../../scripts/model-inputs.js';

export { makeInputs, readInputsJson, toIrDtype, toOrtDtype, type InputSpec, type InputsJson, type TensorValue, type TypedArray } from '../../scripts/model-inputs.js';

export interface RunOrtOptions {
  /** onnxruntime graph optimization level; default 'all' (what ORT does out of the box). */
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /** Output names to fetch; default all. */
  outputs?: string[];
}

/** Runs a model on onnxruntime-node (CPU, one intra-op and one inter-op thread, sequential). */
export async function runOrt(
  modelPath: string,
  feeds: Record<string, TensorValue>,
  options: RunOrtOptions = {},
): Promise<Record<string, TensorValue>> {
  const session = await InferenceSession.create(modelPath, {
    executionProviders: ['cpu'],
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: options.graphOptimizationLevel ?? 'all',
    logSeverityLevel: 3,
  });
  try {
    const ortFeeds: Record<string, Tensor> = {};
    for (const [name, v] of Object.entries(feeds)) {
      const dtype = toOrtDtype(v.dtype);
      // ORT takes bool tensors as Uint8Array.
      ortFeeds[name] = new Tensor(dtype as Tensor.Type, v.data as Tensor.DataType, v.dims);
    }
    const results = options.outputs ? await session.run(ortFeeds, options.outputs) : await session.run(ortFeeds);
    const out: Record<string, TensorValue> = {};
    for (const [name, t] of Object.entries(results)) {
      if (t.type === 'string') throw new Error(`${modelPath}: output ${name} is a string tensor`);
      out[name] = { dtype: t.type, dims: [...t.dims], data: t.data as TypedArray };
    }
    return out;
  } finally {
    await session.release();
  }
}

