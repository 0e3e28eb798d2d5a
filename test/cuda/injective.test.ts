// Generated data-movement kernels on the CPU emulator against the reference interpreter: copies of
// every byte width, Transpose, the gathers with negative indices read at run time, Slice with
// constant starts/ends/axes/steps (negative steps too), Concat, Split, Expand, Tile and Pad in all
// four modes.

import { afterAll, describe, expect, it } from 'vitest';
import type { ModelSpec, NodeSpec } from '../helpers/onnx-builder.js';
import { checkModel, init, kernelSummary, ONNX, printMeasured, tensor } from './helpers.js';

const ints = (name: string, values: number[]) => ({ name, dims: [values.length], int64s: values });

function movementZoo(): ModelSpec {
  const nodes: NodeSpec[] = [
    { op: 'Transpose', inputs: ['x'], outputs: ['t0231'], attrs: { perm: [0, 2, 3, 1] } },
    { op: 'Transpose', inputs: ['z'], outputs: ['trev'] },
    { op: 'Reshape', inputs: ['x', 'shape'], outputs: ['reshaped'] },
    { op: 'Flatten', inputs: ['z'], outputs: ['flat'], attrs: { axis: 0 } },
    { op: 'Unsqueeze', inputs: ['m', 'ax0'], outputs: ['unsq'] },
    { op: 'Slice', inputs: ['x', 'starts', 'ends', 'axes', 'steps'], outputs: ['sliced'] },
    { op: 'Slice', inputs: ['z', 'sstart', 'send'], outputs: ['sliced2'] },
    { op: 'Concat', inputs: ['z', 'w', 'z'], outputs: ['cat1'], attrs: { axis: 1 } },
    { op: 'Concat', inputs: ['z', 'z'], outputs: ['cat0'], attrs: { axis: 0 } },
    { op: 'Split', inputs: ['x', 'split'], outputs: ['sp0', 'sp1', 'sp2'], attrs: { axis: 3 } },
    { op: 'Expand', inputs: ['col', 'eshape'], outputs: ['expanded'] },
    { op: 'Tile', inputs: ['x', 'reps'], outputs: ['tiled'] },
    { op: 'Pad', inputs: ['z', 'pads', 'pval'], outputs: ['padc'], attrs: { mode: 'constant' } },
    { op: 'Pad', inputs: ['z', 'pads'], outputs: ['pade'], attrs: { mode: 'edge' } },
    { op: 'Pad', inputs: ['z', 'pads'], outputs: ['padr'], attrs: { mode: 'reflect' } },
    { op: 'Pad', inputs: ['z', 'pads'], outputs: ['padw'], attrs: { mode: 'wrap' } },
    { op: 'Pad', inputs: ['x', 'crop'], outputs: ['padcrop'], attrs: { mode: 'constant' } },
  ];
  return {
    inputs: [
      { name: 'x', dims: [2, 3, 4, 10] }, { name: 'z', dims: [3, 7] }, { name: 'col', dims: [3, 1] },
      { name: 'm', elemType: ONNX.bool, dims: [3, 5] },
    ],
    outputs: nodes.flatMap((n) => n.outputs).map((name) => ({ name })),
    initializers: [
      init('w', [3, 2], 7), { name: 'pval', dims: [], floats: [-9] },
      ints('shape', [6, 40]), ints('ax0', [0]),
      ints('starts', [1, -1, 0]), ints('ends', [3, -100, 10]), ints('axes', [1, 3, 2]), ints('steps', [1, -3, 2]),
      ints('sstart', [1, 2]), ints('send', [100, -1]),
      ints('split', [2, 3, 5]), ints('eshape', [2, 3, 4]), ints('reps', [2, 1, 1, 3]),
      ints('pads', [1, 2, 2, 3]), ints('crop', [0, -1, 1, -2, 0, 0, -1, 1]),
    ],
    nodes: nodes.map((n, i) => ({ ...n, name: `/move/${n.op}_${i}` })),
    opset: 18,
  };
}

