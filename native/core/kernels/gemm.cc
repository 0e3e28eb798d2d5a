// GEMM driver: packing into the micro-kernels' panel layout, tiling of C for the thread pool, the
// portable micro-kernel and the run-time choice between AVX-512, AVX2 and portable code.
//
// Loop order inside one C tile (BLIS-like): K blocks of kc, then MR row panels (the A micro-panel,
// MR x kc, stays in L1), then NR column panels streamed from the tile's B block (kc x ~480 floats,
// in L2). Tiles of C are independent, so threads never share an output. Two variants share that
// loop (MultiplyBlock): GemmPackBInTiles, whose tasks pack their own slice of B just before using
// it, and GemmPackedSplitK, which gives each thread a range of K and a C of its own.
#include "gemm.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

#include "../thread_pool.h"

namespace mcpc {
namespace gemm {
namespace {

// ---------------------------------------------------------------------------------------------
// Portable micro-kernel (4 x 8); the baseline build must not assume more than SSE2.

constexpr int kPortableMR = 4;
constexpr int kPortableNR = 8;

void ApplyEpilogueScalar(const TileEpilogue* ep, int i, int j, float* v) {
  if (!ep) return;
  if (ep->bias) *v += ep->biasPerRow ? ep->bias[i] : ep->bias[j];
  if (ep->residual) *v += ep->residual[i * ep->ldResidual + j];
  if (ep->act == Epilogue::Act::Relu) *v = std::max(*v, 0.0f);
  else if (ep->act == Epilogue::Act::Clip) *v = std::min(std::max(*v, ep->clipMin), ep->clipMax);
}

void PortableKernel(int64_t kc, const float* a, const float* b, int64_t bw, float* c, int64_t ldc, int m, int n,
                    bool accumulate, const TileEpilogue* ep) {
  float acc[kPortableMR][kPortableNR] = {};
  for (int64_t k = 0; k < kc; ++k) {
    for (int i = 0; i < kPortableMR; ++i) {
      const float av = a[i];
      for (int j = 0; j < kPortableNR; ++j) acc[i][j] += av * b[j];
    }
    a += kPortableMR;
    b += bw;
  }
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      float v = acc[i][j] + (accumulate ? c[i * ldc + j] : 0.0f);
      ApplyEpilogueScalar(ep, i, j, &v);
      c[i * ldc + j] = v;
    }
  }
}

const Arch kPortable{"portable", kPortableMR, kPortableNR, kPortableNR, 256, &PortableKernel};

const Arch* g_forced = nullptr;

const Arch* DetectArch() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("fma")) {
    return Avx512Arch();
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Avx2Arch();
  return &kPortable;
}

TileEpilogue MakeTileEpilogue(const Epilogue& ep, int64_t i0, int64_t j0) {
  TileEpilogue t;
  t.bias = ep.bias ? ep.bias + (ep.biasPerRow ? i0 : j0) : nullptr;
  t.biasPerRow = ep.biasPerRow;
  t.residual = ep.residual ? ep.residual + i0 * ep.ldResidual + j0 : nullptr;
  t.ldResidual = ep.ldResidual;
  t.act = ep.act;
  t.clipMin = ep.clipMin;
  t.clipMax = ep.clipMax;
  return t;
}

/** Splits `count` panels into chunks of at most `most`, as evenly as possible. */
int64_t EvenChunk(int64_t count, int64_t most) {
  most = std::max<int64_t>(1, most);
  const int64_t chunks = (count + most - 1) / most;
  return (count + chunks - 1) / chunks;
}

void ForRange(ThreadPool* pool, int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  if (pool && pool->threads() > 1 && n > grain) pool->ParallelFor(n, grain, fn);
  else fn(0, n);
}

/**
 * One row of a B panel: `cols` floats, then zeros up to the panel width w. Full 48- and 16-wide
 * rows copy with a constant size (inlined as a few vector moves, where a call would cost as much).
 */
inline void CopyPanelRow(float* d, const float* s, int cols, int w) {
  if (cols == 48 && w == 48) {
    std::memcpy(d, s, sizeof(float) * 48);
  } else if (cols == 16 && w == 16) {
    std::memcpy(d, s, sizeof(float) * 16);
  } else {
    std::memcpy(d, s, sizeof(float) * cols);
    for (int j = cols; j < w; ++j) d[j] = 0.0f;
  }
}

