// AVX-512 packing loops of the vectorized im2col (conv_im2col.h): for each vector of output
// positions (16 columns of a B panel, or the 8 rows of an A panel), every row of the K block is
// assembled from the vector's segments (masked loads for stride 1, the even lanes of 16-float loads
// for stride 2, a gather otherwise) and stored aligned. Also the way back from a transposed GEMM
// output, in 16 x 16 register blocks.
#include <immintrin.h>

#include <algorithm>

#include "conv_im2col.h"

namespace mcpc {
namespace conv {
namespace {

/** 16 lanes in a zmm (B panels). */
struct Zmm {
  static constexpr int kLanes = 16;
  using V = __m512;
  using I = __m512i;
  static V Zero() { return _mm512_setzero_ps(); }
  static V LoadFull(const float* p) { return _mm512_loadu_ps(p); }
  static void Store(float* p, V v) { _mm512_store_ps(p, v); }
  static I LanesTimes(int64_t step) {
    return _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(static_cast<int>(step)));
  }
  template <int STEP>
  static V Load(V acc, LaneMasks m, const float* p, I lts) {
    if constexpr (STEP == 1) {
      return _mm512_mask_loadu_ps(acc, m.lanes, p);
    } else if constexpr (STEP == 2) {
      const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
      const __m512 v = _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(m.lo, p), even, _mm512_maskz_loadu_ps(m.hi, p + 16));
      return _mm512_mask_mov_ps(acc, m.lanes, v);
    } else {
      return _mm512_mask_i32gather_ps(acc, m.lanes, lts, p, 4);
    }
  }
};

/** 8 lanes in a ymm (A panels, MR = 8). */
struct Ymm {
  static constexpr int kLanes = 8;
  using V = __m256;
  using I = __m256i;
  static V Zero() { return _mm256_setzero_ps(); }
  static V LoadFull(const float* p) { return _mm256_loadu_ps(p); }
  static void Store(float* p, V v) { _mm256_store_ps(p, v); }
  static I LanesTimes(int64_t step) {
    return _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(static_cast<int>(step)));
  }
  template <int STEP>
  static V Load(V acc, LaneMasks m, const float* p, I lts) {
    const __mmask8 lanes = static_cast<__mmask8>(m.lanes);
    if constexpr (STEP == 1) {
      return _mm256_mask_loadu_ps(acc, lanes, p);
    } else if constexpr (STEP == 2) {
      // Full-mask maskz forms: GCC 12 flags the plain ones' undefined pass-through operand.
      const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
      const __m512 v = _mm512_maskz_permutexvar_ps(0xFFFF, even, _mm512_maskz_loadu_ps(m.lo, p));
      return _mm256_mask_mov_ps(acc, lanes, _mm512_maskz_extractf32x8_ps(0xFF, v, 0));
    } else {
      return _mm256_mmask_i32gather_ps(acc, lanes, lts, p, 4);
    }
  }
};

/** What one vector's rows need: its segments' offsets and mask sets, and the K block's rows. */
struct VecArgs {
  const int32_t* off;      // n segment offsets
  const LaneMasks* masks;  // mask set 0 of the first segment; set t is `stride` further
  int64_t stride;          // segments in the geometry
  const int32_t* rows;     // kcb row offsets
  int64_t kcb, w;          // rows, and floats between rows in the output panel
  int64_t taps, first;     // mask sets, and the set of row 0 (rows cycle through the sets)
};

/**
 * Rows [r0, kcb) step `step` of one vector of N segments (n when N == 0), all with mask set m,
 * into d + r * w. The masks stay in mask registers over the loop.
 */
