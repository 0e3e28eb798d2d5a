// ReadCudaEnv: see cuda_env.h for the variables and their meaning.
#include "cuda_env.h"

#include <cstdlib>
#include <cstring>

namespace mcpc {
namespace cuda {

namespace {

const char* Get(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

}  // namespace

CudaEnv ReadCudaEnv() {
  CudaEnv env;
  if (const char* g = Get("MCPC_CUDA_GRAPH")) env.graph = std::strcmp(g, "0") != 0;
  if (const char* s = Get("MCPC_CUDA_SYNC")) env.syncEachKernel = std::strcmp(s, "0") != 0;
  if (const char* t = Get("MCPC_CUDA_TUNE")) env.tune = std::strcmp(t, "0") != 0;
  if (env.syncEachKernel) env.graph = false;
  if (const char* dir = Get("MCPC_CACHE_DIR")) {
    if (std::strcmp(dir, "off") != 0) env.cacheDir = dir;
  } else if (const char* xdg = Get("XDG_CACHE_HOME")) {
    env.cacheDir = std::string(xdg) + "/mcpc/cuda";
  } else if (const char* home = Get("HOME")) {
    env.cacheDir = std::string(home) + "/.cache/mcpc/cuda";
  }
  return env;
}

}  // namespace cuda
}  // namespace mcpc
