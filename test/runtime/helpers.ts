// Helpers of the runtime tests: compile ONNX bytes to artifact bytes in memory, seeded inputs,
// and the test models (tiny-cnn, a MatMul chain that runs for a while, a model with a big arena).

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { artifactToBuffer } from '../../compiler/artifact/writer.js';
import { compileModel, type CompileResult } from '../../compiler/compile.js';
import { buildModel } from '../helpers/onnx-builder.js';
import { mulberry32 } from '../helpers/fixture-models.js';

export const TINY_CNN = resolve(import.meta.dirname, '../../examples/tiny-cnn.onnx');

export function compileBytes(onnx: Uint8Array, path?: string): { artifact: Buffer; result: CompileResult } {
  const result = compileModel({ bytes: onnx, ...(path ? { path } : {}) }, { target: 'cpu' });
  return { artifact: artifactToBuffer(result.artifact!), result };
}

export function compileTinyCnn(): { artifact: Buffer; result: CompileResult } {
  return compileBytes(readFileSync(TINY_CNN), TINY_CNN);
}

export function randomFloats(n: number, seed: number, scale = 1): Float32Array {
  const rand = mulberry32(seed);
  return Float32Array.from({ length: n }, () => (rand() * 2 - 1) * scale);
}

/** y = x @ W @ W ... (`depth` MatMuls), x: f32[n,n]; W is scaled so values stay O(1). */
export function matmulChainModel(n: number, depth: number): Uint8Array {
  const w = Array.from(randomFloats(n * n, 7, Math.sqrt(3 / n)));
  const nodes = Array.from({ length: depth }, (_, i) => ({
    op: 'MatMul', inputs: [i === 0 ? 'x' : `h${i}`, 'w'], outputs: [i === depth - 1 ? 'y' : `h${i + 1}`], name: `/chain/MatMul_${i}`,
  }));
  return buildModel({
    inputs: [{ name: 'x', dims: [n, n] }],
    outputs: [{ name: 'y', dims: [n, n] }],
    initializers: [{ name: 'w', dims: [n, n], floats: w }],
    nodes,
  });
}

/**
 * Cheap elementwise ops over f32[rows, 1024] values, so the arena is several times the input,
 * reduced to a small f32[rows, 1] output (so that a leak test measures native memory, not output
 * buffers waiting for the garbage collector).
 */
export function bigArenaModel(rows: number): Uint8Array {
  return buildModel({
    inputs: [{ name: 'x', dims: [rows, 1024] }],
    outputs: [{ name: 'y', dims: [rows, 1] }],
    initializers: [
      { name: 'b', dims: [1024], floats: Array.from(randomFloats(1024, 3)) },
      { name: 'axes', dims: [1], int64s: [1] },
    ],
    nodes: [
      { op: 'Add', inputs: ['x', 'b'], outputs: ['a'], name: '/add' },
      { op: 'Relu', inputs: ['a'], outputs: ['r'], name: '/relu' },
      { op: 'Mul', inputs: ['r', 'a'], outputs: ['m'], name: '/mul' },
      { op: 'Add', inputs: ['m', 'r'], outputs: ['s'], name: '/add2' },
      { op: 'ReduceSum', inputs: ['s', 'axes'], outputs: ['y'], name: '/sum', attrs: { keepdims: 1 } },
    ],
  });
}

/** Largest |a - b| relative to the largest |b|. */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return num / (den || 1);
}
