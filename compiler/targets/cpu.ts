// The cpu target: which IR ops have a native CPU kernel (native/core/kernels/, registered with
// MCPC_REGISTER_KERNEL). This list must equal the addon's kernelNames(); test/runtime/cpu-target
// compares them, so a kernel added or removed on one side without the other fails the tests.
// Fused kernels (native/core/kernels/fused.cc) run each step with its op's kernel and the anchor
// with its own, so a fused kernel is supported when every step op is and its anchor is one of
// CPU_FUSED_ANCHORS.

import type { KernelPlan } from '../artifact/format.js';
import { diagnostic, q } from '../diagnostics.js';
import { DATA_DEPENDENT_OPS } from '../plan/dynamic-shapes.js';

/** IR ops with a CPU kernel, sorted. */
export const CPU_KERNEL_OPS: readonly string[] = [
  'Abs', 'Acos', 'Acosh', 'Add', 'AffineGrid', 'And', 'ArgMax', 'ArgMin', 'Asin', 'Asinh', 'Atan', 'Atanh', 'Attention',
  'AveragePool', 'BatchNormalization', 'BitCast', 'BitShift', 'BitwiseAnd', 'BitwiseNot', 'BitwiseOr',
  'BitwiseXor', 'BlackmanWindow', 'Cast', 'CastLike', 'CausalConvWithState', 'Ceil', 'Celu', 'CenterCropPad', 'Clip', 'Col2Im', 'Compress', 'Concat', 'ConstantOfShape', 'Conv',
  'ConvInteger', 'ConvTranspose', 'Cos', 'Cosh', 'CumProd', 'CumSum', 'DFT', 'DeformConv', 'DepthToSpace', 'DequantizeLinear', 'Det', 'Div', 'Dropout', 'DynamicQuantizeLinear', 'Einsum', 'Elu', 'Equal',
  'Erf', 'Exp', 'Expand', 'EyeLike', 'Flatten', 'Floor', 'GRU', 'Gather', 'GatherElements', 'GatherND',
  'Gelu', 'Gemm', 'GlobalAveragePool', 'GlobalLpPool', 'GlobalMaxPool', 'Greater', 'GreaterOrEqual', 'GridSample',
  'GroupNormalization', 'HammingWindow', 'HannWindow', 'HardSigmoid', 'HardSwish', 'Hardmax', 'Identity', 'InstanceNormalization', 'IsInf',
  'IsNaN', 'LRN', 'LSTM', 'LayerNormalization', 'LeakyRelu', 'Less', 'LessOrEqual', 'LinearAttention', 'Log', 'LogSoftmax', 'LpNormalization', 'LpPool', 'MatMul',
  'MatMulInteger', 'Max', 'MaxPool', 'MaxUnpool', 'Mean', 'MeanVarianceNormalization', 'MelWeightMatrix', 'Min', 'Mish', 'Mod', 'Mul', 'Neg', 'NegativeLogLikelihoodLoss', 'NonMaxSuppression', 'NonZero', 'Not', 'OneHot', 'Or', 'PRelu',
  'Pad', 'Pow', 'QLinearConv', 'QLinearMatMul', 'QuantizeLinear', 'RMSNormalization', 'RNN', 'Range', 'Reciprocal', 'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp',
  'ReduceMax', 'ReduceMean', 'ReduceMin', 'ReduceProd', 'ReduceSum', 'ReduceSumSquare', 'Relu',
  'Reshape', 'Resize', 'ReverseSequence', 'RoiAlign', 'RotaryEmbedding', 'Round', 'STFT', 'ScatterElements', 'ScatterND', 'Selu', 'Shape', 'Shrink', 'Sigmoid', 'Sign',
  'Sin', 'Sinh', 'Size', 'Slice', 'Softmax', 'SoftmaxCrossEntropyLoss', 'Softplus', 'Softsign', 'SpaceToDepth', 'Split',
  'Sqrt', 'Squeeze', 'Sub', 'Sum', 'SwiGLU', 'Swish', 'Tan', 'Tanh', 'TensorScatter', 'ThresholdedRelu', 'Tile', 'TopK',
  'Transpose', 'Trilu', 'Unique', 'Unsqueeze', 'Where', 'Xor',
];

const SUPPORTED = new Set(CPU_KERNEL_OPS);

export function hasCpuKernel(op: string): boolean {
  return SUPPORTED.has(op);
}

/**
 * Anchors the native executor fuses steps into, with the input count it hands the anchor's kernel
 * (native/core/kernels/fused.cc AnchorArity must list the same).
 */
export const CPU_FUSED_ANCHORS: ReadonlyMap<string, number> = new Map([
  ['Conv', 3], ['ConvTranspose', 3], ['Gemm', 3], ['MatMul', 2], ['BatchNormalization', 5], ['LayerNormalization', 3],
  ['GroupNormalization', 3], ['InstanceNormalization', 3], ['CumSum', 2], ['Softmax', 1], ['LogSoftmax', 1],
  ['AveragePool', 1], ['MaxPool', 1], ['GlobalAveragePool', 1], ['GlobalMaxPool', 1], ['ArgMax', 1], ['ArgMin', 1],
  ['ReduceL1', 2], ['ReduceL2', 2], ['ReduceLogSum', 2], ['ReduceLogSumExp', 2], ['ReduceMax', 2], ['ReduceMean', 2],
  ['ReduceMin', 2], ['ReduceProd', 2], ['ReduceSum', 2], ['ReduceSumSquare', 2],
]);

/**
 * Throws the noTargetKernel diagnostic (MCPC2012) for the first kernel of `plan` that the
 * cpu target cannot run, naming its op and source node; the runtime would otherwise fail at load.
 */
export function checkCpuSupport(plan: KernelPlan): void {
  for (const k of plan.kernels) {
    const node = q(k.sources[0] ?? `kernel ${k.id}`);
    // Kernels that compute their outputs' dims are the data-dependent ops' (kernels/data_dependent.cc, Range).
    if (k.shapes === 'computed' && !DATA_DEPENDENT_OPS.has(k.op)) throw diagnostic('noTargetKernel', { op: `${k.op} with data-dependent output dims`, target: 'cpu', node });
    const fused = k.op === 'Elementwise' || (k.epilogue?.length ?? 0) > 0 || (k.prologue?.length ?? 0) > 0;
    if (k.op !== 'Elementwise' && !SUPPORTED.has(k.op)) throw diagnostic('noTargetKernel', { op: k.op, target: 'cpu', node });
    if (fused && k.op !== 'Elementwise' && !CPU_FUSED_ANCHORS.has(k.op)) {
      throw diagnostic('noTargetKernel', { op: `${k.op} with fused steps`, target: 'cpu', node });
    }
    for (const step of [...(k.prologue ?? []), ...(k.epilogue ?? [])]) {
      if (!SUPPORTED.has(step.op)) throw diagnostic('noTargetKernel', { op: step.op, target: 'cpu', node: q(step.source) });
    }
  }
}
