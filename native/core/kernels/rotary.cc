// RotaryEmbedding (opset 23): rotates pairs of each head's first rotary_embedding_dim values by the
// cos/sin cache row of the token's position, halves or interleaved pairs, 3-D [B, S, H*D] or 4-D
// [B, H, S, D] input. Each product and sum is rounded to the dtype like the reference
// (compiler/ops/attention.ts), so f16/bf16 results match it.
#include <algorithm>
#include <cmath>
#include <vector>

#include "elementwise.h"

namespace mcpc {
namespace ew {
namespace {

using Ints = std::vector<int64_t>;

StatusOr<std::unique_ptr<Kernel>> MakeRotary(const PrepareContext& ctx) {
  const KernelSpec& spec = ctx.spec;
  const Slot* x = ctx.input(0);
  const Slot* cs = ctx.input(1);
  const Slot* sn = ctx.input(2);
  if (!x || !cs || !sn) return BadPlan(spec, "needs X, cos_cache and sin_cache");
  if (!(Bit(x->dtype) & kFloatTypes) || cs->dtype != x->dtype || sn->dtype != x->dtype) return Unsupported(spec, x->dtype);
  int64_t B, S, H, D;
  const bool fourD = x->shape.size() == 4;
  if (fourD) {
    B = x->shape[0];
    H = x->shape[1];
    S = x->shape[2];
    D = x->shape[3];
  } else if (x->shape.size() == 3) {
    B = x->shape[0];
    S = x->shape[1];
    H = spec.Int("num_heads", 0);
    if (H <= 0 || x->shape[2] % H) return BadPlan(spec, "3-D input needs num_heads dividing the hidden size");
    D = x->shape[2] / H;
  } else {
    return BadPlan(spec, "input X must be 3-D or 4-D");
  }
  int64_t rot = spec.Int("rotary_embedding_dim", 0);
  if (rot == 0) rot = D;
  if (rot > D || rot % 2) return BadPlan(spec, "rotary_embedding_dim must be even and at most the head size");
  const int64_t half = rot / 2;
  if (cs->shape.empty() || cs->shape.back() != half || sn->shape.empty() || sn->shape.back() != half) {
    return BadPlan(spec, "cache last dim does not match rotary_embedding_dim/2");
  }
  const bool interleaved = spec.Int("interleaved", 0) != 0;
  const int64_t maxPos = cs->shape[0];
  const int64_t cacheN = Numel(cs->shape);
  const std::string source = spec.source;
  RunFn fn;
  VisitDType(x->dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (kIsFloat<T>) {
      fn = [=](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext& rc) {
        const T* xv = in[0].as<const T>();
        const T* cv = in[1].as<const T>();
        const T* sv = in[2].as<const T>();
        T* y = out[0].as<T>();
        const int64_t n = B * S * H * D;
        if (y != xv) std::copy(xv, xv + n, y);
        Ints pos;
        if (in.size() > 3 && in[3].data) {
          pos = ReadInts(in[3].data, in[3].dtype, B * S);
          for (int64_t p : pos) {
            if (p < 0 || p >= maxPos) return MCPC_ERROR(MCPC_E_KERNEL, "RotaryEmbedding (node %s): position_ids value %ld is out of range [0, %ld)", source.c_str(), (long)p, (long)maxPos);
          }
        }
        auto at = [&](int64_t b, int64_t s, int64_t h, int64_t d) {
          return fourD ? ((b * H + h) * S + s) * D + d : (b * S + s) * H * D + h * D + d;
        };
        const auto r = [](double v) { return ToDouble(FromDouble<T>(v)); };
        ParallelRange(rc, B * S, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, H * D)), [&](int64_t t0, int64_t t1) {
          for (int64_t bs = t0; bs < t1; ++bs) {
            const int64_t b = bs / S, s = bs % S;
            const int64_t row = pos.empty() ? bs : pos[bs];
            if ((row + 1) * half > cacheN) continue;
            for (int64_t h = 0; h < H; ++h) {
              for (int64_t k = 0; k < half; ++k) {
                const double c = ToDouble(cv[row * half + k]), sn = ToDouble(sv[row * half + k]);
                const int64_t i1 = interleaved ? at(b, s, h, 2 * k) : at(b, s, h, k);
                const int64_t i2 = interleaved ? at(b, s, h, 2 * k + 1) : at(b, s, h, k + half);
                const double x1 = ToDouble(xv[i1]), x2 = ToDouble(xv[i2]);
                y[i1] = FromDouble<T>(r(c * x1) - r(sn * x2));
                y[i2] = FromDouble<T>(r(sn * x1) + r(c * x2));
              }
            }
          }
        });
        return Status::Ok();
      };
    }
  });
  return MakeKernel(fn);
}

MCPC_REGISTER_KERNEL("RotaryEmbedding", MakeRotary);

}  // namespace
}  // namespace ew
}  // namespace mcpc
