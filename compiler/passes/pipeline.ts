// The pass pipeline, in order, with why each pass runs where it does, and the pass manager that
// runs it: --print-after prints the IR after a pass, --compile-to stops at a phase, and with
// `verify` (always on in tests) the IR verifier runs after every pass.

import { diagnostic } from '../diagnostics.js';
import type { Graph } from '../ir/graph.js';
import { printGraph } from '../ir/printer.js';
import { verifyGraph } from '../ir/verify.js';
import { bindShapesPass } from './bind-shapes.js';
import { canonicalizePass } from './canonicalize.js';
import { channelsLastPass } from './channels-last.js';
import { padConvChannelsPass } from './pad-conv-channels.js';
import { eliminateCommonSubexpressionsPass } from './eliminate-common-subexpressions.js';
import { eliminateDeadCodePass } from './eliminate-dead-code.js';
import { foldBatchNormPass } from './fold-batchnorm.js';
import { foldConstantsPass } from './fold-constants.js';
import { fuseAttentionPass } from './fuse-attention.js';
import { fuseGeluPass } from './fuse-gelu.js';
import { fuseLayerNormPass } from './fuse-layernorm.js';
import { fuseMatMulAddPass } from './fuse-matmul-add.js';
import { sinkReshapesPass } from './sink-reshapes.js';
import { fuseMovementChainsPass } from './fuse-movement-chains.js';
import { fuseProjectionViewsPass } from './fuse-projection-views.js';
import { fuseSoftmaxPass } from './fuse-softmax.js';
import { fusePass } from './fuse.js';
import { inferShapesPass } from './infer-shapes.js';
import { batchSiblingMatMulsPass } from './batch-sibling-matmuls.js';
import { lowerPrecisionPass } from './lower-precision.js';
import { newPassContext, type Pass, type PassContext } from './pass.js';

/** Points where compilation can stop (--compile-to); 'import' is the graph as imported. */
export const PHASES = ['import', 'canonical', 'optimized', 'plan', 'artifact'] as const;
export type Phase = (typeof PHASES)[number];

interface Step {
  pass: Pass;
  /** Phase reached once this step has run. */
  phase?: Phase;
  why: string;
}

export const PIPELINE: readonly Step[] = [
  { pass: bindShapesPass, why: 'static sizes let shape arithmetic fold away and memory be planned' },
  { pass: inferShapesPass, why: 'types must reflect the bound inputs before anything reads them' },
  { pass: canonicalizePass, phase: 'canonical', why: 'one form per computation, so later passes match fewer patterns' },
  { pass: foldConstantsPass, why: 'exporters compute shapes, masks and transposed weights at run time' },
  { pass: canonicalizePass, why: 'folding exposes new no-ops (reshapes to the same shape, x*1)' },
  { pass: eliminateCommonSubexpressionsPass, why: 'exporters repeat shape computations and small constants' },
  { pass: eliminateDeadCodePass, why: 'drop what folding and merging left unread' },
  { pass: foldBatchNormPass, why: 'a BatchNorm after a Conv is a per-channel scale of its weights' },
  { pass: fuseGeluPass, why: 'exporters spell GELU as five to eight elementwise nodes' },
  { pass: fuseLayerNormPass, why: 'older exporters decompose LayerNorm into a reduction chain' },
  { pass: fuseSoftmaxPass, why: 'decomposed softmax must become one before attention can match it' },
  { pass: fuseAttentionPass, why: 'QK^T, scale, mask, softmax and V in one op, after softmax is whole' },
  { pass: fuseMatMulAddPass, why: 'a 2-D MatMul with a bias is a Gemm' },
  { pass: fuseProjectionViewsPass, why: 'head splits (reshape/transpose/split/gather of a projection) fold into its weight' },
  { pass: fuseMovementChainsPass, why: 'collapse the movement chains left; scalar ops move above them, next to their producer' },
  { pass: sinkReshapesPass, why: 'a residual Add after a reshaped projection runs in the projection\'s shape, as its epilogue' },
  { pass: batchSiblingMatMulsPass, why: 'once projections are final: Q/K/V MatMuls of one input become one batched library call' },
  { pass: eliminateDeadCodePass, phase: 'optimized', why: 'drop the nodes the patterns replaced' },
  { pass: channelsLastPass, why: 'f16/bf16 GPU convolutions run NHWC; after BN folding and the patterns, before lower-precision rounds the permuted weights and fuse groups epilogues' },
  { pass: padConvChannelsPass, why: 'on request: an RGB stem read as 8 channels for tensor-core kernels; before lower-precision rounds the padded weights' },
  { pass: lowerPrecisionPass, why: 'fp16/bf16 plans store floats in half precision; before fusion, so the casts at the edges fuse' },
  { pass: fusePass, why: 'last: groups the final nodes into kernels, so intermediates stay out of memory (-O0 skips it)' },
];