/** Runs tile(0..total-1) on the pool. */
template <typename F>
void ForTiles(int64_t total, ThreadPool* pool, const F& tile) {
  const int threads = pool ? pool->threads() : 1;
  if (threads <= 1 || total <= 1) {
    for (int64_t t = 0; t < total; ++t) tile(t);
    return;
  }
  // Tiles differ in size (edges) and threads in speed (shared cores): hand them out dynamically,
  // whatever chunking the pool does with the per-thread calls.
  std::atomic<int64_t> next{0};
  pool->ParallelFor(std::min<int64_t>(threads, total), 1, [&](int64_t, int64_t) {
    for (int64_t t = next.fetch_add(1); t < total; t = next.fetch_add(1)) tile(t);
  });
}

struct BlockArgs {
  const Arch& ar;
  const PackedLayout &la, &lb;
  int64_t M, N;
  float* c;
  int64_t ldc;
  bool accumulate;
  const Epilogue& ep;
};

/**
 * Steps [k0, k1) of K block kb (all of it by default) of row panels [pi0, pi1) x column panels
 * [pj0, pj1): A from the packed A, B from `b`, the block's panels from pj0 on. C is stored by the
 * first K block (unless accumulating) and takes the epilogue with the last one.
 */
void MultiplyBlock(const BlockArgs& g, int64_t kb, const float* ap, int64_t pi0, int64_t pi1, const float* b, int64_t pj0, int64_t pj1,
                   int64_t k0 = 0, int64_t k1 = -1, bool first = false, bool last = false) {
  const Arch& ar = g.ar;
  const int64_t kcb = std::min<int64_t>(ar.kc, g.la.k - kb * ar.kc);
  if (k1 < 0) {
    k1 = kcb;
    first = kb == 0;
    last = kb == g.la.kBlocks() - 1;
  }
  const bool acc = g.accumulate || !first;
  const bool withEp = last && !g.ep.empty();
  for (int64_t pi = pi0; pi < pi1; ++pi) {
    const float* a = ap + g.la.offset(kb, pi) + k0 * ar.mr;
    const int64_t i0 = pi * ar.mr;
    const int m = static_cast<int>(std::min<int64_t>(ar.mr, g.M - i0));
    for (int64_t pj = pj0; pj < pj1; ++pj) {
      const int64_t j0 = pj * ar.nr;
      const int n = static_cast<int>(std::min<int64_t>(ar.nr, g.N - j0));
      const int bw = g.lb.width(pj);
      TileEpilogue te;
      if (withEp) te = MakeTileEpilogue(g.ep, i0, j0);
      ar.kernel(k1 - k0, a, b + (pj - pj0) * kcb * ar.nr + k0 * bw, bw, g.c + i0 * g.ldc + j0, g.ldc, m, n, acc, withEp ? &te : nullptr);
    }
  }
}

}  // namespace

const Arch& ActiveArch() {
  static const Arch* detected = DetectArch();
  return g_forced ? *g_forced : *detected;
}

