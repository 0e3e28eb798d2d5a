// The compiler driver: ONNX bytes -> IR -> pass pipeline -> kernel plan -> artifact bytes, with
// per-stage timings. The CLI and the tests call this; it never touches the file system for output.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Precision, Target } from './artifact/format.js';
import { writeArtifact, type ArtifactChunks } from './artifact/writer.js';
import { diagnostic } from './diagnostics.js';
import type { Graph } from './ir/graph.js';
import { importOnnx } from './onnx/import.js';
import { OPTIMIZER_PASSES, runPipeline, type Phase, type PipelineResult } from './passes/pipeline.js';
import type { Pass } from './passes/pass.js';
import { emitPlan, type EmittedPlan } from './plan/emit-plan.js';
import { checkCpuSupport } from './targets/cpu.js';
import { emitCudaCode } from './targets/cuda/index.js';

export const TARGETS: readonly Target[] = ['cpu', 'cuda'];
export const PRECISIONS: readonly Precision[] = ['fp32', 'tf32', 'fp16', 'bf16'];

/**
 * Targets whose executor runs fused kernels (prologue/epilogue steps, 'Elementwise' kernels). A
 * target that does not gets one kernel per node, and an artifact with fused kernels is refused.
 */
export const TARGET_RUNS_FUSED_KERNELS: Record<Target, boolean> = { cpu: true, cuda: true };

/**
 * Optimizer passes a target does not want. cpu: its Attention kernel runs bert-base's attention
 * about 4x slower than the decomposed MatMul/Softmax kernels (26 ms vs 6 ms per run, 2 threads,
 * MCPC_PROFILE), so the pattern stays decomposed there until that kernel is tuned; channels-last
 * rewrites for cuDNN's NHWC kernels (the cpu convolution kernels are NCHW); batch-sibling-matmuls
 * makes one batched MatMul out of the Q/K/V projections for one library call, and the cpu's
 * MatMul kernel gains nothing from that.
 */
export const TARGET_SKIPPED_PASSES: Record<Target, readonly string[]> = {
  cpu: ['fuse-attention', 'channels-last', 'pad-conv-channels', 'batch-sibling-matmuls'],
  // cuda: fp32/tf32 Attention runs the scalar row kernel (compiler/targets/cuda/attention.ts): it
  // reads keys uncoalesced, and bert-base ran far behind its cuBLASLt GEMMs with it, so attention
  // stays two batched GEMMs around a generated softmax there (fp16/bf16 plans fuse it; see
  // skippedPasses). The head-split and movement-chain rewrites run: they remove the
  // Reshape/Transpose copies around every projection (gpt2 fp16: 379 launches to 224), and
  // cuBLASLt runs the broadcast-batch MatMuls they leave as one strided-batched call.
  // pad-conv-channels runs on request (--enable-pass): on an H200 the padded RGB stem ran slower
  // than cuDNN's own choice for 3 channels (resnet50 fp16 at batch 64: 2.38 vs 2.16 ms, at batch 1
  // 0.486 vs 0.465 ms; mobilenet_v2 at batch 64 1.69 vs 1.66 ms) except mobilenet_v2 at batch 1
  // (0.315 vs 0.356 ms); the stem's large im2col workspace is handled at load instead (batch chunks
  // that fit the arena's free bytes, native/cuda/cudnn_conv.cc).
  cuda: ['fuse-attention', 'pad-conv-channels'],
};

