// AVX-512 row kernels: softmax / log-softmax with a degree-6 polynomial exp (|rel err| < 2e-7 on
// the reduced range, 2^n applied with vscalefps) and a two-pass layer-norm row. Tails are masked.
// GCC 12's AVX-512 headers pass _mm512_undefined_ps() operands that trip these warnings.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cmath>

#include "rows.h"

namespace mcpc {
namespace rows {
namespace {

inline __m512 Exp(__m512 x) {
  x = _mm512_mask_max_ps(x, 0xFFFF, x, _mm512_set1_ps(-87.33654f));
  x = _mm512_mask_min_ps(x, 0xFFFF, x, _mm512_set1_ps(88.72283f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.3888889e-3f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3333333e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1666667e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666667e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}

inline __mmask16 Tail(int64_t rest) { return static_cast<__mmask16>(rest >= 16 ? 0xFFFF : (1u << rest) - 1); }

void SoftmaxRow(const float* x, float* y, int64_t n, bool log) {
  __m512 vmax = _mm512_set1_ps(-INFINITY);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = Tail(n - i);
    vmax = _mm512_mask_max_ps(vmax, m, vmax, _mm512_maskz_loadu_ps(m, x + i));
  }
  const float mx = _mm512_reduce_max_ps(vmax);
  const __m512 vm = _mm512_set1_ps(mx);
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512 e0 = Exp(_mm512_sub_ps(_mm512_loadu_ps(x + i), vm));
    const __m512 e1 = Exp(_mm512_sub_ps(_mm512_loadu_ps(x + i + 16), vm));
    if (!log) {
      _mm512_storeu_ps(y + i, e0);
      _mm512_storeu_ps(y + i + 16, e1);
    }
    s0 = _mm512_add_ps(s0, e0);
    s1 = _mm512_add_ps(s1, e1);
  }
  for (; i < n; i += 16) {
    const __mmask16 m = Tail(n - i);
    const __m512 e = _mm512_maskz_mov_ps(m, Exp(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), vm)));
    if (!log) _mm512_mask_storeu_ps(y + i, m, e);
    s0 = _mm512_add_ps(s0, e);
  }
  const float sum = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
  if (log) {
    const __m512 lse = _mm512_set1_ps(mx + std::log(sum));
    for (i = 0; i < n; i += 16) {
      const __mmask16 m = Tail(n - i);
      _mm512_mask_storeu_ps(y + i, m, _mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), lse));
    }
    return;
  }
  const __m512 inv = _mm512_set1_ps(1.0f / sum);
  for (i = 0; i < n; i += 16) {
    const __mmask16 m = Tail(n - i);
    _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, y + i), inv));
  }
}

void LayerNormRow(const float* x, float* y, int64_t n, const float* scale, const float* bias, float eps, float* mean, float* invStd) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm512_add_ps(s0, _mm512_loadu_ps(x + i));
    s1 = _mm512_add_ps(s1, _mm512_loadu_ps(x + i + 16));
  }
  for (; i < n; i += 16) s0 = _mm512_add_ps(s0, _mm512_maskz_loadu_ps(Tail(n - i), x + i));
  const float m = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1)) / static_cast<float>(n);
  const __m512 vm = _mm512_set1_ps(m);
  __m512 q0 = _mm512_setzero_ps(), q1 = _mm512_setzero_ps();
  for (i = 0; i + 32 <= n; i += 32) {
    const __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(x + i), vm);
    const __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(x + i + 16), vm);
    q0 = _mm512_fmadd_ps(d0, d0, q0);
    q1 = _mm512_fmadd_ps(d1, d1, q1);
  }
  for (; i < n; i += 16) {
    const __mmask16 t = Tail(n - i);
    const __m512 d = _mm512_maskz_sub_ps(t, _mm512_maskz_loadu_ps(t, x + i), vm);
    q0 = _mm512_fmadd_ps(d, d, q0);
  }
  const float var = _mm512_reduce_add_ps(_mm512_add_ps(q0, q1)) / static_cast<float>(n);
  const float inv = 1.0f / std::sqrt(var + eps);
  const __m512 vi = _mm512_set1_ps(inv);
  for (i = 0; i < n; i += 16) {
    const __mmask16 t = Tail(n - i);
    __m512 v = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(t, x + i), vm), vi);
    v = bias ? _mm512_fmadd_ps(v, _mm512_maskz_loadu_ps(t, scale + i), _mm512_maskz_loadu_ps(t, bias + i))
             : _mm512_mul_ps(v, _mm512_maskz_loadu_ps(t, scale + i));
    _mm512_mask_storeu_ps(y + i, t, v);
  }
  *mean = m;
  *invStd = inv;
}

}  // namespace

const RowKernels* Avx512() {
  static const RowKernels k{"avx512", &SoftmaxRow, &LayerNormRow};
  return &k;
}

}  // namespace rows
}  // namespace mcpc