bool ForceArch(const char* name) {
  const std::string n = name;
  __builtin_cpu_init();
  if (n == "portable") {
    g_forced = &kPortable;
  } else if (n == "avx2") {
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return false;
    g_forced = Avx2Arch();
  } else if (n == "avx512") {
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw") || !__builtin_cpu_supports("avx512vl") ||
        !__builtin_cpu_supports("avx512dq")) {
      return false;
    }
    g_forced = Avx512Arch();
  } else {
    return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Layout

int PackedLayout::width(int64_t p) const {
  if (!bSide || p < panels() - 1) return panel;
  const int64_t rest = rows - p * panel;
  return static_cast<int>((rest + vw - 1) / vw * vw);
}

size_t PackedLayout::size() const {
  if (rows == 0 || k == 0) return 0;
  const int64_t total = (panels() - 1) * panel + width(panels() - 1);
  return static_cast<size_t>(total * k);
}

size_t PackedLayout::offset(int64_t kb, int64_t p) const {
  const int64_t total = (panels() - 1) * panel + width(panels() - 1);
  const int64_t kcb = std::min<int64_t>(kc, k - kb * kc);
  return static_cast<size_t>(kb * kc * total + kcb * p * panel);
}

PackedLayout LayoutA(int64_t M, int64_t K) {
  const Arch& ar = ActiveArch();
  PackedLayout l;
  l.rows = M;
  l.k = K;
  l.panel = ar.mr;
  l.vw = ar.mr;
  l.kc = ar.kc;
  l.bSide = false;
  return l;
}

PackedLayout LayoutB(int64_t K, int64_t N) {
  const Arch& ar = ActiveArch();
  PackedLayout l;
  l.rows = N;
  l.k = K;
  l.panel = ar.nr;
  l.vw = ar.vw;
  l.kc = ar.kc;
  l.bSide = true;
  return l;
}

void AlignedBuffer::Free::operator()(float* p) const { std::free(p); }

void AlignedBuffer::reserve(size_t n) {
  if (n <= count) return;
  const size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
  ptr.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
  count = n;
}

// ---------------------------------------------------------------------------------------------
// Packing

void PackA(const float* a, int64_t lda, bool trans, int64_t M, int64_t K, float scale, float* dst, ThreadPool* pool) {
  const PackedLayout lay = LayoutA(M, K);
  const int mr = lay.panel;
  ForRange(pool, lay.panels(), 4, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t i0 = p * mr;
      const int rows = static_cast<int>(std::min<int64_t>(mr, M - i0));
      for (int64_t kb = 0; kb < lay.kBlocks(); ++kb) {
        const int64_t k0 = kb * lay.kc;
        const int64_t kcb = std::min<int64_t>(lay.kc, K - k0);
        float* d = dst + lay.offset(kb, p);
        if (rows < mr) std::memset(d, 0, sizeof(float) * kcb * mr);
        if (trans) {
          for (int64_t k = 0; k < kcb; ++k) {
            const float* src = a + (k0 + k) * lda + i0;
            for (int r = 0; r < rows; ++r) d[k * mr + r] = src[r] * scale;
          }
        } else {
          for (int r = 0; r < rows; ++r) {
            const float* src = a + (i0 + r) * lda + k0;
            for (int64_t k = 0; k < kcb; ++k) d[k * mr + r] = src[k] * scale;
          }
        }
      }
    }
  });
}

void PackBRow(const PackedLayout& lay, int64_t k, const float* row, float* dst) {
  const int64_t kb = k / lay.kc;
  const int64_t kk = k - kb * lay.kc;
  const int64_t np = lay.panels();
  for (int64_t p = 0; p < np; ++p) {
    const int w = lay.width(p);
    float* d = dst + lay.offset(kb, p) + kk * w;
    const int64_t j0 = p * lay.panel;
    const int64_t cols = std::min<int64_t>(w, lay.rows - j0);
    std::memcpy(d, row + j0, sizeof(float) * cols);
    for (int64_t j = cols; j < w; ++j) d[j] = 0.0f;
  }
}

void PackBBlock(const float* b, int64_t ldb, const PackedLayout& lb, int64_t kb, int64_t p0, int64_t p1, float* out) {
  const int64_t k0 = kb * lb.kc;
  const int64_t kcb = std::min<int64_t>(lb.kc, lb.k - k0);
  for (int64_t p = p0; p < p1; ++p) {
    const int w = lb.width(p);
    const int64_t j0 = p * lb.panel;
    const int cols = static_cast<int>(std::min<int64_t>(w, lb.rows - j0));
    float* d = out + (p - p0) * kcb * lb.panel;
    for (int64_t k = 0; k < kcb; ++k) CopyPanelRow(d + k * w, b + (k0 + k) * ldb + j0, cols, w);
  }
}

