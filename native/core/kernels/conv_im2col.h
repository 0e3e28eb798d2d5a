// Column matrix of a convolution written straight into the GEMM's packed panels, with vector loads
// instead of per-element copies: as the B operand (K x outputs, panels of 16-column vectors) or,
// transposed, as the A operand (outputs x K, panels of 8 rows). At Prepare, ColGeometry maps every
// vector of output positions (16 or 8) to a few segments, runs of lanes that read equally spaced
// floats of one input row, so that row (c, kd, kh, kw) of the column matrix is those segments
// shifted by one offset. Lanes whose tap falls in the padding are masked off (read as zero), one
// mask set per tap; the loads never touch memory outside the input. AVX-512 only.
#pragma once

#include <cstdint>
#include <vector>

#include "gemm.h"
#include "window.h"

namespace mcpc {

class ThreadPool;

namespace conv {

/** The lanes of a segment that one tap reads: as lanes, and as elements 2*lane of two 16-float
 *  loads (stride 2; lanes 0-7 in lo, 8-15 in hi). */
struct LaneMasks {
  uint16_t lanes = 0, lo = 0, hi = 0;
};

struct ColGeometry {
  bool usable = false;  // false: not AVX-512, or offsets past int32
  int64_t step = 1;     // stride along W: lane L of a segment reads x[rowOffset + off + L * step]
  int lanes = 16;       // output positions per vector
  int64_t taps = 1;     // mask sets: kSize when some tap reads padding (row r uses set r % taps), else 1
  std::vector<int32_t> rowOffset;  // per column-matrix row (c, tap): c * inSize + tap offset
  std::vector<uint32_t> vecSegs;   // per vector: its first segment (size vectors + 1)
  std::vector<int32_t> segOff;     // per segment: input offset of lane 0's progression
  std::vector<LaneMasks> masks;    // taps x segments

  int64_t segments() const { return static_cast<int64_t>(segOff.size()); }
};

/**
 * Builds the geometry of one group's column matrix (channels x kSize rows, outSize columns), in
 * vectors of `lanes` (16: B side, 8: A side) output positions.
 */
ColGeometry BuildColGeometry(const Window3& w, int64_t channels, int lanes);

/**
 * Writes panels [p0, p1) of K block kb of the column matrix of input x (one group's channels) in
 * packed layout `lay`: B panels (16-lane vectors) when lay.bSide, else transposed A panels (8
 * rows). Panel p goes to out + (p - p0) * kcb * panel width, as within a block of the layout.
 */
void PackColumnBlockAvx512(const ColGeometry& g, const float* x, const gemm::PackedLayout& lay, int64_t kb, int64_t p0, int64_t p1,
                           float* out);

/** The whole packed column matrix, split over the pool by (K block, panel). */
void PackColumns(const ColGeometry& g, const float* x, const gemm::PackedLayout& lay, float* dst, ThreadPool* pool);

/** The way back from Y^T = col^T x W^T, given as `parts` partial products z. */
struct TransposeArgs {
  const float* z;
  int64_t ldz, partStride;
  int parts;
  int64_t P;              // positions (columns of y)
  const float* bias;      // per channel, or null
  const float* residual;  // like y, or null
  bool clamp;
  float lo, hi;
  float* y;
};

/** y[m][p] = clamp(sum over parts of z[p][m] + bias[m] + residual[m][p]) for channels m in [m0, m1). */
void TransposeOutAvx512(const TransposeArgs& t, int64_t m0, int64_t m1);

}  // namespace conv
}  // namespace mcpc
