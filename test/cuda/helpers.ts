// Helpers of the cuda generator tests: compile a model for --target cuda, run the plan on the CPU
// emulator and compare every output with the reference interpreter on the same optimized graph.

import { expect } from 'vitest';
import type { Kernel, KernelPlan, Precision } from '../../compiler/artifact/format.js';
import { interpret } from '../../compiler/interpreter/interpret.js';
import type { DType } from '../../compiler/ir/dtype.js';
import { TensorData } from '../../compiler/ir/tensor.js';
import { buildModel, type ModelSpec } from '../helpers/onnx-builder.js';
import { mulberry32 } from '../helpers/fixture-models.js';
import { compileCuda, launchProblems, runEmulated, writeGpuCase, type CudaCompiled } from './harness.js';

export const ONNX = { f32: 1, u8: 2, i8: 3, i32: 6, i64: 7, bool: 9, f16: 10, f64: 11, bf16: 16 } as const;

export const numel = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);

/** Uniform values in [-scale, scale) from a seeded PRNG. */
export function uniform(n: number, seed: number, scale = 1): number[] {
  const r = mulberry32(seed);
  return Array.from({ length: n }, () => (r() * 2 - 1) * scale);
}

/** A float initializer of random values. */
export function init(name: string, dims: number[], seed: number, scale = 1) {
  return { name, dims, floats: uniform(numel(dims), seed, scale) };
}

/** Random feeds for the graph inputs of `c` by dtype: floats in [-2, 2), bools, small integers. */
export function randomFeeds(c: CudaCompiled, seed = 100, overrides: Record<string, TensorData> = {}): Record<string, TensorData> {
  const feeds: Record<string, TensorData> = {};
  c.graph.inputs.forEach((v, i) => {
    if (overrides[v.name]) {
      feeds[v.name] = overrides[v.name]!;
      return;
    }
    const dims = v.type.shape as number[];
    const dtype = v.type.dtype;
    const u = uniform(numel(dims), seed + i, 2);
    const values = dtype === 'bool' ? u.map((x) => (x > 0 ? 1 : 0)) : dtype.startsWith('i') || dtype.startsWith('u') ? u.map((x) => Math.round(x * 3)) : u;
    feeds[v.name] = TensorData.fromValues(dtype, dims, values);
  });
  return feeds;
}

/**
 * Largest |got - want| over the largest |want| (finite elements), or Infinity when the NaN/inf
 * pattern differs; exact comparison for integer and bool tensors (0 or Infinity).
 */
export function maxRelativeError(got: TensorData, want: TensorData): number {
  expect(got.dims).toEqual(want.dims);
  const a = got.values;
  const b = want.values;
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (Number.isNaN(y) || !Number.isFinite(y)) {
      if (!(Object.is(x, y) || (Number.isNaN(x) && Number.isNaN(y)))) return Infinity;
      continue;
    }
    if (!Number.isFinite(x)) return Infinity;
    num = Math.max(num, Math.abs(x - y));
    den = Math.max(den, Math.abs(y));
  }
  const exact = !(got.dtype === 'f32' || got.dtype === 'f16' || got.dtype === 'bf16' || got.dtype === 'f64');
  if (exact) return num === 0 ? 0 : Infinity;
  return num / (den || 1);
}

/** Errors measured by the tests, by case and output (printed at the end of a file). */
export const MEASURED: Record<string, number> = {};

export interface RunResult {
  compiled: CudaCompiled;
  errors: Record<string, number>;
}

/**
 * Compiles, emulates and compares every output with the interpreter; checks launch limits. Models
 * that are f16/bf16 themselves are compiled with the fp32 pipeline (`precision` selects the
 * lower-precision pass, which converts f32 models).
 */