void PackB(const float* b, int64_t ldb, bool trans, int64_t K, int64_t N, float scale, float* dst, ThreadPool* pool) {
  const PackedLayout lay = LayoutB(K, N);
  const int nr = lay.panel;
  ForRange(pool, lay.panels(), 2, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t j0 = p * nr;
      const int w = lay.width(p);
      const int cols = static_cast<int>(std::min<int64_t>(w, N - j0));
      for (int64_t kb = 0; kb < lay.kBlocks(); ++kb) {
        const int64_t k0 = kb * lay.kc;
        const int64_t kcb = std::min<int64_t>(lay.kc, K - k0);
        float* d = dst + lay.offset(kb, p);
        if (cols < w) std::memset(d, 0, sizeof(float) * kcb * w);
        if (trans) {
          for (int j = 0; j < cols; ++j) {
            const float* src = b + (j0 + j) * ldb + k0;
            for (int64_t k = 0; k < kcb; ++k) d[k * w + j] = src[k] * scale;
          }
        } else {
          for (int64_t k = 0; k < kcb; ++k) {
            const float* src = b + (k0 + k) * ldb + j0;
            float* dk = d + k * w;
            if (scale == 1.0f) CopyPanelRow(dk, src, cols, cols);
            else for (int j = 0; j < cols; ++j) dk[j] = src[j] * scale;
          }
        }
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Driver

void GemmPacked(int64_t M, int64_t N, int64_t K, const float* ap, const float* bp, float* c, int64_t ldc, bool accumulate,
                const Epilogue& ep, ThreadPool* pool) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    for (int64_t i = 0; i < M; ++i) {
      for (int64_t j = 0; j < N; ++j) {
        float v = accumulate ? c[i * ldc + j] : 0.0f;
        if (!ep.empty()) {
          const TileEpilogue t = MakeTileEpilogue(ep, i, j);
          ApplyEpilogueScalar(&t, 0, 0, &v);
        }
        c[i * ldc + j] = v;
      }
    }
    return;
  }
  const Arch& ar = ActiveArch();
  const PackedLayout la = LayoutA(M, K);
  const PackedLayout lb = LayoutB(K, N);
  const int64_t mp = la.panels();
  const int64_t np = lb.panels();
  // A tile of C: up to ~96 rows x ~480 columns, so its B block (kc x 480) stays in L2.
  int64_t mcp = EvenChunk(mp, std::max(1, 96 / ar.mr));
  int64_t ncp = EvenChunk(np, std::max(1, 480 / ar.nr));
  const int threads = pool ? pool->threads() : 1;
  auto tiles = [&] { return ((mp + mcp - 1) / mcp) * ((np + ncp - 1) / ncp); };
  while (threads > 1 && tiles() < 8 * threads && (mcp > 1 || ncp > 1)) {
    if (mcp * ar.mr >= ncp * ar.nr && mcp > 1) mcp = EvenChunk(mp, (mcp + 1) / 2);
    else if (ncp > 1) ncp = EvenChunk(np, (ncp + 1) / 2);
    else mcp = EvenChunk(mp, (mcp + 1) / 2);
  }
  const int64_t mTiles = (mp + mcp - 1) / mcp;
  const int64_t nTiles = (np + ncp - 1) / ncp;
  const BlockArgs args{ar, la, lb, M, N, c, ldc, accumulate, ep};
  ForTiles(mTiles * nTiles, pool, [&](int64_t t) {
    // Column tiles outer: consecutive tiles reuse the same B block.
    const int64_t tn = t / mTiles;
    const int64_t tm = t % mTiles;
    const int64_t pi0 = tm * mcp, pi1 = std::min(mp, pi0 + mcp);
    const int64_t pj0 = tn * ncp, pj1 = std::min(np, pj0 + ncp);
    for (int64_t kb = 0; kb < la.kBlocks(); ++kb) MultiplyBlock(args, kb, ap, pi0, pi1, bp + lb.offset(kb, pj0), pj0, pj1);
  });
}

int GemmPackedSplitK(int64_t M, int64_t N, int64_t K, const float* ap, const float* bp, float* c, int64_t ldc, int64_t partStride,
                     ThreadPool* pool) {
  if (M <= 0 || N <= 0) return 0;
  const int parts = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(pool ? pool->threads() : 1, K / 64)));
  if (parts == 1 || K <= 0) {
    GemmPacked(M, N, K, ap, bp, c, ldc, false, Epilogue{}, nullptr);
    return 1;
  }
  const Arch& ar = ActiveArch();
  const PackedLayout la = LayoutA(M, K);
  const PackedLayout lb = LayoutB(K, N);
  auto part = [&](int64_t t) {
    const BlockArgs args{ar, la, lb, M, N, c + t * partStride, ldc, false, Epilogue{}};
    const int64_t kLo = K * t / parts, kHi = K * (t + 1) / parts;
    for (int64_t kb = kLo / ar.kc; kb * ar.kc < kHi; ++kb) {
      const int64_t base = kb * ar.kc;
      const int64_t k0 = std::max(kLo, base) - base, k1 = std::min(kHi, base + ar.kc) - base;
      MultiplyBlock(args, kb, ap, 0, la.panels(), bp + lb.offset(kb, 0), 0, lb.panels(), k0, k1, base + k0 == kLo, base + k1 == kHi);
    }
  };
  pool->ParallelFor(parts, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) part(t);
  });
  return parts;
}

