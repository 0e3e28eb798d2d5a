import { describe, expect, it } from 'vitest';
import { DiagnosticError } from '../../compiler/diagnostics.js';
import { interpret } from '../../compiler/interpreter/interpret.js';
import { TensorData } from '../../compiler/ir/tensor.js';
import { importOnnx } from '../../compiler/onnx/import.js';
import { addReluModel, buildModel } from '../helpers/onnx-builder.js';

function importError(bytes: Uint8Array): DiagnosticError {
  try {
    importOnnx(bytes, { path: 'm.onnx' });
  } catch (e) {
    if (e instanceof DiagnosticError) return e;
    throw e;
  }
  throw new Error('import succeeded');
}

describe('ONNX import', () => {
  it('keeps symbolic dims, node names as locations, and runs on the interpreter', () => {
    const { graph } = importOnnx(addReluModel());
    expect(graph.inputs[0]!.type.shape).toEqual(['batch', 4]);
    expect(graph.nodes.map((n) => n.loc)).toEqual(['/add/Add', '/relu/Relu']);
    expect(graph.outputs[0]!.type).toEqual({ dtype: 'f32', shape: ['batch', 4] });
    const out = interpret(graph, { x: TensorData.fromValues('f32', [2, 4], [0, 0, 0, 0, 1, 1, 1, 1]) });
    expect(Array.from(out.get('y')!.values)).toEqual([1, 0, 3, 0, 2, 0, 4, 0]);
  });

  it('orders nodes written out of order', () => {
    const { graph } = importOnnx(buildModel({
      inputs: [{ name: 'x', dims: [2] }],
      outputs: [{ name: 'z' }],
      nodes: [
        { op: 'Relu', inputs: ['y'], outputs: ['z'], name: 'second' },
        { op: 'Neg', inputs: ['x'], outputs: ['y'], name: 'first' },
      ],
    }));
    expect(graph.nodes.map((n) => n.loc)).toEqual(['first', 'second']);
  });

  it('reports truncated files and random bytes as invalid models', () => {
    const good = addReluModel();
    expect(importError(good.subarray(0, good.length - 7)).code).toBe('MCPC1002');
    let seed = 7;
    const noise = Uint8Array.from({ length: 4096 }, () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 24));
    const e = importError(noise);
    expect(['MCPC1002', 'MCPC1004']).toContain(e.code);
    expect(importError(new Uint8Array()).message).toMatch(/empty/);
  });

  it('reports an unknown opset, an unknown op, a missing initializer and a cycle by name', () => {
    const opset = importError(buildModel({ inputs: [{ name: 'x', dims: [1] }], outputs: [{ name: 'x' }], nodes: [], opset: 99 }));
    expect(opset.code).toBe('MCPC1005');
    expect(opset.message).toMatch(/opset 99/);

    const op = importError(buildModel({ inputs: [{ name: 'x', dims: [1] }], outputs: [{ name: 'y' }], nodes: [{ op: 'FrobnicateX', inputs: ['x'], outputs: ['y'], name: 'n7' }] }));
    expect(op.message).toBe("unsupported op FrobnicateX (opset 17) at node 'n7'");
    // Ops that only passes make (channels-last forms) are not ONNX ops.
    const internal = importError(buildModel({ inputs: [{ name: 'x', dims: [1, 2, 2, 1] }], outputs: [{ name: 'y' }], nodes: [{ op: 'NhwcMaxPool', inputs: ['x'], outputs: ['y'], name: 'p', attrs: { kernel_shape: [1, 1] } }] }));
    expect(internal.message).toBe("unsupported op NhwcMaxPool (opset 17) at node 'p'");

    const custom = importError(buildModel({
      inputs: [{ name: 'x', dims: [1] }], outputs: [{ name: 'y' }],
      nodes: [{ op: 'FusedGelu', domain: 'com.microsoft', inputs: ['x'], outputs: ['y'], name: 'g' }],
      opsetImports: [{ domain: '', version: 17 }, { domain: 'com.microsoft', version: 1 }],
    }));
    expect(custom.message).toMatch(/unsupported op com\.microsoft\.FusedGelu \(opset 1\) at node 'g'/);

    const missing = importError(buildModel({ inputs: [{ name: 'x', dims: [4] }], outputs: [{ name: 'y' }], nodes: [{ op: 'Add', inputs: ['x', 'bias'], outputs: ['y'], name: '/fc/Add' }] }));
    expect(missing.code).toBe('MCPC2004');
    expect(missing.message).toBe("node '/fc/Add' reads 'bias', which no node, input or initializer defines");

    const cycle = importError(buildModel({
      inputs: [{ name: 'x', dims: [1] }], outputs: [{ name: 'b' }],
      nodes: [
        { op: 'Add', inputs: ['x', 'b'], outputs: ['a'], name: 'A' },
        { op: 'Relu', inputs: ['a'], outputs: ['b'], name: 'B' },
      ],
    }));
    expect(cycle.code).toBe('MCPC2005');
    expect(cycle.message).toMatch(/cycle through node '(A|B)'/);
  });

  it('names the node and the reason for an invalid use of an op', () => {
    const e = importError(buildModel({
      inputs: [{ name: 'a', dims: [2, 3] }, { name: 'b', dims: [4, 5] }], outputs: [{ name: 'y' }],
      nodes: [{ op: 'Add', inputs: ['a', 'b'], outputs: ['y'], name: '/bad/Add' }],
    }));
    expect(e.code).toBe('MCPC2007');
    expect(e.message).toMatch(/node '\/bad\/Add' \(Add\): shapes \[2,3\] and \[4,5\] do not broadcast/);
  });

  it('refuses subgraph ops with a diagnostic', () => {
    const bytes = buildModel({ inputs: [{ name: 'c', elemType: 9, dims: [] }], outputs: [{ name: 'y' }], nodes: [{ op: 'If', inputs: ['c'], outputs: ['y'], name: 'branch' }] });
    const e = importError(bytes);
    expect(['MCPC2001', 'MCPC2003']).toContain(e.code);
    expect(e.message).toMatch(/If/);
  });
});
