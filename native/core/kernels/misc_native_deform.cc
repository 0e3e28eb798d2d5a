// DeformConv (2-D), as compiler/ops/sampling.ts defines it: each tap of a grouped convolution reads
// the input at its position moved by a learned offset (bilinear, zeros outside the image), scaled
// by an optional mask; offsets are shared by the channels of an offset group. Computed in float64.
#include "f64_ref.h"

namespace mcpc {
namespace ew {
namespace {

StatusOr<std::unique_ptr<Kernel>> MakeDeformConv(const PrepareContext& ctx) {
  const KernelSpec spec = ctx.spec;
  const Slot* x = ctx.input(0);
  const Slot* w = ctx.input(1);
  const Slot* off = ctx.input(2);
  if (!x || !w || !off) return BadPlan(spec, "needs X, W and offset");
  if (!IsIn(kFloatTypes, x->dtype)) return Unsupported(spec, x->dtype);
  if (x->shape.size() != 4 || w->shape.size() != 4 || off->shape.size() != 4) {
    return MCPC_ERROR(MCPC_E_UNSUPPORTED, "DeformConv supports 2-D inputs only (node %s)", spec.source.c_str());
  }
  const int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
  const int64_t M = w->shape[0], Cg = w->shape[1], KH = w->shape[2], KW = w->shape[3];
  const int64_t OH = off->shape[2], OW = off->shape[3], OC = off->shape[1];
  const int64_t group = spec.Int("group", 1), og = spec.Int("offset_group", 1);
  const auto strides = spec.Ints("strides", {1, 1});
  const auto dil = spec.Ints("dilations", {1, 1});
  const auto pads = spec.Ints("pads", {0, 0, 0, 0});
  if (strides.size() != 2 || dil.size() != 2 || pads.size() != 4) return BadPlan(spec, "strides/dilations/pads do not match 2 spatial dims");
  const int64_t K = KH * KW;
  if (OC != og * 2 * K) return BadPlan(spec, "offset channels must be offset_group * 2 * kH * kW");
  if (group < 1 || og < 1 || C % og != 0 || M % group != 0 || Cg * group != C) return BadPlan(spec, "channels do not match group/offset_group");
  return MakeKernel([=](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext&) -> Status {
    const std::vector<double> xv = ViewDoubles(in[0]), wv = ViewDoubles(in[1]), ov = ViewDoubles(in[2]);
    const std::vector<double> bv = in.size() > 3 ? ViewDoubles(in[3]) : std::vector<double>();
    const std::vector<double> mv = in.size() > 4 ? ViewDoubles(in[4]) : std::vector<double>();
    const int64_t Mg = M / group, Cog = C / og;
    std::vector<double> y(static_cast<size_t>(N * M * OH * OW), 0.0);
    auto pix = [&](int64_t b, int64_t yy, int64_t xx) { return yy >= 0 && yy < H && xx >= 0 && xx < W ? xv[b + yy * W + xx] : 0.0; };
    auto sample = [&](int64_t b, double yq, double xq) {
      const double y0 = std::floor(yq), x0 = std::floor(xq);
      const double fy = yq - y0, fx = xq - x0;
      const int64_t iy = static_cast<int64_t>(y0), ix = static_cast<int64_t>(x0);
      return pix(b, iy, ix) * (1 - fy) * (1 - fx) + pix(b, iy, ix + 1) * (1 - fy) * fx + pix(b, iy + 1, ix) * fy * (1 - fx) +
             pix(b, iy + 1, ix + 1) * fy * fx;
    };
    for (int64_t n = 0; n < N; ++n) {
      for (int64_t c = 0; c < C; ++c) {
        const int64_t g = c / Cg, o = c / Cog;
        const int64_t plane = (n * C + c) * H * W;
        for (int64_t i = 0; i < OH; ++i) {
          for (int64_t j = 0; j < OW; ++j) {
            for (int64_t k = 0; k < K; ++k) {
              const int64_t ki = k / KW, kj = k % KW;
              auto at = [&](int64_t ch) { return ((n * OC + ch) * OH + i) * OW + j; };
              const double yq = static_cast<double>(i * strides[0] - pads[0] + ki * dil[0]) + ov[at((o * K + k) * 2)];
              const double xq = static_cast<double>(j * strides[1] - pads[1] + kj * dil[1]) + ov[at((o * K + k) * 2 + 1)];
              double v = std::isfinite(yq) && std::isfinite(xq) && std::fabs(yq) < 1e15 && std::fabs(xq) < 1e15 ? sample(plane, yq, xq) : 0.0;
              if (!mv.empty()) v *= mv[((n * og * K + o * K + k) * OH + i) * OW + j];
              if (v == 0) continue;
              for (int64_t m = g * Mg; m < (g + 1) * Mg; ++m) y[((n * M + m) * OH + i) * OW + j] += v * wv[(m * Cg + (c - g * Cg)) * K + k];
            }
          }
        }
      }
    }
    if (!bv.empty()) {
      for (int64_t n = 0; n < N; ++n) {
        for (int64_t m = 0; m < M; ++m) {
          for (int64_t p = 0; p < OH * OW; ++p) y[(n * M + m) * OH * OW + p] += bv[m];
        }
      }
    }
    WriteDoubles(out[0].data, out[0].dtype, y.data(), out[0].numel);
    return Status::Ok();
  });
}

MCPC_REGISTER_KERNEL("DeformConv", MakeDeformConv);

}  // namespace
}  // namespace ew
}  // namespace mcpc