void GemmPackBInTiles(int64_t M, int64_t N, int64_t K, const float* ap, const PackBBlockFn& packB, float* c, int64_t ldc, bool accumulate,
                      const Epilogue& ep, ThreadPool* pool) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) return GemmPacked(M, N, K, ap, nullptr, c, ldc, accumulate, ep, pool);
  const Arch& ar = ActiveArch();
  const PackedLayout la = LayoutA(M, K);
  const PackedLayout lb = LayoutB(K, N);
  const int64_t mp = la.panels();
  const int64_t np = lb.panels();
  const int threads = pool ? pool->threads() : 1;
  // Column ranges: about 8 tasks per thread, at most ~480 columns, and C's slice (M rows) within
  // ~256 KiB so that it stays in L2 between K blocks.
  int64_t ncp = std::min<int64_t>(np / (8 * threads), std::max(1, 480 / ar.nr));
  ncp = std::min<int64_t>(ncp, (int64_t(1) << 16) / (std::max<int64_t>(M, 1) * ar.nr));
  ncp = EvenChunk(np, std::max<int64_t>(1, ncp));
  const int64_t tasks = (np + ncp - 1) / ncp;
  const BlockArgs args{ar, la, lb, M, N, c, ldc, accumulate, ep};
  ForTiles(tasks, pool, [&](int64_t t) {
    const int64_t pj0 = t * ncp, pj1 = std::min(np, pj0 + ncp);
    thread_local AlignedBuffer slice;
    slice.reserve(static_cast<size_t>(ar.kc * ncp * ar.nr));
    for (int64_t kb = 0; kb < la.kBlocks(); ++kb) {
      packB(kb, pj0, pj1, slice.data());
      MultiplyBlock(args, kb, ap, 0, mp, slice.data(), pj0, pj1);
    }
  });
}

namespace {

bool PrepareC(int64_t M, int64_t N, float beta, float* c, int64_t ldc) {
  if (beta == 0.0f) return false;
  if (beta != 1.0f) {
    for (int64_t i = 0; i < M; ++i) {
      for (int64_t j = 0; j < N; ++j) c[i * ldc + j] *= beta;
    }
  }
  return true;
}

}  // namespace

void Sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc, const Epilogue& ep, ThreadPool* pool,
           AlignedBuffer* scratch) {
  const size_t sa = LayoutA(M, K).size();
  const size_t sb = LayoutB(K, N).size();
  const size_t sa64 = (sa + 15) / 16 * 16;
  scratch->reserve(sa64 + sb + 16);
  float* ap = scratch->data();
  float* bp = ap + sa64;
  PackA(a, lda, transA, M, K, alpha, ap, pool);
  PackB(b, ldb, transB, K, N, 1.0f, bp, pool);
  GemmPacked(M, N, K, ap, bp, c, ldc, PrepareC(M, N, beta, c, ldc), ep, pool);
}

void SgemmPackedB(bool transA, int64_t M, int64_t N, int64_t K, const float* a, int64_t lda, const float* bp, float beta,
                  float* c, int64_t ldc, const Epilogue& ep, ThreadPool* pool, AlignedBuffer* scratch) {
  scratch->reserve(LayoutA(M, K).size() + 16);
  PackA(a, lda, transA, M, K, 1.0f, scratch->data(), pool);
  GemmPacked(M, N, K, scratch->data(), bp, c, ldc, PrepareC(M, N, beta, c, ldc), ep, pool);
}

}  // namespace gemm
}  // namespace mcpc
