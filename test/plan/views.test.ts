// View slots: a Reshape-like node of an arena value shares its input's arena bytes and runs no
// kernel; the shared buffer stays live until the last reader of any view of it.

import { describe, expect, it } from 'vitest';
import { buildModel } from '../helpers/onnx-builder.js';
import { compileBytes, randomFloats } from '../runtime/helpers.js';
import { expectNativeMatchesReference } from '../runtime/native-vs-reference.js';

// h1 = x @ w1 is viewed as [2,16] (Reshape) and read through that view after two more MatMuls, so
// a buffer freed at the Reshape would be overwritten by them. The Reshape of the graph input x, the
// Flatten that is a graph output and the chain ending in the output 'late' keep their copy kernels.
function viewsModel(): Uint8Array {
  return buildModel({
    opset: 17,
    inputs: [{ name: 'x', dims: [4, 8] }],
    outputs: [{ name: 'y', dims: [2, 16] }, { name: 'flat', dims: [4, 8] }, { name: 'late', dims: [32] }],
    initializers: [
      { name: 'w1', dims: [8, 8], floats: [...randomFloats(64, 1, 0.5)] },
      { name: 'w2', dims: [8, 8], floats: [...randomFloats(64, 2, 0.5)] },
      { name: 'shape', dims: [2], int64s: [2, 16] },
      { name: 'axes', dims: [1], int64s: [0] },
      { name: 'shapeFlat', dims: [1], int64s: [32] },
    ],
    nodes: [
      { op: 'MatMul', inputs: ['x', 'w1'], outputs: ['h1'], name: '/h1' },
      { op: 'Reshape', inputs: ['h1', 'shape'], outputs: ['v1'], name: '/view/Reshape' },
      { op: 'Unsqueeze', inputs: ['v1', 'axes'], outputs: ['v2'], name: '/view/Unsqueeze' },
      { op: 'MatMul', inputs: ['h1', 'w2'], outputs: ['h2'], name: '/h2' },
      { op: 'MatMul', inputs: ['h2', 'w2'], outputs: ['h3'], name: '/h3' },
      { op: 'Reshape', inputs: ['h3', 'shape'], outputs: ['r3'], name: '/h3/Reshape' },
      { op: 'Reshape', inputs: ['x', 'shape'], outputs: ['rx'], name: '/x/Reshape' },
      { op: 'Add', inputs: ['v1', 'r3'], outputs: ['s'], name: '/sum' },
      { op: 'Add', inputs: ['s', 'rx'], outputs: ['y'], name: '/y' },
      { op: 'Flatten', inputs: ['h2'], outputs: ['flat'], name: '/flat', attrs: { axis: 1 } },
      { op: 'Flatten', inputs: ['v2'], outputs: ['late2'], name: '/late/Flatten', attrs: { axis: 0 } },
      { op: 'Reshape', inputs: ['late2', 'shapeFlat'], outputs: ['late'], name: '/late/Reshape' },
    ],
  });
}

describe('view slots', () => {
  it('share their input arena bytes, run no kernel and keep the buffer live for their readers', async () => {
    const onnx = viewsModel();
    const { result } = compileBytes(onnx);
    const plan = result.emitted!.plan;
    const views = plan.slots.filter((s) => s.view);
    // /view/Reshape views h1; sink-reshapes runs /sum in h3's [4,8] shape, so it reads v1 through a
    // new view (/sum/rows) and /h3/Reshape views the sum. The Unsqueeze/Flatten/Reshape chain to the
    // graph output 'late' is one copy kernel (fuse-movement-chains), as an output must be.
    expect(views.flatMap((s) => s.view!.sources)).toEqual(['/view/Reshape', '/sum/rows', '/h3/Reshape']);
    for (const v of views) {
      const root = plan.slots[v.view!.of]!;
      expect(v.kind).toBe('arena');
      expect(root.kind).toBe('arena');
      expect(root.view).toBeUndefined();
      expect(v.index).toBe(root.index);
      expect(v.byteLength).toBe(root.byteLength);
    }
    const viewIds = new Set(views.map((s) => s.id));
    expect(plan.kernels.some((k) => k.outputs.some((o) => viewIds.has(o)))).toBe(false);
    // Every node is a kernel's or a view's source; the graph input's Reshape and the output's Flatten stay kernels.
    const sources = [...plan.kernels.flatMap((k) => k.sources), ...views.flatMap((s) => s.view!.sources)];
    for (const n of result.graph.nodes) expect(sources).toContain(n.loc);
    const kernelSources = plan.kernels.flatMap((k) => k.sources);
    expect(kernelSources).toContain('/x/Reshape');
    expect(kernelSources).toContain('/flat');
    await expectNativeMatchesReference(onnx, { x: { dtype: 'f32', dims: [4, 8], values: [...randomFloats(32, 3)] } });
  });
});
