// Vectorized row kernels shared by Softmax/LogSoftmax and LayerNormalization: one contiguous row
// at a time, with a polynomial exp. Each ISA (AVX-512, AVX2, portable) provides the same table; the
// best one for this machine is chosen on first use.
#pragma once

#include <cstdint>

namespace mcpc {
namespace rows {

struct RowKernels {
  const char* name;
  /** y = softmax(x) over n values, or log-softmax when `log`. y may alias x. */
  void (*softmax)(const float* x, float* y, int64_t n, bool log);
  /**
   * y = (x - mean) / sqrt(var + eps) * scale + bias over n values (bias may be null); writes the
   * row's mean and 1/sqrt(var + eps) to *mean / *invStd. y may alias x.
   */
  void (*layerNorm)(const float* x, float* y, int64_t n, const float* scale, const float* bias, float eps, float* mean, float* invStd);
};

const RowKernels& Active();
/** For tests: "avx512", "avx2" or "portable"; false when the machine lacks it. */
bool Force(const char* name);

const RowKernels* Avx512();
const RowKernels* Avx2();

}  // namespace rows
}  // namespace mcpc