/**
 * The passes skipped for a target, precision and batch (the largest leading dim of the bound
 * inputs; undefined: not known): TARGET_SKIPPED_PASSES, except that fp16/bf16 cuda plans run
 * fuse-attention, because their Attention gets the tensor-core kernel (attention-mma.ts: one
 * launch instead of two GEMMs, a softmax and the mask/scale kernels). fp32/tf32 keep it
 * decomposed: their Attention would be the scalar row kernel, slower than cuBLASLt's (TF32)
 * GEMMs; and above batch 1 they skip the head-split projections, whose per-head MatMuls broadcast
 * A over the heads there (gpt2 fp32 at batch 16: 20.3 vs 10.2 ms, bert at 32: 27.2 vs 19.1 ms).
 * In half precision the folded attention reads the projections as they are, and every batch runs
 * the same passes: on an H200 (CUDA graphs, inputs on the device) channels-last convolutions won
 * at batch 1 as at batch 64 once algorithms were chosen by GPU time (resnet50 0.49 vs 0.87 ms,
 * mobilenet_v2 0.33 vs 0.39 ms at batch 1; mobilenet_v2 1.71 vs 1.83 ms at batch 64), and
 * head-split projections ran gpt2 at batch 16 in 1.47 vs 1.52 ms.
 */
export function skippedPasses(target: Target, precision: Precision, batch?: number): readonly string[] {
  const skip = TARGET_SKIPPED_PASSES[target];
  if (target !== 'cuda') return skip;
  if (precision === 'fp16' || precision === 'bf16') return skip.filter((p) => p !== 'fuse-attention');
  return batch !== undefined && batch > 1 ? [...skip, 'fuse-projection-views'] : skip;
}

/** The largest leading dim of the graph's inputs once `shapes` binds them (undefined if none is known). */
function leadingBatch(graph: Graph, shapes: ReadonlyMap<string, readonly number[]> | undefined): number | undefined {
  let batch: number | undefined;
  for (const input of graph.inputs) {
    const bound = shapes?.get(input.name)?.[0];
    const d = bound ?? input.type.shape[0];
    if (typeof d === 'number') batch = Math.max(batch ?? 0, d);
  }
  return batch;
}

export interface CompileOptions {
  target?: Target;
  precision?: Precision;
  /** Input shapes from --shape, by input name. */
  shapes?: ReadonlyMap<string, readonly number[]>;
  /** Input contents fixed at compile time (--value), by input name. */
  values?: ReadonlyMap<string, readonly number[]>;
  /**
   * fp16: largest |x| of each float32 value on calibration inputs, by value name (calibrateRanges
   * in cli/calibrate.ts measures them); nodes whose values float16 cannot hold stay float32.
   */
  valueRanges?: ReadonlyMap<string, number>;
  printAfter?: readonly string[];
  print?: (text: string) => void;
  compileTo?: Phase;
  /** Run the IR verifier after every pass. */
  verify?: boolean;
  /** Optimizer passes not to run (--disable-pass), on top of what the target skips. */
  disablePasses?: readonly string[];
  /** Optimizer passes to run although the target, precision or batch would skip them (--enable-pass). */
  enablePasses?: readonly string[];
  /**
   * Run the optimizer (-O1, the default): pattern passes, and kernel fusion where the target's
   * executor runs fused kernels (TARGET_RUNS_FUSED_KERNELS). -O0: one kernel per imported node.
   */
  optimize?: boolean;
  onStage?: (stage: string) => void;
  onPass?: (pass: Pass, index: number, count: number) => void;
}

export interface CompileResult {
  graph: Graph;
  onnxNodeCount: number;
  reached: Phase;
  pipeline: PipelineResult;
  emitted?: EmittedPlan;
  artifact?: ArtifactChunks;
  /** Milliseconds per stage: import, passes, plan, write. */
  timings: Record<string, number>;
}

export interface ModelSource {
  bytes: Uint8Array;
  /** File path, for diagnostics and external data. */
  path?: string;
}

export function readModelFile(path: string): ModelSource {
  try {
    return { bytes: readFileSync(path), path };
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw diagnostic('fileUnreadable', { path, reason: err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'it is a directory' : err.message });
  }
}

