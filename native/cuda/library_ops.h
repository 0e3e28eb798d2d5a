// Library anchors of cuda kernels (compiler/artifact/format.ts CudaKernelCode.library): MatMul and
// Gemm through cuBLASLt, Conv through cuDNN. Each is prepared once at load (descriptors, algorithm,
// device addresses, which never move) and then only enqueued, so it can be captured in a graph.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime_api.h>
#if MCPC_WITH_CUDNN
#include <cudnn.h>
#endif

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "plan.h"
#include "status.h"

namespace mcpc {
namespace cuda {

class LibraryOp {
 public:
  virtual ~LibraryOp() = default;
  /** Enqueues the op on `stream`; `workspace` holds at least workspaceBytes() bytes. */
  virtual Status Enqueue(cudaStream_t stream, void* workspace, size_t workspaceBytes) = 0;
  virtual size_t workspaceBytes() const = 0;
  /** Device memory the op owns besides the shared workspace (a padded copy of a Conv input). */
  virtual size_t extraDeviceBytes() const { return 0; }
  /** The op also computes the kernel's `after` launches (a fused cuDNN epilogue): skip them. */
  virtual bool replacesAfter() const { return false; }
  /** One line on how the op runs (algorithm, workspace), for MCPC_PROFILE reports. */
  virtual std::string describe() const { return ""; }
  /** Switches a fused epilogue off (the `after` launches run) or back on; the session keeps the faster form. */
  virtual void useFusedEpilogue(bool on) { (void)on; }
};

/** What preparing a library op sees. */
struct LibraryContext {
  const KernelSpec& spec;
  const Plan& plan;
  /** Device address of a slot (fixed for the session's lifetime). */
  std::function<void*(int slot)> address;
  int device = 0;
  cudaStream_t stream = nullptr;
  cublasLtHandle_t cublasLt = nullptr;
#if MCPC_WITH_CUDNN
  cudnnHandle_t cudnn = nullptr;
#endif
  /** Scratch that algorithm search may use while preparing (a benchmark of cuDNN's algorithms). */
  void* searchWorkspace = nullptr;
  size_t searchWorkspaceBytes = 0;
  /** Choose algorithms by their GPU time (GraphTimeUs); off (MCPC_CUDA_TUNE=0): the libraries' own ranking. */
  bool tune = true;
  /** Upper bound on the workspace an op may ask for. */
  size_t maxWorkspaceBytes = 0;
  /** Arena bytes free while the op runs (the kernel's scratch): a workspace up to this size costs no memory. */
  size_t scratchBytes = 0;
};

/** MatMul (numpy-broadcast batches) or Gemm (transA, transB, alpha; beta * C is the epilogue's). */
StatusOr<std::unique_ptr<LibraryOp>> CreateCublasLtOp(const LibraryContext& ctx);

/**
 * Conv with 1 to 3 spatial dims, any pads (asymmetric ones through a padded copy), groups, or
 * NhwcConv (2-D channels-last); with a fusedEpilogue, cuDNN's conv-bias-activation where it runs.
 */
StatusOr<std::unique_ptr<LibraryOp>> CreateCudnnConvOp(const LibraryContext& ctx);

}  // namespace cuda
}  // namespace mcpc
