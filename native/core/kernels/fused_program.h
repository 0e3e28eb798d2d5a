// Fused-step programs: the elementwise steps of a fused kernel (KernelSpec::epilogue/prologue)
// evaluated over an index space in chunks of kChunk elements, so that every intermediate stays in
// L1 and never goes to memory. Steps on f32 with a SIMD form call the f32 vector loops directly;
// every other step (any dtype, any attribute) runs the op's own registered kernel on the chunk, so
// a fused step computes exactly what the unfused kernel would.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "../kernel.h"
#include "../plan.h"
#include "../status.h"

namespace mcpc {
namespace fused {

/** Elements per chunk: 1024 x 8 bytes per live intermediate keeps a chain of steps inside L1. */
constexpr int64_t kChunk = 1024;

/** What a program sees of the kernel it belongs to, at Prepare. */
struct ProgramContext {
  const KernelSpec& spec;
  /** Type of kernel input i (nullptr when omitted). */
  std::function<const Slot*(size_t)> input;
  /** Bytes of kernel input i when it is a weight, else nullptr. */
  std::function<const void*(size_t)> constantInput;
  /** dtype of the anchor's result ({acc: true} operands). */
  DType accDtype = DType::F32;
};

class StepProgram {
 public:
  /**
   * Prepares `steps` over the index space `shape` (every operand broadcasts to it). `list` names
   * the step list in errors ("epilogue", "prologue").
   */
  static StatusOr<std::unique_ptr<StepProgram>> Build(const ProgramContext& ctx, const std::vector<FusedStep>& steps, const char* list,
                                                      const std::vector<int64_t>& shape);
  ~StepProgram();

  /**
   * out = the last step's result. inputs[i]: data of kernel input i; acc: the anchor's result
   * (may be `out` itself: each chunk is read before it is written). Chunks run on the pool.
   */
  Status Run(const std::vector<const void*>& inputs, const void* acc, void* out, RunContext& ctx) const;

  DType resultDtype() const;
  int64_t numel() const { return numel_; }

  struct Step;
  struct Gather;

 private:
  StepProgram() = default;
  Status RunChunks(int64_t c0, int64_t c1, const std::vector<const void*>& inputs, const void* acc, void* out) const;

  std::vector<int64_t> shape_;
  int64_t numel_ = 0;
  std::vector<std::unique_ptr<Step>> steps_;
  std::vector<std::unique_ptr<Gather>> gathers_;
  /** Scratch per thread: nbuffers_ buffers of kChunk * 8 bytes. */
  int nbuffers_ = 0;
  int64_t grain_ = 1;
};

/**
 * Numpy broadcast of the shapes of the kernel inputs that `steps` read (the index space of a
 * prologue); false when they do not broadcast.
 */
bool BroadcastShape(const ProgramContext& ctx, const std::vector<FusedStep>& steps, std::vector<int64_t>* shape);

}  // namespace fused
}  // namespace mcpc