export function compileModel(source: ModelSource, options: CompileOptions = {}): CompileResult {
  const target = options.target ?? 'cpu';
  const precision = options.precision ?? 'fp32';
  if (target === 'cpu' && precision !== 'fp32') throw diagnostic('badFlag', { reason: `--precision ${precision} is not available for --target cpu (use fp32)` });
  const optimize = options.optimize ?? true;
  for (const name of options.disablePasses ?? []) {
    if (!OPTIMIZER_PASSES.includes(name)) throw diagnostic('badFlag', { reason: `--disable-pass ${name}: only optimizer passes can be disabled (${OPTIMIZER_PASSES.join(', ')})` });
  }
  for (const name of options.enablePasses ?? []) {
    if (!OPTIMIZER_PASSES.includes(name)) throw diagnostic('badFlag', { reason: `--enable-pass ${name}: only optimizer passes can be enabled (${OPTIMIZER_PASSES.join(', ')})` });
    if (options.disablePasses?.includes(name)) throw diagnostic('badFlag', { reason: `--enable-pass ${name} and --disable-pass ${name} contradict each other` });
  }
  const timings: Record<string, number> = {};
  let t = performance.now();
  const lap = (stage: string) => {
    const now = performance.now();
    timings[stage] = now - t;
    t = now;
  };
  options.onStage?.('import');
  const imported = importOnnx(source.bytes, { path: source.path, baseDir: source.path ? dirname(source.path) : undefined });
  const graph = imported.graph;
  const onnxNodeCount = graph.nodes.length;
  lap('import');
  const skip = !optimize
    ? OPTIMIZER_PASSES
    : [
        ...skippedPasses(target, precision, leadingBatch(graph, options.shapes)).filter((p) => !options.enablePasses?.includes(p)),
        ...(options.optimize === undefined && !TARGET_RUNS_FUSED_KERNELS[target] ? ['fuse'] : []),
        ...(options.disablePasses ?? []),
      ];
  const pipeline = runPipeline(graph, {
    shapeBindings: options.shapes,
    valueBindings: options.values,
    floatStorage: precision === 'fp16' ? 'f16' : precision === 'bf16' ? 'bf16' : 'f32',
    ...(options.valueRanges ? { valueRanges: options.valueRanges } : {}),
    printAfter: options.printAfter,
    print: options.print,
    compileTo: options.compileTo,
    verify: options.verify,
    skip,
    onPass: options.onPass,
  });
  lap('passes');
  const result: CompileResult = { graph, onnxNodeCount, reached: pipeline.reached, pipeline, timings };
  if (options.compileTo && options.compileTo !== 'plan' && options.compileTo !== 'artifact') return result;
  options.onStage?.('plan');
  result.emitted = emitPlan(graph, target);
  if (!TARGET_RUNS_FUSED_KERNELS[target] && result.emitted.plan.kernels.some((k) => k.epilogue || k.prologue)) {
    throw diagnostic('badFlag', { reason: `-O1 (kernel fusion) is not available for --target ${target} yet: its executor does not run fused prologue/epilogue steps; use -O0 (see the fused IR with --print-after=fuse)` });
  }
  result.emitted.plan.precision = precision;
  if (target === 'cpu') checkCpuSupport(result.emitted.plan);
  if (target === 'cuda') emitCudaCode(result.emitted.plan, precision, result.emitted.weights, result.emitted.scratch);
  result.reached = 'plan';
  lap('plan');
  if (options.compileTo === 'plan') return result;
  options.onStage?.('write');
  result.artifact = writeArtifact({
    graph,
    emitted: result.emitted,
    target,
    precision,
    options: {
      shapes: [...(options.shapes ?? new Map())].map(([k, v]) => `${k}=${v.join('x')}`).join(','),
      values: [...(options.values ?? new Map())].map(([k, v]) => `${k}=${v.join(',')}`).join(' '),
      optimize,
    },
    source: {
      model: source.path ? basename(source.path) : '<bytes>',
      sha256: createHash('sha256').update(source.bytes).digest('hex'),
      producer: imported.producer,
    },
  });
  result.reached = 'artifact';
  lap('write');
  return result;
}
