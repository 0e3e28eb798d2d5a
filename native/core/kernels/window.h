// Sliding-window geometry shared by Conv, ConvTranspose and the pools: strides, dilations, pads and
// auto_pad resolved the way compiler/ops/pooling.ts (planWindow) does, padded to exactly 3 spatial
// dims (leading 1s) so kernels loop over D, H, W only.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "../kernel.h"

namespace mcpc {

struct Window3 {
  int64_t in[3] = {1, 1, 1};
  int64_t out[3] = {1, 1, 1};
  int64_t k[3] = {1, 1, 1};
  int64_t stride[3] = {1, 1, 1};
  int64_t dil[3] = {1, 1, 1};
  int64_t padBegin[3] = {0, 0, 0};
  int64_t padEnd[3] = {0, 0, 0};

  int64_t inSize() const { return in[0] * in[1] * in[2]; }
  int64_t outSize() const { return out[0] * out[1] * out[2]; }
  int64_t kSize() const { return k[0] * k[1] * k[2]; }
};

/** For tap t of dim d: the output range [lo, hi) whose input index o*s - pad + t*dil is in [0, in). */
inline void TapRange(const Window3& w, int d, int64_t t, int64_t* lo, int64_t* hi) {
  const int64_t off = t * w.dil[d] - w.padBegin[d];
  const int64_t s = w.stride[d];
  // ceil(-off / s) for any sign, clamped at 0
  int64_t l = off >= 0 ? 0 : (-off + s - 1) / s;
  int64_t h = (w.in[d] - 1 - off) >= 0 ? (w.in[d] - 1 - off) / s + 1 : 0;
  l = std::max<int64_t>(l, 0);
  h = std::min<int64_t>(h, w.out[d]);
  *lo = l;
  *hi = std::max(l, h);
}

/**
 * Fills `w` for a forward window (Conv, pools) from the spec's attributes, input spatial dims,
 * kernel and the output slot's spatial dims. Returns an error naming the op on bad attributes.
 */
inline Status ResolveWindow(const KernelSpec& spec, const std::vector<int64_t>& inSp, const std::vector<int64_t>& kernel,
                            const std::vector<int64_t>& outSp, Window3* w) {
  const size_t n = inSp.size();
  if (n < 1 || n > 3 || kernel.size() != n || outSp.size() != n) {
    return MCPC_ERROR(MCPC_E_UNSUPPORTED, "%s: %zu spatial dims are not supported (node %s)", spec.op.c_str(), n, spec.source.c_str());
  }
  const auto strides = spec.Ints("strides", std::vector<int64_t>(n, 1));
  const auto dil = spec.Ints("dilations", std::vector<int64_t>(n, 1));
  auto pads = spec.Ints("pads", std::vector<int64_t>(2 * n, 0));
  const std::string autoPad = spec.String("auto_pad", "NOTSET");
  if (strides.size() != n || dil.size() != n || pads.size() != 2 * n) {
    return MCPC_ERROR(MCPC_E_INVALID_PLAN, "%s: strides/dilations/pads do not match %zu spatial dims (node %s)", spec.op.c_str(), n,
                      spec.source.c_str());
  }
  if (autoPad == "VALID") std::fill(pads.begin(), pads.end(), 0);
  const size_t o = 3 - n;
  for (size_t i = 0; i < n; ++i) {
    if (strides[i] < 1 || dil[i] < 1 || kernel[i] < 1) {
      return MCPC_ERROR(MCPC_E_INVALID_PLAN, "%s: strides, dilations and kernel_shape must be positive (node %s)", spec.op.c_str(),
                        spec.source.c_str());
    }
    w->in[o + i] = inSp[i];
    w->out[o + i] = outSp[i];
    w->k[o + i] = kernel[i];
    w->stride[o + i] = strides[i];
    w->dil[o + i] = dil[i];
    if (autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") {
      const int64_t span = (kernel[i] - 1) * dil[i] + 1;
      const int64_t total = std::max<int64_t>(0, (outSp[i] - 1) * strides[i] + span - inSp[i]);
      const int64_t small = total / 2;
      w->padBegin[o + i] = autoPad == "SAME_UPPER" ? small : total - small;
      w->padEnd[o + i] = total - w->padBegin[o + i];
    } else if (autoPad == "NOTSET" || autoPad == "VALID") {
      w->padBegin[o + i] = pads[i];
      w->padEnd[o + i] = pads[n + i];
    } else {
      return MCPC_ERROR(MCPC_E_INVALID_PLAN, "%s: unknown auto_pad '%s' (node %s)", spec.op.c_str(), autoPad.c_str(), spec.source.c_str());
    }
  }
  return Status::Ok();
}

}  // namespace mcpc
