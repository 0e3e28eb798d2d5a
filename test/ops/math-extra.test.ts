// CumProd, Det and BitCast. Expected values are from onnx.reference.ReferenceEvaluator
// (onnx 1.23.1) or exact bit patterns.

import { describe, expect, it } from 'vitest';
import { attr } from '../../compiler/ir/graph.js';
import { TensorData } from '../../compiler/ir/tensor.js';
import { f32, i64, inferOp, runOp } from '../helpers/op-harness.js';

describe('CumProd', () => {
  it('scans exclusively in reverse', () => {
    const [y] = runOp('CumProd', [f32([2, 3], [1, 2, 3, 4, 5, 6]), i64([], [1])], { exclusive: attr.int(1), reverse: attr.int(1) });
    expect(Array.from(y!.values)).toEqual([6, 3, 1, 30, 6, 1]);
  });
  it('keeps symbolic shapes and checks the axis', () => {
    expect(inferOp('CumProd', [{ type: { dtype: 'i32', shape: ['N', 4] } }, { type: { dtype: 'i64', shape: [] } }])[0]!.shape).toEqual(['N', 4]);
    expect(() => runOp('CumProd', [f32([2], [1, 2]), i64([], [3])])).toThrow(/axis 3 is out of range for rank 1/);
  });
});

describe('Det', () => {
  it('computes batched determinants', () => {
    const [y] = runOp('Det', [f32([2, 3, 3], [2, 1, 0, 1, 3, 1, 0, 1, 4, 0, 1, 2, 1, 0, 3, 4, -3, 8])]);
    expect(y!.values[0]).toBeCloseTo(18, 5);
    expect(y!.values[1]).toBeCloseTo(-2, 5);
  });
  it('types symbolic batches and rejects non-square matrices', () => {
    expect(inferOp('Det', [{ type: { dtype: 'f32', shape: ['B', 'n', 'n'] } }])[0]!.shape).toEqual(['B']);
    expect(() => inferOp('Det', [{ type: { dtype: 'f32', shape: [2, 3] } }])).toThrow(/square matrices, got \[2,3\]/);
  });
});

describe('BitCast', () => {
  it('reinterprets float bits as integers', () => {
    const [y] = runOp('BitCast', [f32([2], [1, -2])], { to: attr.int(6) });
    expect(y!.dtype).toBe('i32');
    expect(Array.from(y!.values)).toEqual([0x3f800000, -0x40000000]);
    const [b] = runOp('BitCast', [TensorData.fromValues('bool', [2], [1, 0])], { to: attr.int(2) });
    expect(Array.from(b!.values)).toEqual([1, 0]);
  });
  it('rejects a change of element size', () => {
    expect(inferOp('BitCast', [{ type: { dtype: 'f64', shape: ['N'] } }], { to: attr.int(7) })[0]).toEqual({ dtype: 'i64', shape: ['N'] });
    expect(() => inferOp('BitCast', [{ type: { dtype: 'f32', shape: [2] } }], { to: attr.int(7) })).toThrow(/from f32 \(32 bits\) to i64 \(64 bits\)/);
  });
});