export function checkModel(
  name: string, model: Uint8Array | ModelSpec,
  options: { precision?: Precision; tol?: number; feeds?: Record<string, TensorData>; seed?: number; path?: string; compiled?: CudaCompiled } = {},
): RunResult {
  const bytes = model instanceof Uint8Array ? model : buildModel(model);
  const compiled = options.compiled ?? compileCuda(bytes, { precision: options.precision, path: options.path });
  expect(launchProblems(compiled.plan)).toEqual([]);
  const feeds = randomFeeds(compiled, options.seed ?? 100, options.feeds);
  const want = interpret(compiled.graph, feeds);
  const inputs = compiled.graph.inputs.map((v) => feeds[v.name]!);
  const got = runEmulated(compiled.plan, compiled.weights, inputs);
  const errors: Record<string, number> = {};
  compiled.graph.outputs.forEach((o, i) => {
    const e = maxRelativeError(got[i]!, want.get(o.name)!);
    errors[o.name] = e;
    MEASURED[`${name}: ${o.name}`] = e;
  });
  const tol = options.tol ?? 1e-4;
  // MCPC_CUDA_GPU_BUNDLE=dir also writes the case for a run on a real GPU (test/cuda/device).
  const bundle = process.env.MCPC_CUDA_GPU_BUNDLE;
  if (bundle) writeGpuCase(bundle, name, compiled, inputs, compiled.graph.outputs.map((o) => want.get(o.name)!), got, tol);
  const bad = Object.entries(errors).filter(([, e]) => !(e <= tol));
  expect(bad, `${name}: outputs over ${tol}`).toEqual([]);
  return { compiled, errors };
}

/** Kernels of a plan as [op, prologue ops, epilogue ops] for assertions and messages. */
/** The generated body of kernel `entry` in the plan's source. */
export function kernelText(plan: KernelPlan, entry: string): string {
  const src = plan.cuda!.source;
  const at = src.indexOf(`void ${entry}(`);
  expect(at, entry).toBeGreaterThan(-1);
  return src.slice(at, src.indexOf('\n}\n', at));
}

export function kernelSummary(plan: KernelPlan): [string, string[], string[]][] {
  return plan.kernels.map((k: Kernel) => [k.op, (k.prologue ?? []).map((s) => s.op), (k.epilogue ?? []).map((s) => s.op)]);
}

/** Prints the largest error of each case measured in this file (vitest shows it with the file's output). */
export function printMeasured(prefix: string): void {
  const byCase = new Map<string, number>();
  for (const [key, e] of Object.entries(MEASURED)) {
    if (!key.startsWith(prefix)) continue;
    const c = key.slice(0, key.indexOf(': '));
    byCase.set(c, Math.max(byCase.get(c) ?? 0, e));
  }
  console.log([...byCase].map(([c, e]) => `${c}: max relative error ${e.toExponential(2)}`).join('\n'));
}

export function tensor(dtype: DType, dims: number[], values: number[]): TensorData {
  return TensorData.fromValues(dtype, dims, values);
}

/** The eager BERT attention pattern (as torch exports it) over q, k, v [B,H,S,D] and an additive mask [B,1,1,S]. */
export function bertPattern(B: number, H: number, S: number, D: number): ModelSpec {
  return {
    inputs: [
      { name: 'q', dims: [B, H, S, D] }, { name: 'k', dims: [B, H, S, D] }, { name: 'v', dims: [B, H, S, D] },
      { name: 'mask', dims: [B, 1, 1, S] },
    ],
    outputs: [{ name: 'y' }],
    initializers: [{ name: 'c', dims: [], floats: [Math.sqrt(D)] }],
    nodes: [
      { op: 'Transpose', inputs: ['k'], outputs: ['kt'], attrs: { perm: [0, 1, 3, 2] }, name: '/attn/Transpose' },
      { op: 'MatMul', inputs: ['q', 'kt'], outputs: ['s'], name: '/attn/MatMul' },
      { op: 'Div', inputs: ['s', 'c'], outputs: ['sd'], name: '/attn/Div' },
      { op: 'Add', inputs: ['sd', 'mask'], outputs: ['sm'], name: '/attn/Add' },
      { op: 'Softmax', inputs: ['sm'], outputs: ['p'], attrs: { axis: -1 }, name: '/attn/Softmax' },
      { op: 'MatMul', inputs: ['p', 'v'], outputs: ['y'], name: '/attn/MatMul_1' },
    ],
  };
}