function gatherZoo(): ModelSpec {
  const nodes: NodeSpec[] = [
    { op: 'Gather', inputs: ['table', 'ids'], outputs: ['emb'], attrs: { axis: 0 } },
    { op: 'Gather', inputs: ['x', 'ids'], outputs: ['g1'], attrs: { axis: 1 } },
    { op: 'Gather', inputs: ['x', 'one'], outputs: ['gscalar'], attrs: { axis: -1 } },
    { op: 'GatherElements', inputs: ['x', 'eidx'], outputs: ['ge'], attrs: { axis: 1 } },
    { op: 'GatherND', inputs: ['x', 'nd'], outputs: ['gnd'] },
    { op: 'GatherND', inputs: ['x', 'nd1'], outputs: ['gnd1'], attrs: { batch_dims: 1 } },
  ];
  return {
    inputs: [
      { name: 'table', dims: [10, 8] }, { name: 'x', dims: [2, 5, 6] },
      { name: 'ids', elemType: ONNX.i64, dims: [2, 3] }, { name: 'one', elemType: ONNX.i64, dims: [] },
      { name: 'eidx', elemType: ONNX.i64, dims: [2, 3, 6] }, { name: 'nd', elemType: ONNX.i64, dims: [3, 2] },
      { name: 'nd1', elemType: ONNX.i64, dims: [2, 4, 1] },
    ],
    outputs: nodes.map((n) => ({ name: n.outputs[0]! })),
    nodes: nodes.map((n, i) => ({ ...n, name: `/gather/${n.op}_${i}` })),
  };
}

afterAll(() => printMeasured('injective'));

describe('cuda injective kernels', () => {
  it('move data exactly: copies, Transpose, Slice, Concat, Split, Expand, Tile, Pad', () => {
    const { compiled } = checkModel('injective movement', movementZoo(), { tol: 0 });
    const ops = kernelSummary(compiled.plan).map(([op]) => op);
    for (const op of ['Transpose', 'Reshape', 'Slice', 'Concat', 'Split', 'Expand', 'Tile', 'Pad']) expect(ops).toContain(op);
    // Copies move 16, 4 or 1 bytes at a time by the byte length: 960 B, 84 B, 15 B here.
    const src = compiled.plan.cuda!.source;
    expect(src).toMatch(/const uint4\* __restrict__ p0, uint4\* __restrict__ p1/);
    expect(src).toMatch(/const mcpc_u32\* __restrict__ p0, mcpc_u32\* __restrict__ p1/);
    expect(src).toMatch(/const mcpc_u8\* __restrict__ p0, mcpc_u8\* __restrict__ p1/);
  });

  it('gather with indices read at run time, negative ones counting from the end', () => {
    const feeds = {
      ids: tensor('i64', [2, 3], [0, -1, 3, 9, -10, 2]),
      one: tensor('i64', [], [-2]),
      eidx: tensor('i64', [2, 3, 6], Array.from({ length: 36 }, (_, i) => ((i * 7) % 10) - 5)),
      nd: tensor('i64', [3, 2], [0, 4, 1, -1, -2, 0]),
      nd1: tensor('i64', [2, 4, 1], [4, -5, 0, 2, 1, 3, -1, 0]),
    };
    checkModel('injective gather', gatherZoo(), { tol: 0, feeds: { ...feeds, ids: tensor('i64', [2, 3], [0, -1, 3, 4, -5, 2]) } });
    checkModel('injective gather table', {
      inputs: [{ name: 'table', dims: [10, 8] }, { name: 'ids', elemType: ONNX.i64, dims: [2, 3] }],
      outputs: [{ name: 'emb' }],
      nodes: [{ op: 'Gather', inputs: ['table', 'ids'], outputs: ['emb'], name: '/embeddings/Gather' }],
    }, { tol: 0, feeds: { ids: feeds.ids } });
  });
});
