// Fused kernels (KernelSpec::fused()): 'Elementwise' DAGs, and anchors (Conv, MatMul, Softmax,
// LayerNormalization, ReduceX, pooling...) with elementwise prologue/epilogue steps. The executor
// creates them here instead of through the registry; the anchor itself is the registry's kernel.
#pragma once

#include <memory>

#include "../kernel.h"
#include "../status.h"

namespace mcpc {
namespace fused {

/** Creates the kernel for a spec with epilogue/prologue steps or op 'Elementwise'. */
StatusOr<std::unique_ptr<Kernel>> CreateFusedKernel(const PrepareContext& ctx);

/** Largest input count of an anchor op the cpu target fuses (the compiler pads to it), or 0. */
int AnchorArity(const std::string& op);

}  // namespace fused
}  // namespace mcpc
