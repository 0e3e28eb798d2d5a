// batch-sibling-matmuls on the cuda target: Q/K/V projections of one input become one batched
// MatMul (stacked weights, per-batch bias), and the three results are views at offsets into its
// output (leading-axis Slices and Reshapes, no copies); on the emulator against the interpreter.

import { describe, expect, it } from 'vitest';
import { interpret } from '../../compiler/interpreter/interpret.js';
import { contiguousSliceOffset } from '../../compiler/plan/emit-plan.js';
import { buildModel, type ModelSpec } from '../helpers/onnx-builder.js';
import { calibrateRanges } from '../../cli/calibrate.js';
import { compileCuda, runEmulated } from './harness.js';
import { checkModel, init, maxRelativeError, randomFeeds } from './helpers.js';

/** x [B, S, E] -> Relu (an activation in the arena, as a LayerNorm's output is) -> Q/K/V projections (+ bias, V without one) -> Attention (3-D packed heads). */
function qkvModel(B: number, S: number, H: number, D: number): ModelSpec {
  const E = H * D;
  return {
    inputs: [{ name: 'x', dims: [B, S, E] }],
    outputs: [{ name: 'y', dims: [B, S, E] }],
    initializers: [
      init('wq', [E, E], 1, 0.2), init('bq', [E], 2, 0.1), init('wk', [E, E], 3, 0.2), init('bk', [E], 4, 0.1), init('wv', [E, E], 5, 0.2),
    ],
    nodes: [
      { op: 'Relu', inputs: ['x'], outputs: ['xr'], name: '/in/Relu' },
      { op: 'MatMul', inputs: ['xr', 'wq'], outputs: ['qm'], name: '/q/MatMul' },
      { op: 'Add', inputs: ['qm', 'bq'], outputs: ['q'], name: '/q/Add' },
      { op: 'MatMul', inputs: ['xr', 'wk'], outputs: ['km'], name: '/k/MatMul' },
      { op: 'Add', inputs: ['bk', 'km'], outputs: ['k'], name: '/k/Add' },
      { op: 'MatMul', inputs: ['xr', 'wv'], outputs: ['v'], name: '/v/MatMul' },
      { op: 'Attention', inputs: ['q', 'k', 'v'], outputs: ['y'], name: '/attn', attrs: { q_num_heads: H, kv_num_heads: H } },
    ],
    opset: 23,
  };
}

