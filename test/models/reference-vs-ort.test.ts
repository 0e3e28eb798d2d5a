// Small models of every benchmark family, from both torch exporters: the reference interpreter's
// outputs match onnxruntime-node's within 1e-4 relative (max abs difference / max abs reference).

import { describe, expect, it } from 'vitest';
import { interpret } from '../../compiler/interpreter/interpret.js';
import type { DType } from '../../compiler/ir/dtype.js';
import { TensorData } from '../../compiler/ir/tensor.js';
import { importOnnxFile } from '../../compiler/onnx/import.js';
import { fixturePath, listFixtures, materializeFixture } from '../helpers/fixture-models.js';
import { makeInputs, runOrt, toIrDtype, type TensorValue } from '../helpers/ort.js';

function toTensorData(v: TensorValue): TensorData {
  const dtype = toIrDtype(v.dtype) as DType;
  const data = v.data instanceof BigInt64Array ? Float64Array.from(v.data, Number) : Float64Array.from(v.data as ArrayLike<number>);
  return TensorData.fromValues(dtype, v.dims, data);
}

/** max |a - b| / max |b| */
export function relativeError(actual: Float64Array, expected: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < actual.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i]! - expected[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  return diff / (scale || 1);
}

describe('reference interpreter vs onnxruntime on small models', () => {
  for (const fixture of listFixtures()) {
    it(fixture.name, async () => {
      const model = await materializeFixture(fixture.name);
      const feeds = makeInputs(fixturePath(fixture.name, '.inputs.json'));
      const expected = await runOrt(model, feeds);
      const { graph } = importOnnxFile(model);
      const actual = interpret(graph, new Map(Object.entries(feeds).map(([k, v]) => [k, toTensorData(v)])));
      for (const [name, ref] of Object.entries(expected)) {
        const got = actual.get(name);
        expect(got, `output ${name}`).toBeDefined();
        expect(got!.dims).toEqual(ref.dims);
        const err = relativeError(got!.values, ref.data as ArrayLike<number>);
        console.log(`${fixture.name} ${name}: relative error ${err.toExponential(2)}`);
        expect(err, `${fixture.name} output ${name}`).toBeLessThanOrEqual(1e-4);
      }
    });
  }
});
