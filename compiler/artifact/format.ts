// The artifact format (.mcp), version 2: the contract between the compiler (writer.ts) and the
// runtime (runtime/artifact-reader.ts), and the one compiler module the runtime imports.
//
// Layout (all integers little-endian):
//   0   8 bytes  magic "MCPCART\0"
//   8   u32      format version (ARTIFACT_VERSION)
//   12  u32      flags (0)
//   16  u64      header length H in bytes
//   24  32 bytes SHA-256 of the header
//   56  8 bytes  reserved (0)
//   64  H bytes  header: UTF-8 JSON (ArtifactHeader)
//   then sections at the offsets the header lists, each with its own SHA-256: 'plan' (UTF-8 JSON
//   KernelPlan) and 'weights' (raw little-endian tensors, the section aligned to 4096 bytes and each
//   tensor to 64, so the file can be memory-mapped and weights used or uploaded in place).

export const ARTIFACT_MAGIC = 'MCPCART\0';
/**
 * Version 2 added values with run-time dims (ValueSlot.dynamic, the 'heap' slot kind,
 * Kernel.shapes, -1 dims in output specs). Version 1 artifacts have none and load unchanged.
 */
export const ARTIFACT_VERSION = 2;
/** The oldest format version this build reads. */
export const MIN_ARTIFACT_VERSION = 1;
export const PREAMBLE_BYTES = 64;
export const WEIGHTS_ALIGNMENT = 4096;
export const TENSOR_ALIGNMENT = 64;

export type ArtifactDType =
  | 'f32' | 'f16' | 'bf16' | 'f64' | 'i64' | 'i32' | 'i16' | 'i8' | 'u64' | 'u32' | 'u16' | 'u8' | 'bool'
  // Low-precision storage types; sub-byte ones (i4 u4 f4e2m1 i2 u2) are packed low bits first, so a
  // tensor of n elements takes ceil(n * bits / 8) bytes.
  | 'f8e4m3fn' | 'f8e4m3fnuz' | 'f8e5m2' | 'f8e5m2fnuz' | 'f8e8m0' | 'f4e2m1' | 'i4' | 'u4' | 'i2' | 'u2';
export type Target = 'cpu' | 'cuda';
export type Precision = 'fp32' | 'tf32' | 'fp16' | 'bf16';
export type KernelFamily = 'contraction' | 'elementwise' | 'reduction' | 'injective' | 'attention' | 'opaque';

export interface TensorSpec {
  name: string;
  dtype: ArtifactDType;
  /** -1 for a dim known only at run time (an output computed from a data-dependent op). */
  shape: number[];
  /**
   * For an input whose contents were fixed at compile time (--value, like a TensorRT shape
   * tensor): those contents. The plan was specialized to them; feeds must equal them.
   */
  values?: number[];
}

export interface SectionEntry {
  name: string;
  offset: number;
  length: number;
  sha256: string;
}

export interface WeightEntry {
  name: string;
  dtype: ArtifactDType;
  shape: number[];
  /** Offset within the weights section. */
  offset: number;
  byteLength: number;
}

export interface ResourceProfile {
  flops: number;
  /** Bytes read and written by the module's kernels (each tensor once per kernel). */
  bytesMoved: number;
  weightBytes: number;
  peakActivationBytes: number;
}

export interface ModuleEntry {
  id: string;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  /** Kernel index range [first, last) in the plan. */
  kernels: [number, number];
  profile: ResourceProfile;
}

export interface ArenaSummary {
  /** Bytes of the activation arena. */
  size: number;
  alignment: number;
  /** Largest sum of bytes live at one time: no plan can use less. */
  lowerBound: number;
  /** Bytes if every value had its own buffer. */
  naiveSize: number;
  /**
   * GPU plans: bytes from offset 0 of the arena that form the L2 tier (the runtime's persisting
   * access-policy window); values at offsets below it are in L2, the rest in DRAM.
   */
  l2Window?: number;
}

export interface ArtifactHeader {
  format: 'mcpc-artifact';
  formatVersion: number;
  producer: string;
  source: { model: string; sha256: string; producer: string };
  target: Target;
  precision: Precision;
  options: Record<string, string | number | boolean>;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  modules: ModuleEntry[];
  weights: WeightEntry[];
  arena: ArenaSummary;
  sections: SectionEntry[];
}

