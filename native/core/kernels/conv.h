// The Conv kernel's entry point for fused kernels (fused.cc): a convolution that also applies the
// first steps of its epilogue, a residual add then Relu or Clip, to each output tile while it is in
// registers (GEMM path) or in cache (depthwise path), instead of in a second pass over the output.
#pragma once

#include <memory>

#include "../kernel.h"
#include "gemm.h"

namespace mcpc {
namespace conv {

/** y = act(conv(x) + bias + residual): residual is kernel input 3 (the output's shape) when set. */
struct Tail {
  bool residual = false;
  gemm::Epilogue::Act act = gemm::Epilogue::Act::None;
  float clipMin = 0, clipMax = 0;
};

/** The Conv kernel (inputs X, W, optional B, then the residual when tail.residual). */
StatusOr<std::unique_ptr<Kernel>> CreateKernel(const PrepareContext& ctx, const Tail& tail);

}  // namespace conv
}  // namespace mcpc
