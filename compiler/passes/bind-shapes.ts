// bind-shapes: applies --shape bindings (input_ids=1x128) to graph inputs. Each symbolic dim of a
// bound input fixes that symbol everywhere (another input using "batch" gets the same size), then
// types are re-inferred so that the whole graph sees static sizes. Binding a static dim to another
// size, an unknown input or a wrong rank is a diagnostic.
// --value bindings fix an input's contents (a shape tensor, as TensorRT requires for those): its
// readers read a constant instead, the input stays in the signature with the value recorded, and
// the runtime checks that feeds equal it.

import { diagnostic, q } from '../diagnostics.js';
import type { Graph } from '../ir/graph.js';
import { TensorData } from '../ir/tensor.js';
import type { Dim } from '../ir/types.js';
import { inferShapes } from './infer-shapes.js';
import { bumpStat, type Pass } from './pass.js';

export function bindShapes(g: Graph, bindings: ReadonlyMap<string, readonly number[]>): number {
  const symbols = new Map<string, number>();
  for (const [name, dims] of bindings) {
    const input = g.inputs.find((v) => v.name === name);
    if (!input) {
      throw diagnostic('badShapeBinding', { binding: `${name}=${dims.join('x')}`, reason: `the model has no input ${q(name)} (inputs: ${g.inputs.map((v) => v.name).join(', ')})` });
    }
    if (dims.length !== input.type.shape.length) {
      throw diagnostic('badShapeBinding', { binding: `${name}=${dims.join('x')}`, reason: `input ${q(name)} has rank ${input.type.shape.length} ([${input.type.shape.join(',')}])` });
    }
    input.type.shape.forEach((d, k) => {
      const want = dims[k]!;
      if (typeof d === 'number') {
        if (d !== want) throw diagnostic('badShapeBinding', { binding: `${name}=${dims.join('x')}`, reason: `dim ${k} of ${q(name)} is fixed at ${d}` });
      } else {
        const prev = symbols.get(d);
        if (prev !== undefined && prev !== want) {
          throw diagnostic('badShapeBinding', { binding: `${name}=${dims.join('x')}`, reason: `symbol ${d} is already bound to ${prev}` });
        }
        symbols.set(d, want);
      }
    });
  }
  let bound = 0;
  for (const input of g.inputs) {
    const shape: Dim[] = input.type.shape.map((d) => (typeof d === 'string' && symbols.has(d) ? symbols.get(d)! : d));
    if (shape.some((d, i) => d !== input.type.shape[i])) bound++;
    input.type = { dtype: input.type.dtype, shape };
  }
  if (bound > 0) inferShapes(g);
  return bound;
}

/** Replaces the readers of each value-bound input by a constant holding its value. */
export function bindValues(g: Graph, values: ReadonlyMap<string, readonly number[]>): number {
  let bound = 0;
  for (const [name, numbers] of values) {
    const input = g.inputs.find((v) => v.name === name);
    const binding = `${name}=${numbers.join(',')}`;
    if (!input) throw diagnostic('badShapeBinding', { binding, reason: `the model has no input ${q(name)}` });
    const shape = input.type.shape;
    // A rank-0 or rank-1 input takes its shape from the value; higher ranks must be static.
    const dims = shape.length === 0 ? [] : shape.length === 1 ? [numbers.length] : shape.map((d) => (typeof d === 'number' ? d : -1));
    if (dims.some((d) => d < 0) || dims.reduce((a, d) => a * d, 1) !== numbers.length) {
      throw diagnostic('badShapeBinding', { binding, reason: `input ${q(name)} has shape [${shape.join(',')}], which ${numbers.length} values do not fill` });
    }
    if (shape.length === 1 && typeof shape[0] === 'number' && shape[0] !== numbers.length) {
      throw diagnostic('badShapeBinding', { binding, reason: `input ${q(name)} has ${shape[0]} elements` });
    }
    const data = TensorData.fromValues(input.type.dtype, dims, numbers);
    input.type = { dtype: input.type.dtype, shape: [...data.dims] };
    const constant = g.addConstant(`${name}.value`, data);
    for (const n of g.nodes) n.inputs = n.inputs.map((v) => (v === input ? constant : v));
    g.boundValues.set(input, data);
    bound++;
  }
  return bound;
}

export const bindShapesPass: Pass = {
  name: 'bind-shapes',
  summary: 'fix symbolic input dims to the sizes given with --shape',
  run(g, ctx) {
    const v = bindValues(g, ctx.valueBindings);
    const n = bindShapes(g, ctx.shapeBindings);
    if (v > 0 && n === 0) inferShapes(g);
    bumpStat(ctx, 'bind-shapes', 'inputs', n + v);
    return n + v > 0;
  },
};