template <typename T, int STEP, int N>
void Rows(const VecArgs& a, const LaneMasks* m, int n, int64_t r0, int64_t step, const float* x, float* d, typename T::I lts) {
  constexpr int kFull = (1 << T::kLanes) - 1;
  if constexpr (N == 1) {
    const LaneMasks m0 = m[0];
    const float* p = x + a.off[0];
    if (STEP == 1 && m0.lanes == kFull) {
      for (int64_t r = r0; r < a.kcb; r += step) T::Store(d + r * a.w, T::LoadFull(p + a.rows[r]));
      return;
    }
    for (int64_t r = r0; r < a.kcb; r += step) T::Store(d + r * a.w, T::template Load<STEP>(T::Zero(), m0, p + a.rows[r], lts));
  } else if constexpr (N > 0) {
    int32_t off[N];
    LaneMasks mk[N];
    for (int i = 0; i < N; ++i) off[i] = a.off[i], mk[i] = m[i];
    for (int64_t r = r0; r < a.kcb; r += step) {
      const float* xr = x + a.rows[r];
      typename T::V acc = T::Zero();
#pragma GCC unroll 4
      for (int i = 0; i < N; ++i) acc = T::template Load<STEP>(acc, mk[i], xr + off[i], lts);
      T::Store(d + r * a.w, acc);
    }
  } else {
    for (int64_t r = r0; r < a.kcb; r += step) {
      const float* xr = x + a.rows[r];
      typename T::V acc = T::Zero();
      for (int i = 0; i < n; ++i) acc = T::template Load<STEP>(acc, m[i], xr + a.off[i], lts);
      T::Store(d + r * a.w, acc);
    }
  }
}

/** All kcb rows of one vector: one pass over the rows of each mask set (tap). */
template <typename T, int STEP, int N>
void Vector(const VecArgs& a, int n, const float* x, float* d, typename T::I lts) {
  for (int64_t t = 0; t < std::min(a.taps, a.kcb); ++t) {
    const int64_t set = (a.first + t) % a.taps;
    Rows<T, STEP, N>(a, a.masks + set * a.stride, n, t, a.taps, x, d, lts);
  }
}

template <typename T, int STEP>
void VectorAny(const VecArgs& a, int n, const float* x, float* d, typename T::I lts) {
  switch (n) {
    case 0:
      for (int64_t k = 0; k < a.kcb; ++k) T::Store(d + k * a.w, T::Zero());
      return;
    case 1: return Vector<T, STEP, 1>(a, n, x, d, lts);
    case 2: return Vector<T, STEP, 2>(a, n, x, d, lts);
    case 3: return Vector<T, STEP, 3>(a, n, x, d, lts);
    case 4: return Vector<T, STEP, 4>(a, n, x, d, lts);
    default: return Vector<T, STEP, 0>(a, n, x, d, lts);
  }
}

template <typename T>
void PackBlock(const ColGeometry& g, const float* x, const gemm::PackedLayout& lay, int64_t kb, int64_t p0, int64_t p1, float* out) {
  const int64_t k0 = kb * lay.kc;
  const int64_t kcb = std::min<int64_t>(lay.kc, lay.k - k0);
  const int64_t vecPerPanel = lay.panel / T::kLanes;
  const typename T::I lts = T::LanesTimes(g.step);
  VecArgs a;
  a.stride = g.segments();
  a.rows = g.rowOffset.data() + k0;
  a.kcb = kcb;
  a.taps = g.taps;
  a.first = k0 % g.taps;
  const int64_t vectors = static_cast<int64_t>(g.vecSegs.size()) - 1;
  for (int64_t p = p0; p < p1; ++p) {
    float* d = out + (p - p0) * kcb * lay.panel;
    const int w = lay.width(p);
    a.w = w;
    for (int q = 0; q < w / T::kLanes; ++q) {
      const int64_t v = p * vecPerPanel + q;
      const int64_t s0 = v < vectors ? g.vecSegs[v] : 0;
      const int n = v < vectors ? static_cast<int>(g.vecSegs[v + 1] - s0) : 0;
      a.off = g.segOff.data() + s0;
      a.masks = g.masks.data() + s0;
      float* dv = d + q * T::kLanes;
      if (g.step == 1) VectorAny<T, 1>(a, n, x, dv, lts);
      else if (g.step == 2) VectorAny<T, 2>(a, n, x, dv, lts);
      else VectorAny<T, 0>(a, n, x, dv, lts);
    }
  }
}

/** In-register transpose of 16 rows of 16 floats: r[i][j] -> r[j][i]. (Full-mask maskz forms: GCC 12
 *  flags the plain ones' undefined pass-through operand.) */
