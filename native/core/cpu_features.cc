// Run-time CPU feature detection with the compiler's cpuid wrapper (which also checks that the OS
// saves the wider registers). MCPC_DISABLE_AVX512=1 / MCPC_DISABLE_AVX2=1 force the narrower
// paths, so both can be tested on one machine.
#include "cpu_features.h"

#include <cstdlib>
#include <cstring>

namespace mcpc {

namespace {
bool EnvSet(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' && std::strcmp(v, "0") != 0;
}

CpuFeatures Detect() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  f.avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && !EnvSet("MCPC_DISABLE_AVX2");
  f.avx512 = f.avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") && !EnvSet("MCPC_DISABLE_AVX512");
#endif
  return f;
}
}  // namespace

const CpuFeatures& GetCpuFeatures() {
  static const CpuFeatures features = Detect();
  return features;
}

}  // namespace mcpc
