// Small models of every benchmark family, from both torch exporters: the reference interpreter's
// outputs match onnxruntime-node's within 1e-4 relative (max abs difference / max abs reference).

import { describe, expect, it } from 'vitest';
import { interpret } from '../../compiler/interpreter/interpret.js';
import { importOnnxFile } from '../../compiler/onnx/import.js';
import { fixturePath, listFixtures, materializeFixture } from '../helpers/fixture-models.js';
import { relativeError, toTensorData } from '../helpers/compare.js';
import { makeInputs, runOrt } from '../helpers/ort.js';

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