inline void Transpose16(__m512 r[16]) {
  __m512 t[16], u[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_maskz_unpacklo_ps(0xFFFF, r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_maskz_unpackhi_ps(0xFFFF, r[2 * i], r[2 * i + 1]);
  }
  // u[4i + j], lane L: column 4L + j of rows 4i..4i+3.
  for (int i = 0; i < 4; ++i) {
    const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]);
    const __m512d c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
    u[4 * i] = _mm512_castpd_ps(_mm512_maskz_unpacklo_pd(0xFF, a, c));
    u[4 * i + 1] = _mm512_castpd_ps(_mm512_maskz_unpackhi_pd(0xFF, a, c));
    u[4 * i + 2] = _mm512_castpd_ps(_mm512_maskz_unpacklo_pd(0xFF, b, d));
    u[4 * i + 3] = _mm512_castpd_ps(_mm512_maskz_unpackhi_pd(0xFF, b, d));
  }
  for (int j = 0; j < 4; ++j) {
    const __m512 v0 = _mm512_maskz_shuffle_f32x4(0xFFFF, u[j], u[4 + j], 0x88), v1 = _mm512_maskz_shuffle_f32x4(0xFFFF, u[j], u[4 + j], 0xdd);
    const __m512 v2 = _mm512_maskz_shuffle_f32x4(0xFFFF, u[8 + j], u[12 + j], 0x88), v3 = _mm512_maskz_shuffle_f32x4(0xFFFF, u[8 + j], u[12 + j], 0xdd);
    r[j] = _mm512_maskz_shuffle_f32x4(0xFFFF, v0, v2, 0x88);
    r[8 + j] = _mm512_maskz_shuffle_f32x4(0xFFFF, v0, v2, 0xdd);
    r[4 + j] = _mm512_maskz_shuffle_f32x4(0xFFFF, v1, v3, 0x88);
    r[12 + j] = _mm512_maskz_shuffle_f32x4(0xFFFF, v1, v3, 0xdd);
  }
}

}  // namespace

void TransposeOutAvx512(const TransposeArgs& t, int64_t m0, int64_t m1) {
  const __m512 lower = _mm512_set1_ps(t.lo), upper = _mm512_set1_ps(t.hi);
  const int64_t P = t.P;
  for (int64_t mb = m0; mb < m1; mb += 16) {
    const int mc = static_cast<int>(std::min<int64_t>(16, m1 - mb));
    const __mmask16 mMask = static_cast<__mmask16>((1u << mc) - 1);
    for (int64_t pb = 0; pb < P; pb += 16) {
      const int pc = static_cast<int>(std::min<int64_t>(16, P - pb));
      const __mmask16 pMask = static_cast<__mmask16>((1u << pc) - 1);
      __m512 r[16];
      for (int i = 0; i < 16; ++i) {
        r[i] = _mm512_setzero_ps();
        if (i >= pc) continue;
        const float* zi = t.z + (pb + i) * t.ldz + mb;
        for (int q = 0; q < t.parts; ++q) r[i] = _mm512_add_ps(r[i], _mm512_maskz_loadu_ps(mMask, zi + q * t.partStride));
      }
      Transpose16(r);
      for (int j = 0; j < mc; ++j) {
        const int64_t m = mb + j;
        __m512 v = r[j];
        if (t.bias) v = _mm512_add_ps(v, _mm512_set1_ps(t.bias[m]));
        if (t.residual) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(pMask, t.residual + m * P + pb));
        // Bounds first: vmaxps/vminps return the second operand when one is NaN.
        if (t.clamp) v = _mm512_mask_min_ps(v, 0xFFFF, upper, _mm512_mask_max_ps(v, 0xFFFF, lower, v));
        _mm512_mask_storeu_ps(t.y + m * P + pb, pMask, v);
      }
    }
  }
}

void PackColumnBlockAvx512(const ColGeometry& g, const float* x, const gemm::PackedLayout& lay, int64_t kb, int64_t p0, int64_t p1,
                           float* out) {
  if (lay.bSide) PackBlock<Zmm>(g, x, lay, kb, p0, p1, out);
  else PackBlock<Ymm>(g, x, lay, kb, p0, p1, out);
}

}  // namespace conv
}  // namespace mcpc
