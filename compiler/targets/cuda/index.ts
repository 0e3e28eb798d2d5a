// The cuda target: fills a kernel plan's CUDA code (KernelPlan.cuda, Kernel.cuda; contract in
// compiler/artifact/format.ts). Contractions and convolutions other than depthwise run through
// cuBLASLt and cuDNN in the runtime; every other kernel, and the epilogues of those, is generated
// CUDA C++ here, one translation unit per plan (identical kernels printed once). Generators, one
// concern per file:
//   elementwise.ts  pointwise kernels (fused DAGs, plain ops, BatchNorm), scalar-ops.ts their ops
//   library.ts      MatMul/Gemm/Conv: the library call plus an in-place epilogue launch
//   depthwise.ts    depthwise Conv/NhwcConv with bias and epilogue, generated instead of cuDNN
//   injective.ts    data movement          reduction.ts  row reductions, softmax, norms
//   pooling.ts      windowed pools         attention.ts  the fused Attention op (row kernel), with
//   attention-mma.ts its tensor-core kernel for f16/bf16, attention-shape.ts what both read of the op
//   source.ts       printing helpers and the module builder; device-helpers.ts the device functions
//                   every source carries; context.ts what a generator sees; plan-attrs.ts attributes
// A generated kernel's launches go in `after` (`before` stays empty); a library kernel's `after` is
// its epilogue launch, if any.
//
// minComputeCapability is 80 for every plan: the project builds and tests sm_80 and sm_90 only, and
// the generated code itself needs nothing newer (half types are integers converted by the prelude).

import { diagnostic, q } from '../../diagnostics.js';
import type { CudaKernelCode, KernelPlan, Precision, ValueSlot } from '../../artifact/format.js';
import type { Value } from '../../ir/graph.js';
import type { ArenaRegion } from '../../plan/plan-memory.js';
import type { TensorData } from '../../ir/tensor.js';
import { generateAttention } from './attention.js';
import { KernelContext, type ConstantLookup } from './context.js';
import { generateDepthwise } from './depthwise.js';
import { generateBatchNorm, generateElementwise } from './elementwise.js';
import { generateInjective, INJECTIVE_OPS } from './injective.js';
import { generateLibrary, LIBRARY_OPS } from './library.js';
import { generatePool, POOL_OPS } from './pooling.js';
import { generateReduction, REDUCTION_OPS } from './reduction.js';
import { SCALAR_OPS } from './scalar-ops.js';
import { CudaModuleBuilder } from './source.js';

export const CUDA_MIN_COMPUTE_CAPABILITY = 80;

/**
 * Generates the CUDA code of every kernel of `plan` in place. `weights` are the plan's constants in
 * weight-index order (EmittedPlan.weights): shape-like inputs (Slice starts, Pad pads, Reduce axes)
 * are read from them and baked into the source. Throws noTargetKernel (MCPC2012) for the first
 * kernel it cannot generate, naming its op and source node.
 */
export function emitCudaCode(
  plan: KernelPlan, precision: Precision, weights: readonly Pick<Value, 'constant'>[] = [], scratch: readonly (ArenaRegion | undefined)[] = [],
): void {
  void precision; // tf32 and the half precisions change only the library calls and the slots' dtypes
  const module = new CudaModuleBuilder();
  const constants: ConstantLookup = (s: ValueSlot): TensorData | undefined => (s.kind === 'weight' ? weights[s.index]?.constant : undefined);
  for (const kernel of plan.kernels) {
    // Generated kernels and CUDA graphs bake every shape in: run-time dims are the cpu target's.
    if (kernel.shapes) {
      throw diagnostic('dynamicShapeTarget', { kernel: String(kernel.id), node: q(kernel.sources[0] ?? `kernel ${kernel.id}`), op: kernel.op, target: 'cuda' });
    }
    const ctx = new KernelContext(plan, kernel, module, constants);
    kernel.cuda = generateKernel(ctx);
    const region = scratch[kernel.id];
    if (kernel.cuda.library && region) kernel.cuda.scratch = { offset: region.offset, bytes: region.bytes };
  }
  plan.cuda = { ...module.finish(), minComputeCapability: CUDA_MIN_COMPUTE_CAPABILITY };
}

function generateKernel(ctx: KernelContext): CudaKernelCode {
  const op = ctx.kernel.op;
  const launches = (after: CudaKernelCode['after']): CudaKernelCode => ({ before: [], after });
  const depthwise = generateDepthwise(ctx);
  if (depthwise) return launches(depthwise);
  if (LIBRARY_OPS.has(op)) return generateLibrary(ctx);
  if (INJECTIVE_OPS.has(op)) return launches(generateInjective(ctx));
  if (op === 'Elementwise' || SCALAR_OPS.has(op)) return launches(generateElementwise(ctx));
  if (op === 'BatchNormalization') return launches(generateBatchNorm(ctx));
  if (REDUCTION_OPS.has(op)) return launches(generateReduction(ctx));
  if (POOL_OPS.has(op)) return launches(generatePool(ctx));
  if (op === 'Attention') return launches(generateAttention(ctx));
  throw ctx.refuse();
}
