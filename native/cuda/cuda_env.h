// The environment variables of the CUDA backend, read in one place (each time a session loads, so
// a process can change them between loads):
//   MCPC_CUDA_GRAPH=0   run kernels one by one on every run instead of replaying a CUDA graph
//   MCPC_CUDA_SYNC=1    synchronize after every kernel (implies no graph), so that an asynchronous
//                       fault names the kernel that caused it
//   MCPC_CUDA_TUNE=0    take cuBLASLt's and cuDNN's own algorithm ranking instead of timing the
//                       candidates on the GPU at load (faster loads, maybe slower runs)
//   MCPC_PROFILE        time every kernel between CUDA events (implies no graph) and report when the
//                       session goes, as on cpu (native/core/kernel_profile.h)
//   MCPC_CACHE_DIR      directory of the compiled-code cache; else $XDG_CACHE_HOME/mcpc/cuda, else
//                       ~/.cache/mcpc/cuda; MCPC_CACHE_DIR=off disables the cache
#pragma once

#include <string>

namespace mcpc {
namespace cuda {

struct CudaEnv {
  bool graph = true;
  bool syncEachKernel = false;
  bool tune = true;
  /** Empty when the cache is disabled or no directory can be found. */
  std::string cacheDir;
};

CudaEnv ReadCudaEnv();

}  // namespace cuda
}  // namespace mcpc