/** Where a kernel argument lives; 'heap': a buffer the executor allocates at run time (index 0). */
export type SlotKind = 'input' | 'output' | 'weight' | 'arena' | 'heap';

export interface ValueSlot {
  id: number;
  name: string;
  dtype: ArtifactDType;
  /** For a dynamic slot: its bound (each run-time dim at its largest); zeros when unbounded. */
  shape: number[];
  /** For a dynamic slot: bytes at the bound (0 when unbounded). */
  byteLength: number;
  kind: SlotKind;
  /** Input/output index, weight index, or arena byte offset, by kind. */
  index: number;
  /**
   * Dims known only at run time: 'bounded' (an arena slot sized by `shape`) or 'unbounded' (a
   * 'heap' slot). Never an input, output or weight slot.
   */
  dynamic?: 'bounded' | 'unbounded';
  /**
   * An arena slot that is a view (Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout) of
   * slot `of`: the same bytes at the same offset, written by no kernel; or a Slice that selects a
   * contiguous run of `of`'s bytes, at its offset into them (a multiple of the arena alignment).
   * `sources` are the ONNX nodes it stands for (as a kernel's).
   */
  view?: { of: number; sources: string[] };
}

/** A float in plan JSON: non-finite values, which JSON cannot hold, are the strings 'inf', '-inf', 'nan'. */
export type JsonFloat = number | 'inf' | '-inf' | 'nan';

export function toJsonFloat(x: number): JsonFloat {
  return Number.isFinite(x) ? x : Number.isNaN(x) ? 'nan' : x > 0 ? 'inf' : '-inf';
}

export function fromJsonFloat(x: JsonFloat): number {
  return typeof x === 'number' ? x : x === 'nan' ? NaN : x === 'inf' ? Infinity : -Infinity;
}

/** A kernel attribute, tagged with its kind so that ints and floats stay distinct across JSON. */
export type PlanAttr =
  | { i: number }
  | { f: JsonFloat }
  | { s: string }
  | { ints: number[] }
  | { floats: JsonFloat[] }
  | { strings: string[] }
  | { tensor: { dtype: ArtifactDType; shape: number[]; values: JsonFloat[] } };

/**
 * An operand of a fused step: the anchor op's result (`acc`), a kernel input (numpy-broadcast to
 * the kernel's output shape), or the result of an earlier step.
 */
export type FusedOperand = { acc: true } | { input: number } | { step: number };

/**
 * One elementwise/broadcast IR op inside a fused kernel. Every step's result has the kernel
 * output's shape (operands broadcast to it); `dtype` is the step's result dtype.
 */
export interface FusedStep {
  op: string;
  attrs: Record<string, PlanAttr>;
  args: FusedOperand[];
  dtype: ArtifactDType;
  /** ONNX node the step came from. */
  source: string;
}

/**
 * Target cuda: one launch of a generated kernel, an `extern "C" __global__` function `entry` in the
 * plan's CUDA source (KernelPlan.cuda). Shapes, strides and constants are baked into the source;
 * the kernel's parameters are device pointers to the slots `args`, in order (`const T*` for slots
 * it reads, `T*` for the one it writes).
 */
export interface CudaLaunch {
  entry: string;
  grid: [number, number, number];
  block: [number, number, number];
  /** Dynamic shared memory in bytes. */
  sharedBytes: number;
  args: number[];
}

/**
 * Target cuda: how a kernel runs. With `library`, the runtime first computes the anchor op with a
 * vendor library into the kernel's output slot (inputs[0..arity) are the anchor's, as on cpu):
 *   cublaslt  MatMul  Y = A @ B, numpy-broadcast batch dimensions
 *             Gemm    Y = alpha * op(A) @ op(B) (transA, transB); beta * C comes from libraryEpilogue or `after`
 *   cudnn     Conv    Y = conv(X, W) (pads, strides, dilations, group); the bias is not read: `after` adds it
 * then `after` runs, in place on that output (the epilogue); without `library` the launches are
 * the whole kernel. `before` runs first (reserved for prologues of library anchors).
 */
