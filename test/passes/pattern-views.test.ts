// Property test of the strided-view algebra (compiler/passes/pattern-views.ts): random chains of
// movement ops run on the reference interpreter over x[i] = i; wherever movementView gives a view,
// every element must be x[offset + sum(idx * strides)]. A reshape merging dims that a transpose
// separated must give no view.

import { describe, expect, it } from 'vitest';
import { interpret } from '../../compiler/interpreter/interpret.js';
import { attr, Attrs, Graph, type Node, type Value } from '../../compiler/ir/graph.js';
import { TensorData } from '../../compiler/ir/tensor.js';
import { contiguousView, movementView, reshapeView, transposeView, type View } from '../../compiler/passes/pattern-views.js';

function rng(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n) => ((s = (s * 1664525 + 1013904223) >>> 0) % n);
}

const ints = (g: Graph, v: number[]) => g.addConstant('c', TensorData.fromValues('i64', [v.length], v));

/** Appends one random movement op reading `x`; returns the value the chain continues from. */
function step(g: Graph, x: Value, r: (n: number) => number): Value {
  const dims = x.type.shape as number[];
  const add = (op: string, inputs: Value[], shapes: number[][], attrs = new Attrs()): Node =>
    g.addNode({ op, inputs, attrs, outputTypes: shapes.map((shape) => ({ dtype: 'f64', shape })), loc: `${op}_${g.nodes.length}` });
  const axis = r(dims.length);
  switch (r(6)) {
    case 0: {
      const perm = dims.map((_, i) => i);
      for (let i = perm.length - 1; i > 0; i--) {
        const j = r(i + 1);
        [perm[i], perm[j]] = [perm[j]!, perm[i]!];
      }
      return add('Transpose', [x], [perm.map((p) => dims[p]!)], new Attrs([['perm', attr.ints(perm)]])).outputs[0]!;
    }
    case 1: {
      // Split a dim by one of its divisors, or merge it with the next one.
      const d = dims[axis]!;
      const divisors = Array.from({ length: d }, (_, i) => i + 1).filter((a) => d % a === 0 && a > 1 && a < d);
      let shape: number[];
      if (divisors.length && r(2)) {
        const a = divisors[r(divisors.length)]!;
        shape = [...dims.slice(0, axis), a, d / a, ...dims.slice(axis + 1)];
      } else if (axis + 1 < dims.length) shape = [...dims.slice(0, axis), d * dims[axis + 1]!, ...dims.slice(axis + 2)];
      else shape = [...dims, 1];
      return add('Reshape', [x, ints(g, shape)], [shape]).outputs[0]!;
    }
    case 2: {
      const ones = dims.map((d, i) => (d === 1 ? i : -1)).filter((i) => i >= 0);
      if (ones.length && r(2)) {
        const at = ones[r(ones.length)]!;
        return add('Squeeze', [x, ints(g, [at])], [dims.filter((_, i) => i !== at)]).outputs[0]!;
      }
      const at = r(dims.length + 1);
      return add('Unsqueeze', [x, ints(g, [at])], [[...dims.slice(0, at), 1, ...dims.slice(at)]]).outputs[0]!;
    }
    case 3: {
      const d = dims[axis]!;
      const start = r(d);
      const count = 1 + r(d - start);
      const shape = dims.map((e, i) => (i === axis ? count : e));
      return add('Slice', [x, ints(g, [start]), ints(g, [start + count]), ints(g, [axis])], [shape]).outputs[0]!;
    }
    case 4: {
      if (dims.length < 2) return x;
      const index = g.addConstant('i', TensorData.fromValues('i64', [], [r(dims[axis]!)]));
      return add('Gather', [x, index], [dims.filter((_, i) => i !== axis)], new Attrs([['axis', attr.int(axis)]])).outputs[0]!;
    }
    default: {
      const d = dims[axis]!;
      if (d < 2) return x;
      const a = 1 + r(d - 1);
      const n = add('Split', [x, ints(g, [a, d - a])], [a, d - a].map((s) => dims.map((e, i) => (i === axis ? s : e))), new Attrs([['axis', attr.int(axis)]]));
      return n.outputs[r(2)]!;
    }
  }
}

describe('pattern-views', () => {
  it('predicts every element of random movement chains', () => {
    let checked = 0;
    for (let seed = 1; seed <= 150; seed++) {
      const r = rng(seed);
      const g = new Graph();
      const x = g.addInput('x', { dtype: 'f64', shape: [[2, 3, 4], [1, 6, 4], [4, 1, 3, 2]][seed % 3]! });
      let v: Value = x;
      for (let k = 0; k < 5; k++) v = step(g, v, r);
      g.outputs = g.nodes.flatMap((n) => n.outputs);
      const n0 = (x.type.shape as number[]).reduce((a, b) => a * b, 1);
      const got = interpret(g, { x: TensorData.fromValues('f64', x.type.shape as number[], Float64Array.from({ length: n0 }, (_, i) => i)) });
      const views = new Map<Value, View | undefined>([[x, contiguousView(x.type.shape as number[])]]);
      for (const n of g.nodes) {
        n.outputs.forEach((o, i) => {
          const inView = views.get(n.inputs[0]!);
          const view = inView && movementView(n, i, inView);
          views.set(o, view);
          if (!view) return;
          const t = got.get(o.name)!;
          expect(view.dims).toEqual(t.dims);
          const idx = view.dims.map(() => 0);
          for (let e = 0; e < t.size; e++) {
            const at = view.offset + idx.reduce((acc, q, j) => acc + q * view.strides[j]!, 0);
            expect(t.values[e], `${n.op} ${o.name} element ${e} (seed ${seed})`).toBe(at);
            for (let j = idx.length - 1; j >= 0 && ++idx[j]! === view.dims[j]; j--) idx[j] = 0;
            checked++;
          }
        });
      }
    }
    expect(checked).toBeGreaterThan(1000);
  });
  it('refuses to merge dims that are not adjacent in memory', () => {
    const t = transposeView(contiguousView([2, 3, 4]), [0, 2, 1]);
    expect(reshapeView(t, [2, 12])).toBeUndefined();
    expect(reshapeView(t, [2, 2, 2, 3])).toEqual({ offset: 0, dims: [2, 2, 2, 3], strides: [12, 2, 1, 4] });
  });
});
