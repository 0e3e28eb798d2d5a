// The kernel plan as native code sees it: plain structs filled by the binding from the artifact's
// plan (compiler/artifact/format.ts, KernelPlan). Shapes are static, except those of values marked
// dynamic: their dims are resolved at run time (Slot::dynamic, KernelSpec::shapes).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "dtype.h"

namespace mcpc {

/** Heap: an unbounded dynamic value, in a buffer the executor allocates at run time. */
enum class SlotKind : uint8_t { Input, Output, Weight, Arena, Heap };

/**
 * Static: dims as the plan says. Bounded: dims known at run time, at most `shape` (the bound, which
 * sizes the arena buffer). Unbounded: dims known at run time, `shape` holds the rank (zeros) and the
 * slot is a Heap slot.
 */
enum class DynamicDims : uint8_t { Static, Bounded, Unbounded };

/**
 * How a kernel's outputs get their dims: Static (the plan's), Computed (the kernel resolves each
 * dynamic output through RunContext::outputs: a data-dependent op) or Broadcast (the numpy broadcast
 * of its inputs' run-time dims; the kernel is prepared again whenever those change).
 */
enum class ShapeRule : uint8_t { Static, Computed, Broadcast };

struct Slot {
  int id = 0;
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  size_t byteLength = 0;
  SlotKind kind = SlotKind::Arena;
  /** Input/output index, weight index, or arena byte offset, by kind. */
  int64_t index = 0;
  DynamicDims dynamic = DynamicDims::Static;
};

struct AttrValue {
  enum class Kind : uint8_t { Int, Float, String, Ints, Floats, Strings, Tensor } kind = Kind::Int;
  int64_t i = 0;
  double f = 0;
  std::string s;
  std::vector<int64_t> ints;
  std::vector<double> floats;  // also the values of a Tensor attribute
  std::vector<std::string> strings;
  DType tensorDtype = DType::F32;
  std::vector<int64_t> tensorShape;
};

/** An operand of a fused step: the anchor's result, kernel input `index`, or step `index`'s result. */
struct FusedOperand {
  enum class Kind : uint8_t { Acc, Input, Step } kind = Kind::Input;
  int index = 0;
};

/**
 * One elementwise/broadcast op inside a fused kernel (compiler/artifact/format.ts FusedStep): its
 * result has the shape of the index space it runs over (the kernel output for an epilogue, the
 * anchor's input 0 for a prologue); operands numpy-broadcast to it.
 */
struct FusedStep {
  std::string op;
  std::map<std::string, AttrValue> attrs;
  std::vector<FusedOperand> args;
  DType dtype = DType::F32;
  std::string source;
};

/**
 * Target cuda: one launch of a generated kernel (compiler/artifact/format.ts CudaLaunch): the
 * `extern "C"` function `entry` of the plan's CUDA source, its parameters the device addresses of
 * the slots `args`, in order.
 */
struct CudaLaunch {
  std::string entry;
  int64_t grid[3] = {1, 1, 1};
  int64_t block[3] = {1, 1, 1};
  int64_t sharedBytes = 0;
  std::vector<int> args;
};

/** Target cuda: how a kernel runs (CudaKernelCode): an optional library anchor between launches. */
struct CudaKernelCode {
  bool present = false;
  /** "" (launches only), "cublaslt" (MatMul, Gemm) or "cudnn" (Conv). */
  std::string library;
  /** Epilogue work of the library call (LibraryEpilogue): Y = act(alpha A B + beta inputs[c] + inputs[bias]), alpha times epilogueAlpha; -1: none. */
  double epilogueAlpha = 1.0;
  int epilogueC = -1;
  double epilogueBeta = 1.0;
  int epilogueBias = -1;
  /** "", "relu" or "gelu-tanh". */
  std::string epilogueActivation;
  std::vector<CudaLaunch> before;
  std::vector<CudaLaunch> after;
  /**
   * cudnn: `after` computes exactly Y = act(Y + B + Z) (fusedEpilogue in format.ts), so the
   * conv-bias-activation call may replace it. fusedResidual is the kernel input of Z, or -1.
   */
  bool fusedEpilogue = false;
  int fusedResidual = -1;
  bool fusedRelu = false;
  /** Library kernels: arena bytes free while the kernel runs (`scratch` in format.ts); bytes 0: none. */
  int64_t scratchOffset = 0;
  int64_t scratchBytes = 0;
};

/** Target cuda: the plan's generated CUDA C++ (CudaModuleSource), compiled by NVRTC at load. */
struct CudaModuleSource {
  bool present = false;
  std::string source;
  std::string sha256;
  /** major * 10 + minor. */
  int minComputeCapability = 0;
};

struct KernelSpec {
  int id = 0;
  std::string op;
  std::string family;
  std::map<std::string, AttrValue> attrs;
  /** Slot ids; -1 marks an omitted optional input. */
  std::vector<int> inputs;
  std::vector<int> outputs;
  /** First ONNX source node, for error messages. */
  std::string source;
  /** Fused steps: on the anchor's result (or the whole kernel for op 'Elementwise'), and before it. */
  std::vector<FusedStep> epilogue;
  std::vector<FusedStep> prologue;
  /** Target cuda only. */
  CudaKernelCode cuda;
  ShapeRule shapes = ShapeRule::Static;

  bool fused() const { return !epilogue.empty() || !prologue.empty() || op == "Elementwise"; }

  bool has(const std::string& name) const { return attrs.count(name) != 0; }
  int64_t Int(const std::string& name, int64_t fallback) const;
  double Float(const std::string& name, double fallback) const;
  std::string String(const std::string& name, const std::string& fallback) const;
  std::vector<int64_t> Ints(const std::string& name, const std::vector<int64_t>& fallback = {}) const;
  std::vector<double> Floats(const std::string& name, const std::vector<double>& fallback = {}) const;
};

struct Plan {
  std::vector<Slot> slots;
  std::vector<KernelSpec> kernels;
  std::vector<int> inputSlots;
  std::vector<int> outputSlots;
  size_t arenaSize = 0;
  /** "cpu" or "cuda" (KernelPlan.target). */
  std::string target = "cpu";
  /** "fp32", "tf32", "fp16" or "bf16" (KernelPlan.precision; fp32 when absent). */
  std::string precision = "fp32";
  /** Target cuda only. */
  CudaModuleSource cuda;
  /** Target cuda: bytes at the start of the arena kept in L2 (KernelPlan.l2WindowBytes; 0: none). */
  size_t l2WindowBytes = 0;
};

}  // namespace mcpc
