// What a CUDA generator sees of the kernel it generates: the plan's slots, the values of weight
// slots (shape-like inputs such as Slice starts or Reduce axes are baked into the source), the
// module being built, and how to refuse with the noTargetKernel diagnostic naming the kernel's node.

import type { ArtifactDType, FusedStep, Kernel, KernelPlan, ValueSlot } from '../../artifact/format.js';
import { diagnostic, q, type DiagnosticError } from '../../diagnostics.js';
import type { TensorData } from '../../ir/tensor.js';
import { CudaModuleBuilder, entryName, hasStorage } from './source.js';

/** Compile-time contents of a slot, when it has any (weights). */
export type ConstantLookup = (slot: ValueSlot) => TensorData | undefined;

export class KernelContext {
  constructor(
    readonly plan: KernelPlan,
    readonly kernel: Kernel,
    readonly module: CudaModuleBuilder,
    private readonly constants: ConstantLookup,
  ) {}

  slot(id: number): ValueSlot {
    const s = this.plan.slots[id];
    if (!s) throw new Error(`cuda: kernel ${this.kernel.id} names slot ${id}, which the plan does not have`);
    return s;
  }

  /** Slot of kernel input `k`, or undefined when it is omitted (-1) or absent. */
  input(k: number): ValueSlot | undefined {
    const id = this.kernel.inputs[k];
    return id === undefined || id < 0 ? undefined : this.slot(id);
  }

  /** Slot of kernel input `k`; refuses when it is omitted. */
  requireInput(k: number): ValueSlot {
    const s = this.input(k);
    if (!s) throw this.refuse(`without input ${k}`);
    return s;
  }

  output(k = 0): ValueSlot {
    const id = this.kernel.outputs[k];
    if (id === undefined) throw new Error(`cuda: kernel ${this.kernel.id} has no output ${k}`);
    return this.slot(id);
  }

  /** Integer contents of kernel input `k`, known at compile time; refuses when they are not. */
  constantInts(k: number, what: string): number[] {
    const s = this.input(k);
    const t = s && this.constants(s);
    if (t) return Array.from(t.values, Number);
    if (s?.kind === 'weight') {
      throw new Error(`cuda: the values of weight slot ${s.id} (${s.name}) were not given to emitCudaCode; pass EmittedPlan.weights`);
    }
    throw this.refuse(`with ${what} computed at run time`);
  }

  /** The single value of kernel input `k` when it is a constant of one element, else undefined. */
  constantScalar(k: number): number | undefined {
    const s = this.input(k);
    const t = s && numelOf(s.shape) === 1 ? this.constants(s) : undefined;
    return t ? Number(t.values[0]) : undefined;
  }

  /** The kernel's entry name for `op` (default: the kernel's op). */
  entry(op = this.kernel.op): string {
    return entryName(this.kernel.id, op);
  }

  /** The noTargetKernel diagnostic for this kernel, naming its first source node. */
  refuse(detail?: string): DiagnosticError {
    const op = detail ? `${this.kernel.op} ${detail}` : this.kernel.op;
    return diagnostic('noTargetKernel', { op, target: 'cuda', node: q(this.kernel.sources[0] ?? `kernel ${this.kernel.id}`) });
  }

  /** Refuses dtypes without a CUDA storage type (the 8-, 4- and 2-bit formats). */
  checkDtype(d: ArtifactDType): void {
    if (!hasStorage(d)) throw this.refuse(`on ${d} tensors`);
  }

  get prologue(): readonly FusedStep[] {
    return this.kernel.prologue ?? [];
  }

  get epilogue(): readonly FusedStep[] {
    return this.kernel.epilogue ?? [];
  }
}

/** The noTargetKernel diagnostic for a fused step, naming the step's own node. */
export function refuseStep(step: Pick<FusedStep, 'op' | 'source'>, detail?: string): DiagnosticError {
  return diagnostic('noTargetKernel', { op: detail ? `${step.op} ${detail}` : step.op, target: 'cuda', node: q(step.source) });
}

function numelOf(shape: readonly number[]): number {
  return shape.reduce((p, d) => p * d, 1);
}
