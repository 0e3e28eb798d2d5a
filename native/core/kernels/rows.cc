// Portable row kernels (the baseline build assumes only SSE2) and the run-time choice of ISA.
#include "rows.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace mcpc {
namespace rows {
namespace {

void SoftmaxRow(const float* x, float* y, int64_t n, bool log) {
  float mx = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i) mx = std::max(mx, x[i]);
  double sum = 0;
  if (log) {
    for (int64_t i = 0; i < n; ++i) sum += std::exp(x[i] - mx);
    const float lse = mx + static_cast<float>(std::log(sum));
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] - lse;
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    y[i] = std::exp(x[i] - mx);
    sum += y[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) y[i] *= inv;
}

void LayerNormRow(const float* x, float* y, int64_t n, const float* scale, const float* bias, float eps, float* mean, float* invStd) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += x[i];
  const float m = static_cast<float>(s / n);
  double q = 0;
  for (int64_t i = 0; i < n; ++i) q += double(x[i] - m) * (x[i] - m);
  const float inv = static_cast<float>(1.0 / std::sqrt(q / n + eps));
  for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - m) * inv * scale[i] + (bias ? bias[i] : 0.0f);
  *mean = m;
  *invStd = inv;
}

const RowKernels kPortable{"portable", &SoftmaxRow, &LayerNormRow};
const RowKernels* g_forced = nullptr;

const RowKernels* Detect() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("fma")) return Avx512();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Avx2();
  return &kPortable;
}

}  // namespace

const RowKernels& Active() {
  static const RowKernels* detected = Detect();
  return g_forced ? *g_forced : *detected;
}

bool Force(const char* name) {
  __builtin_cpu_init();
  if (!std::strcmp(name, "portable")) g_forced = &kPortable;
  else if (!std::strcmp(name, "avx2") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) g_forced = Avx2();
  else if (!std::strcmp(name, "avx512") && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")) g_forced = Avx512();
  else return false;
  return true;
}

}  // namespace rows
}  // namespace mcpc
