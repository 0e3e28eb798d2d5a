// The cpu target: which IR ops have a native CPU kernel (native/core/kernels/, registered with
// MCPC_REGISTER_KERNEL). This list must equal the addon's kernelNames(); test/runtime/cpu-target
// compares them, so a kernel added or removed on one side without the other fails the tests.

import type { KernelPlan } from '../artifact/format.js';
import { diagnostic, q } from '../diagnostics.js';

/** IR ops with a CPU kernel, sorted. */
export const CPU_KERNEL_OPS: readonly string[] = [
  'Abs', 'Acos', 'Acosh', 'Add', 'And', 'ArgMax', 'ArgMin', 'Asin', 'Asinh', 'Atan', 'Atanh',
  'AveragePool', 'BatchNormalization', 'BitShift', 'BitwiseAnd', 'BitwiseNot', 'BitwiseOr',
  'BitwiseXor', 'Cast', 'CastLike', 'Ceil', 'Celu', 'Clip', 'Concat', 'ConstantOfShape', 'Conv',
  'ConvTranspose', 'Cos', 'Cosh', 'CumSum', 'DepthToSpace', 'Div', 'Dropout', 'Elu', 'Equal',
  'Erf', 'Exp', 'Expand', 'EyeLike', 'Flatten', 'Floor', 'Gather', 'GatherElements', 'GatherND',
  'Gelu', 'Gemm', 'GlobalAveragePool', 'GlobalMaxPool', 'Greater', 'GreaterOrEqual',
  'GroupNormalization', 'HardSigmoid', 'HardSwish', 'Identity', 'InstanceNormalization', 'IsInf',
  'IsNaN', 'LayerNormalization', 'LeakyRelu', 'Less', 'LessOrEqual', 'Log', 'LogSoftmax', 'MatMul',
  'Max', 'MaxPool', 'Mean', 'Min', 'Mish', 'Mod', 'Mul', 'Neg', 'Not', 'OneHot', 'Or', 'PRelu',
  'Pad', 'Pow', 'Range', 'Reciprocal', 'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp',
  'ReduceMax', 'ReduceMean', 'ReduceMin', 'ReduceProd', 'ReduceSum', 'ReduceSumSquare', 'Relu',
  'Reshape', 'Round', 'ScatterElements', 'ScatterND', 'Selu', 'Shape', 'Shrink', 'Sigmoid', 'Sign',
  'Sin', 'Sinh', 'Size', 'Slice', 'Softmax', 'Softplus', 'Softsign', 'SpaceToDepth', 'Split',
  'Sqrt', 'Squeeze', 'Sub', 'Sum', 'Swish', 'Tan', 'Tanh', 'ThresholdedRelu', 'Tile', 'TopK',
  'Transpose', 'Trilu', 'Unsqueeze', 'Where', 'Xor',
];

const SUPPORTED = new Set(CPU_KERNEL_OPS);

export function hasCpuKernel(op: string): boolean {
  return SUPPORTED.has(op);
}

/**
 * Throws the noTargetKernel diagnostic (MCPC2012) for the first kernel of `plan` that the
 * cpu target cannot run, naming its op and source node; the runtime would otherwise fail at load.
 */
export function checkCpuSupport(plan: KernelPlan): void {
  for (const k of plan.kernels) {
    if (!SUPPORTED.has(k.op)) throw diagnostic('noTargetKernel', { op: k.op, target: 'cpu', node: q(k.sources[0] ?? `kernel ${k.id}`) });
  }
}
