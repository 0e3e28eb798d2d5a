// Single-precision GEMM for the CPU kernels: C (+)= op(A) * op(B), then an optional fused epilogue
// (bias, residual add, ReLU/clip). Both operands go through a packed layout so that a constant
// operand (MatMul/Gemm weights as B, Conv weights as A) is packed once at Prepare; the other one is
// packed per call. The micro-kernel (AVX-512, AVX2 or portable) is chosen once at run time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

namespace mcpc {

class ThreadPool;

namespace gemm {

/** Applied to each finished C tile while it is still in registers: act(acc + bias + residual). */
struct Epilogue {
  enum class Act : uint8_t { None, Relu, Clip };
  const float* bias = nullptr;  // N values (per column), or M values when biasPerRow
  bool biasPerRow = false;
  const float* residual = nullptr;  // M x N with leading dim ldResidual; may alias C
  int64_t ldResidual = 0;
  Act act = Act::None;
  float clipMin = 0, clipMax = 0;

  bool empty() const { return !bias && !residual && act == Act::None; }
};

/** One micro-kernel call's epilogue: pointers already offset to the tile. */
struct TileEpilogue {
  const float* bias;
  bool biasPerRow;
  const float* residual;
  int64_t ldResidual;
  Epilogue::Act act;
  float clipMin, clipMax;
};

/**
 * Computes an m x n tile (m <= MR, n <= NR) over kc steps: a is MR floats per step, b is `bw`
 * floats per step (the panel's width, a multiple of the vector width >= n). Stores C = acc, or
 * C += acc when `accumulate`, then applies `ep` when non-null.
 */
using MicroKernel = void (*)(int64_t kc, const float* a, const float* b, int64_t bw, float* c, int64_t ldc, int m, int n,
                             bool accumulate, const TileEpilogue* ep);

struct Arch {
  const char* name;
  int mr;      // rows per micro-tile
  int nr;      // columns per micro-tile (a multiple of vw)
  int vw;      // vector width in floats: packed panels are rounded up to it
  int kc;      // depth of one packed K block
  MicroKernel kernel;
};

/** The micro-kernel set for this machine (AVX-512, AVX2 or portable), chosen on first use. */
const Arch& ActiveArch();
/** For tests: force "avx512", "avx2" or "portable"; returns false when the machine lacks it. */
bool ForceArch(const char* name);

/**
 * Packed layout of a rows x K operand for the A side (rows = M, micro-panels of MR rows) or the B
 * side (rows = N, micro-panels of NR columns). K is cut into blocks of kc; within a block, panel p
 * holds kcb x width floats (width = MR for A; NR, or the tail rounded up to vw, for B).
 */
struct PackedLayout {
  int64_t rows = 0, k = 0;
  int panel = 0;  // MR or NR
  int vw = 1;     // rounding of the last panel (B side); MR panels are always full width
  int kc = 0;
  bool bSide = false;

  int64_t panels() const { return (rows + panel - 1) / panel; }
  int64_t kBlocks() const { return (k + kc - 1) / kc; }
  int width(int64_t p) const;
  /** Floats in the whole packed buffer. */
  size_t size() const;
  /** Offset of panel p in K block kb. */
  size_t offset(int64_t kb, int64_t p) const;
};

PackedLayout LayoutA(int64_t M, int64_t K);
PackedLayout LayoutB(int64_t K, int64_t N);

/** 64-byte aligned float buffer. */
struct AlignedBuffer {
  struct Free { void operator()(float* p) const; };
  std::unique_ptr<float, Free> ptr;
  size_t count = 0;
  float* data() const { return ptr.get(); }
  /** Grows (never shrinks) to at least n floats; contents are not kept. */
  void reserve(size_t n);
};

/**
 * Packs A (M x K, element (i,k) at a[i*lda + k], or a[k*lda + i] when transposed) times `scale`.
 * With a pool, packing is split over panels.
 */
void PackA(const float* a, int64_t lda, bool trans, int64_t M, int64_t K, float scale, float* dst, ThreadPool* pool);
/** Packs B (K x N, element (k,j) at b[k*ldb + j], or b[j*ldb + k] when transposed) times `scale`. */
void PackB(const float* b, int64_t ldb, bool trans, int64_t K, int64_t N, float scale, float* dst, ThreadPool* pool);
/** Copies row k (n values of the K x N B operand, already computed elsewhere) into packed B. */
void PackBRow(const PackedLayout& lay, int64_t k, const float* row, float* dst);

/**
 * Packs panels [p0, p1) of K block kb of a B operand (layout LayoutB(K, N)); panel p goes to
 * out + (p - p0) * kcb * NR, as within one block of the layout.
 */
using PackBBlockFn = std::function<void(int64_t kb, int64_t p0, int64_t p1, float* out)>;

/** A PackBBlockFn body for a plain K x N matrix b (element (k, j) at b[k * ldb + j]). */
void PackBBlock(const float* b, int64_t ldb, const PackedLayout& lb, int64_t kb, int64_t p0, int64_t p1, float* out);

/** C (+)= Apacked * Bpacked, then the epilogue. Splits tiles of C over the pool (nullptr: inline). */
void GemmPacked(int64_t M, int64_t N, int64_t K, const float* ap, const float* bp, float* c, int64_t ldc, bool accumulate,
                const Epilogue& ep, ThreadPool* pool);

/**
 * Partial products C_t = A[:, K_t] x B[K_t, :] over contiguous, equal ranges K_t of K, one per
 * thread of the pool (at most one per 64 steps of K), each run by one thread over all of C: for a
 * small C with a deep K (a 7x7 plane) whose few tiles would share out badly, and where tiles split
 * over M would each stream all of B. Part t goes to c + t * partStride (leading dim ldc); no
 * epilogue. Returns the number of parts; their sum is C.
 */
int GemmPackedSplitK(int64_t M, int64_t N, int64_t K, const float* ap, const float* bp, float* c, int64_t ldc, int64_t partStride,
                     ThreadPool* pool);

/**
 * C (+)= Apacked * B, then the epilogue, with B packed inside the tiles: the pool's tasks are
 * ranges of column panels (all of M), and each packs its kc x columns slice of B with `packB` into
 * a per-thread buffer right before multiplying by it. The packed B never leaves the cache, and
 * packing is shared out like the arithmetic, with no pass or barrier of its own. For a wide B
 * (tens of panels) that is expensive to pack (im2col); a narrow one gives too few tasks.
 */
void GemmPackBInTiles(int64_t M, int64_t N, int64_t K, const float* ap, const PackBBlockFn& packB, float* c, int64_t ldc, bool accumulate,
                      const Epilogue& ep, ThreadPool* pool);

/**
 * Convenience entry point with packing done here: C = alpha*op(A)*op(B) + beta*C, then `ep`.
 * `scratch` holds the packed operands between calls.
 */
void Sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc, const Epilogue& ep, ThreadPool* pool,
           AlignedBuffer* scratch);

/** Same as Sgemm with B already packed by PackB (alpha folded into the packing). */
void SgemmPackedB(bool transA, int64_t M, int64_t N, int64_t K, const float* a, int64_t lda, const float* bp, float beta,
                  float* c, int64_t ldc, const Epilogue& ep, ThreadPool* pool, AlignedBuffer* scratch);

// Micro-kernel sets compiled with their own ISA flags.
const Arch* Avx512Arch();
const Arch* Avx2Arch();

}  // namespace gemm
}  // namespace mcpc
