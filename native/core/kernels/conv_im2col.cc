// Geometry and parallel driver of the vectorized im2col (conv_im2col.h); the packing loops are in
// conv_im2col_avx512.cc.
#include "conv_im2col.h"

#include <algorithm>
#include <climits>
#include <string>

#include "../thread_pool.h"

namespace mcpc {
namespace conv {

ColGeometry BuildColGeometry(const Window3& w, int64_t channels, int lanes) {
  ColGeometry g;
  if (std::string(gemm::ActiveArch().name) != "avx512") return g;
  const int64_t inHW = w.in[1] * w.in[2], inSize = w.inSize();
  // Offsets are int32 (gather indices, compact tables); a segment's progression may start up to
  // a vector of strides before its first lane, or a padding's width before the input.
  if (channels * inSize + 64 * (w.stride[2] + w.padBegin[0] * inHW + w.padBegin[1] * w.in[2] + w.padBegin[2]) >= INT32_MAX) return g;
  bool pads = false;
  for (int d = 0; d < 3; ++d) {
    const int64_t need = (w.out[d] - 1) * w.stride[d] + (w.k[d] - 1) * w.dil[d] + 1;
    pads = pads || w.padBegin[d] > 0 || need > w.in[d];
  }
  g.step = w.stride[2];
  g.lanes = lanes;
  const int64_t ks = w.kSize();
  g.taps = pads ? ks : 1;

  g.rowOffset.resize(static_cast<size_t>(channels * ks));
  for (int64_t c = 0; c < channels; ++c) {
    for (int64_t t = 0; t < ks; ++t) {
      const int64_t kd = t / (w.k[1] * w.k[2]), kh = t / w.k[2] % w.k[1], kw = t % w.k[2];
      g.rowOffset[c * ks + t] = static_cast<int32_t>(c * inSize + kd * w.dil[0] * inHW + kh * w.dil[1] * w.in[2] + kw * w.dil[2]);
    }
  }

  // Segments: runs of lanes in one output row (od, oh). Without padding a new row continues the
  // segment when its input does (an unpadded stride-1 1x1 convolution reads whole planes).
  const int64_t P = w.outSize();
  const int64_t vectors = (P + lanes - 1) / lanes;
  const int64_t plane = w.out[1] * w.out[2];
  struct Run {
    int64_t od, oh, ow0;
    int lane0, lane1;
  };
  std::vector<Run> runs;
  g.vecSegs.reserve(vectors + 1);
  for (int64_t v = 0; v < vectors; ++v) {
    g.vecSegs.push_back(static_cast<uint32_t>(g.segOff.size()));
    int64_t row = -1;
    for (int lane = 0; lane < lanes && v * lanes + lane < P; ++lane) {
      const int64_t j = v * lanes + lane;
      const int64_t od = j / plane, oh = j % plane / w.out[2], ow = j % w.out[2];
      const int64_t base = ((od * w.stride[0] - w.padBegin[0]) * w.in[1] + oh * w.stride[1] - w.padBegin[1]) * w.in[2] + ow * g.step - w.padBegin[2];
      const bool continues = !pads && row >= 0 && base == g.segOff.back() + lane * g.step;
      if (od * w.out[1] + oh != row && !continues) {
        g.segOff.push_back(static_cast<int32_t>(base - lane * g.step));
        runs.push_back(Run{od, oh, ow - lane, lane, lane});
      }
      row = od * w.out[1] + oh;
      runs.back().lane1 = lane + 1;
    }
  }
  g.vecSegs.push_back(static_cast<uint32_t>(g.segOff.size()));

  // Mask sets: for tap t, the lanes of each segment whose input index is inside the input.
  const int64_t nseg = g.segments();
  g.masks.resize(static_cast<size_t>(g.taps * nseg));
  for (int64_t t = 0; t < g.taps; ++t) {
    const int64_t kd = t / (w.k[1] * w.k[2]), kh = t / w.k[2] % w.k[1], kw = t % w.k[2];
    for (int64_t s = 0; s < nseg; ++s) {
      const Run& r = runs[s];
      LaneMasks& m = g.masks[t * nseg + s];
      const int64_t id = r.od * w.stride[0] - w.padBegin[0] + kd * w.dil[0];
      const int64_t ih = r.oh * w.stride[1] - w.padBegin[1] + kh * w.dil[1];
      for (int lane = r.lane0; lane < r.lane1; ++lane) {
        const int64_t iw = (r.ow0 + lane) * g.step - w.padBegin[2] + kw * w.dil[2];
        if (pads && (id < 0 || id >= w.in[0] || ih < 0 || ih >= w.in[1] || iw < 0 || iw >= w.in[2])) continue;
        m.lanes |= static_cast<uint16_t>(1u << lane);
        if (lane < 8) m.lo |= static_cast<uint16_t>(1u << (2 * lane));
        else m.hi |= static_cast<uint16_t>(1u << (2 * (lane - 8)));
      }
    }
  }
  g.usable = true;
  return g;
}

void PackColumns(const ColGeometry& g, const float* x, const gemm::PackedLayout& lay, float* dst, ThreadPool* pool) {
  const int64_t np = lay.panels();
  const int64_t items = lay.kBlocks() * np;
  auto run = [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1;) {
      const int64_t kb = i / np, p0 = i % np;
      const int64_t p1 = std::min(np, p0 + (i1 - i));
      PackColumnBlockAvx512(g, x, lay, kb, p0, p1, dst + lay.offset(kb, p0));
      i += p1 - p0;
    }
  };
  if (pool && pool->threads() > 1 && items > 1) pool->ParallelFor(items, 1, run);
  else run(0, items);
}

}  // namespace conv
}  // namespace mcpc