export interface CudaKernelCode {
  library?: 'cublaslt' | 'cudnn';
  /** Epilogue work the library call does itself, before `after` (cublaslt only; see LibraryEpilogue). */
  libraryEpilogue?: LibraryEpilogue;
  before: CudaLaunch[];
  after: CudaLaunch[];
  /**
   * cudnn only, present when `after` computes exactly Y = act(Y + B[m] + Z): B the convolution's
   * bias (input 2, one value per output channel m), Z kernel input `residual` (Y's shape and dtype)
   * when given, act Relu when `relu`, else the identity. A runtime may then run cuDNN's
   * conv-bias-activation call instead of the convolution and `after`; where cuDNN refuses that
   * call it runs both.
   */
  fusedEpilogue?: { residual?: number; relu: boolean };
  /**
   * Library kernels: arena bytes [offset, offset + bytes) that no slot uses while the kernel runs
   * (offset a multiple of 256). The runtime puts the library call's workspace there when it fits,
   * instead of in a buffer of its own.
   */
  scratch?: { offset: number; bytes: number };
}

/**
 * Target cuda: what a library anchor computes beyond the product, in this order (cuBLASLt's
 * epilogues): Y = act(alpha * A @ B + beta * inputs[c] + inputs[bias]). `c` has the output's shape;
 * `bias` holds one value per output column (broadcast over rows and batches), or one per batch
 * and column (a MatMul whose B has the batch: [..batch, 1, N]); both have the output's dtype. The kernel's epilogue steps that this covers are not in `after`.
 */
export interface LibraryEpilogue {
  /** Factor of the product (MatMul's scalar Mul), multiplying the anchor's own alpha. */
  alpha?: number;
  /** Kernel input added whole (a residual, or Gemm's C), scaled by `beta` (default 1). */
  c?: number;
  beta?: number;
  /** Kernel input added to every row. */
  bias?: number;
  activation?: 'relu' | 'gelu-tanh';
}

/** Target cuda: the generated kernels of a plan, one translation unit compiled by NVRTC at load. */
export interface CudaModuleSource {
  /**
   * CUDA C++ source. It includes "mcpc_prelude.cuh", which the runtime provides (half/bfloat16
   * storage types and conversions; test/cuda emulates it on the CPU), and nothing else.
   */
  source: string;
  /** SHA-256 of `source`: the key of the runtime's on-disk cache of compiled code. */
  sha256: string;
  /** Oldest compute capability the code needs, as major * 10 + minor (80 = sm_80). */
  minComputeCapability: number;
}

export interface Kernel {
  id: number;
  family: KernelFamily;
  /**
   * The kernel's operation: an IR op name (the anchor of a contraction or reduction kernel, or the
   * only op of an unfused kernel), or 'Elementwise' for a fused elementwise DAG.
   */
  op: string;
  /**
   * Fused elementwise steps. For an anchored kernel they run on the anchor's result (epilogue) and
   * the last step's result is the kernel's output; for 'Elementwise' they are the whole kernel.
   */
  epilogue?: FusedStep[];
  /**
   * For a reduction anchor: steps computing the anchor's input 0 from kernel inputs (prologue), so
   * that value is never written to memory. Operands are kernel inputs and earlier steps.
   */
  prologue?: FusedStep[];
  attrs: Record<string, PlanAttr>;
  /** Slot ids of the arguments; -1 marks an omitted optional input. */
  inputs: number[];
  outputs: number[];
  /** ONNX node names this kernel computes. */
  sources: string[];
  module: string;
  /** Target cuda: how the kernel runs (see CudaKernelCode). */
  cuda?: CudaKernelCode;
  /**
   * How outputs with dynamic dims get them: 'computed' (a data-dependent op: the kernel decides),
   * 'broadcast' (the numpy broadcast of its inputs' run-time dims). Absent: all dims static.
   */
  shapes?: 'computed' | 'broadcast';
}

export interface KernelPlan {
  target: Target;
  slots: ValueSlot[];
  kernels: Kernel[];
  /** Slot id of each model output, in output order (an output may be an input or weight slot). */
  outputSlots: number[];
  inputSlots: number[];
  /** Numeric precision of the plan's contractions (the header's; fp16/bf16 also store activations so). */
  precision?: Precision;
  /** Target cuda: the generated kernels. */
  cuda?: CudaModuleSource;
  /** Target cuda: bytes at the start of the arena to keep in L2 (ArenaSummary.l2Window). */
  l2WindowBytes?: number;
}

export function alignUp(x: number, a: number): number {
  return Math.ceil(x / a) * a;
}
