// The generated kernels of a plan as a loaded CUDA library: NVRTC compiles the plan's CUDA source
// (with mcpc_prelude.cuh as its one named header) to a cubin for the device's architecture, or to
// PTX for the newest architecture NVRTC knows when the device is newer still. Compiled code is
// cached on disk, keyed by everything that shapes it (source, prelude, options, NVRTC version); a
// cache entry is checked (magic, length, SHA-256) before use and recompiled when anything is off.
#pragma once

#include <cuda_runtime_api.h>

#include <map>
#include <memory>
#include <string>

#include "status.h"

namespace mcpc {
namespace cuda {

/** The prelude's text, embedded at build time (generated from native/cuda/mcpc_prelude.cuh). */
extern const char* const kPreludeSource;

class KernelModule {
 public:
  /**
   * Compiles (or reads from `cacheDir`, unless empty) and loads `source` for a device of compute
   * capability `cc` (major * 10 + minor). MCPC5103 with the first lines of the NVRTC log when the
   * source does not compile.
   */
  static StatusOr<std::unique_ptr<KernelModule>> Load(const std::string& source, int cc, const std::string& cacheDir);
  ~KernelModule();
  KernelModule(const KernelModule&) = delete;
  KernelModule& operator=(const KernelModule&) = delete;

  /** The kernel `entry` (an extern "C" __global__ function), resolved once. */
  StatusOr<cudaKernel_t> Kernel(const std::string& entry);
  /** "sm_90" (cubin) or "compute_90" (PTX, compiled by the driver). */
  const std::string& target() const { return target_; }
  bool fromCache() const { return fromCache_; }
  /** The cache file (empty when the cache is off). */
  const std::string& cachePath() const { return cachePath_; }

 private:
  KernelModule() = default;
  cudaLibrary_t library_ = nullptr;
  std::map<std::string, cudaKernel_t> kernels_;
  std::string target_;
  bool fromCache_ = false;
  std::string cachePath_;
};

}  // namespace cuda
}  // namespace mcpc