describe('batch-sibling-matmuls', () => {
  for (const [precision, B, tol] of [['fp16', 1, 5e-3], ['fp16', 3, 5e-3], ['fp32', 2, 1e-4]] as const) {
    it(`Q/K/V become one batched MatMul whose slices are views (${precision}, batch ${B})`, () => {
      const bytes = buildModel(qkvModel(B, 32, 2, 32));
      const { compiled } = checkModel(`qkv ${precision} b${B}`, bytes, { compiled: compileCuda(bytes, { precision }), tol });
      const plan = compiled.plan;
      const contractions = plan.kernels.filter((k) => k.op === 'MatMul');
      expect(contractions).toHaveLength(1);
      expect(plan.kernels.filter((k) => k.op === 'Slice' || k.op === 'Reshape')).toEqual([]);
      const mm = contractions[0]!;
      const out = plan.slots[mm.outputs[0]!]!;
      expect(out.shape).toEqual([3, B * 32, 64]);
      // Q, K and V: views of the product at offsets 0, 1 and 2 slices of B*S*E elements.
      const attention = plan.kernels.find((k) => k.op === 'Attention')!;
      const part = (B * 32 * 64 * (precision === 'fp16' ? 2 : 4));
      expect(attention.inputs.slice(0, 3).map((id) => [plan.slots[id]!.view?.of, plan.slots[id]!.index - out.index])).toEqual([
        [out.id, 0], [out.id, part], [out.id, 2 * part],
      ]);
      // The bias rides in cuBLASLt's epilogue, per batch (V's is zero).
      expect(mm.cuda!.libraryEpilogue?.bias).toBeDefined();
      // Same function as the graph without the pass (float32 interpreter on both).
      const plain = compileCuda(bytes, { precision: 'fp32', skip: ['batch-sibling-matmuls'] });
      const merged = compileCuda(bytes, { precision: 'fp32' });
      const feeds = randomFeeds(plain);
      expect(maxRelativeError(interpret(merged.graph, feeds).get('y')!, interpret(plain.graph, feeds).get('y')!)).toBeLessThan(1e-12);
    });
  }

  it('leaves a projection with an elementwise reader (its epilogue) and weights of another shape alone', () => {
    const model = qkvModel(1, 8, 2, 8);
    model.initializers!.push({ name: 'half', dims: [], floats: [0.5] }, init('wo', [16, 8], 9, 0.2));
    model.nodes[5] = { op: 'MatMul', inputs: ['xr', 'wv'], outputs: ['vm'], name: '/v/MatMul' };
    model.nodes.splice(6, 0, { op: 'Mul', inputs: ['vm', 'half'], outputs: ['v'], name: '/v/Scale' });
    model.nodes.push({ op: 'MatMul', inputs: ['xr', 'wo'], outputs: ['o'], name: '/o/MatMul' });
    model.outputs.push({ name: 'o' });
    const c = compileCuda(buildModel(model), { precision: 'fp16' });
    const shapes = c.plan.kernels.filter((k) => k.op === 'MatMul').map((k) => c.plan.slots[k.outputs[0]!]!.shape);
    expect(shapes).toEqual([[2, 8, 16], [1, 8, 16], [1, 8, 8]]);
  });

  it('leaves members the fp16 range check keeps in float32 out of the batch', async () => {
    // Q's weights make |q| ~1e5, above float16: Q stays a float32 MatMul of its own; K and V batch.
    const model = qkvModel(1, 32, 2, 32);
    model.initializers![0] = init('wq', [64, 64], 1, 2e4);
    const bytes = buildModel(model);
    const { ranges } = await calibrateRanges({ bytes });
    expect(ranges.get('q')!).toBeGreaterThan(2 ** 15);
    const c = compileCuda(bytes, { precision: 'fp16', valueRanges: ranges });
    const shapes = c.plan.kernels.filter((k) => k.op === 'MatMul').map((k) => [c.plan.slots[k.outputs[0]!]!.shape, c.plan.slots[k.outputs[0]!]!.dtype]);
    expect(shapes).toEqual(expect.arrayContaining([[[2, 32, 64], 'f16'], [[1, 32, 64], 'f32']]));
    expect(shapes).toHaveLength(2);
    const fp32 = compileCuda(bytes, { precision: 'fp32' });
    const feeds = randomFeeds(fp32);
    const want = interpret(fp32.graph, feeds).get('y')!;
    const got = runEmulated(c.plan, c.weights, c.graph.inputs.map((v) => feeds[v.name]!))[0]!;
    expect(maxRelativeError(got, want)).toBeLessThan(1e-2);
  });

  it('finds the contiguous run a Slice selects', () => {
    const model: ModelSpec = {
      inputs: [{ name: 'x', dims: [1, 3, 4, 5] }, { name: 'y', dims: [2, 3, 4] }],
      outputs: [{ name: 'a' }, { name: 'b' }, { name: 'c' }, { name: 'd' }, { name: 'e' }, { name: 'f' }, { name: 'h' }],
      initializers: [
        { name: 's1', dims: [1], int64s: [1] }, { name: 'e2', dims: [1], int64s: [2] }, { name: 'ax1', dims: [1], int64s: [1] },
        { name: 'ax2', dims: [1], int64s: [2] }, { name: 'sm1', dims: [1], int64s: [-1] }, { name: 'big', dims: [1], int64s: [99] },
        { name: 'axm3', dims: [1], int64s: [-3] }, { name: 'two', dims: [1], int64s: [2] },
      ],
      nodes: [
        { op: 'Slice', inputs: ['x', 's1', 'e2', 'ax1'], outputs: ['a'], name: 'a' },   // rows 1 of axis 1: offset 20
        { op: 'Slice', inputs: ['x', 'sm1', 'big', 'ax1'], outputs: ['b'], name: 'b' }, // last of axis 1: offset 40
        { op: 'Slice', inputs: ['x', 's1', 'e2', 'ax2'], outputs: ['c'], name: 'c' },   // axis 2 under a 3-wide axis: strided
        { op: 'Slice', inputs: ['x', 's1', 'big', 'ax1'], outputs: ['d'], name: 'd' },  // rows 1.. of axis 1: offset 20
        { op: 'Slice', inputs: ['x', 'sm1', 'big', 'axm3'], outputs: ['e'], name: 'e' }, // axis -3 (= 1): offset 40
        { op: 'Slice', inputs: ['x', 's1', 'big', 'ax1', 'two'], outputs: ['f'], name: 'f' }, // step 2: strided
        { op: 'Slice', inputs: ['y', 's1', 'e2', 'ax1'], outputs: ['h'], name: 'h' },   // axis 1 under a 2-wide axis 0: strided
      ],
    };
    const c = compileCuda(buildModel(model), { precision: 'fp32', skip: ['fuse'] });
    const byName = new Map(c.graph.nodes.map((n) => [n.loc, contiguousSliceOffset(n)]));
    expect([...byName]).toEqual([['a', 20], ['b', 40], ['c', undefined], ['d', 20], ['e', 40], ['f', undefined], ['h', undefined]]);
  });
});