/** The optimizer proper: what -O0 turns off. */
export const OPTIMIZER_PASSES: readonly string[] = [
  foldBatchNormPass, fuseGeluPass, fuseLayerNormPass, fuseSoftmaxPass, fuseAttentionPass, fuseMatMulAddPass, fuseProjectionViewsPass,
  fuseMovementChainsPass, sinkReshapesPass, batchSiblingMatMulsPass, channelsLastPass, padConvChannelsPass, fusePass,
].map((p) => p.name);

export const ALL_PASSES: readonly Pass[] = [...new Set(PIPELINE.map((s) => s.pass))];

export interface PipelineOptions {
  shapeBindings?: ReadonlyMap<string, readonly number[]>;
  /** Input contents fixed at compile time (--value). */
  valueBindings?: ReadonlyMap<string, readonly number[]>;
  /** Storage type of float activations and weights (lower-precision); 'f32' by default. */
  floatStorage?: PassContext['floatStorage'];
  /** Largest |x| of float32 values on calibration inputs, by name (fp16 range guard, lower-precision). */
  valueRanges?: ReadonlyMap<string, number>;
  /** Pass names (or 'all') after which to print the IR. */
  printAfter?: readonly string[];
  /** Where printed IR goes (default: standard error). */
  print?: (text: string) => void;
  /** Stop once this phase is reached. */
  compileTo?: Phase;
  /** Run the IR verifier after every pass (tests). */
  verify?: boolean;
  /** Names of passes not to run (-O0 skips the pattern passes and 'fuse'). */
  skip?: readonly string[];
  /** Called before each pass (progress display). */
  onPass?: (pass: Pass, index: number, count: number) => void;
}

export interface PipelineResult {
  ctx: PassContext;
  /** Milliseconds per pass, in run order. */
  timings: { pass: string; ms: number; changed: boolean }[];
  reached: Phase;
}

export function checkPassNames(names: readonly string[]): void {
  const known = ALL_PASSES.map((p) => p.name);
  for (const n of names) {
    if (n !== 'all' && !known.includes(n)) throw diagnostic('unknownPass', { pass: n, passes: known.join(', ') });
  }
}

export function runPipeline(g: Graph, options: PipelineOptions = {}): PipelineResult {
  const ctx = newPassContext(options.shapeBindings, options.valueBindings, options.floatStorage, options.valueRanges);
  const printAfter = new Set(options.printAfter ?? []);
  checkPassNames([...printAfter]);
  const print = options.print ?? ((t: string) => process.stderr.write(t));
  const timings: PipelineResult['timings'] = [];
  let reached: Phase = 'import';
  if (options.compileTo === 'import') return { ctx, timings, reached };
  for (let i = 0; i < PIPELINE.length; i++) {
    const step = PIPELINE[i]!;
    if (options.skip?.includes(step.pass.name)) continue;
    options.onPass?.(step.pass, i, PIPELINE.length);
    const t0 = performance.now();
    const changed = step.pass.run(g, ctx);
    timings.push({ pass: step.pass.name, ms: performance.now() - t0, changed });
    if (options.verify) {
      const problems = verifyGraph(g);
      if (problems.length) throw diagnostic('verifierFailed', { pass: step.pass.name, reason: problems.slice(0, 5).join('; ') });
    }
    if (printAfter.has('all') || printAfter.has(step.pass.name)) {
      print(`// ----- IR after ${step.pass.name} -----\n${printGraph(g, { constants: 'elide' })}`);
    }
    if (step.phase) {
      reached = step.phase;
      if (options.compileTo === step.phase) break;
    }
  }
  return { ctx, timings, reached };
}
