// Depthwise 2-D convolution kernels (one input channel per output channel, dilation 1): conv.cc
// copies each input plane into a zero-bordered scratch plane (DwScratch) and calls the plane kernel
// of the machine's ISA, which then needs no bounds checks. Rows of the scratch plane are `wp` floats
// wide with slack on the right, so a vector that runs past the last output column reads zeros or
// the next row, never past the buffer; those lanes are not stored.
#pragma once

#include <cstdint>
#include <limits>

namespace mcpc {
namespace dw {

struct DwPlaneArgs {
  int64_t oh = 0, ow = 0;  // output plane
  int64_t wp = 0;          // scratch row width (floats)
  int kh = 0, kw = 0, sh = 1, sw = 1;
  const float* w = nullptr;  // kh * kw taps
  float bias = 0;
  // Each output is clamped to [lo, hi] (a fused Relu or Clip); NaN passes through.
  float lo = -std::numeric_limits<float>::infinity(), hi = std::numeric_limits<float>::infinity();
};

/** Scratch row width for an output row of `ow` columns: 16-column vectors at stride `sw`, plus slack. */
inline int64_t ScratchWidth(int64_t ow, int kw, int sw) { return (ow + 15) / 16 * 16 * sw + kw + 16; }
/** Scratch rows: every row a tap reads, plus one of slack for the last vector's over-read. */
inline int64_t ScratchRows(int64_t oh, int kh, int sh) { return (oh - 1) * sh + kh + 1; }

/** y (oh x ow) = clamp(bias + sum of taps over the padded plane xp (row width wp), lo, hi). */
void PlaneAvx512(const DwPlaneArgs& a, const float* xp, float* y);
void PlaneAvx2(const DwPlaneArgs& a, const float* xp, float* y);

}  // namespace dw
}  // namespace mcpc
