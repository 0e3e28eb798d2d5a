// ConvTranspose (NCHW, 1-3 spatial dims, f32) as GEMM + col2im: per image and group,
// col[Mg*k, HWin] = W_g^T x X_g (W_g is [Cg, Mg*k], packed transposed once at Prepare), then every
// column entry is added into the output position it lands on (o = i*s - pad + t*dil), over the bias.
#include <algorithm>
#include <cstring>

#include "../kernel.h"
#include "../thread_pool.h"
#include "gemm.h"
#include "window.h"

namespace mcpc {
namespace {

class ConvTransposeKernel : public Kernel {
 public:
  static StatusOr<std::unique_ptr<Kernel>> Create(const PrepareContext& ctx) {
    const KernelSpec& spec = ctx.spec;
    const Slot* sx = ctx.input(0);
    const Slot* sw = ctx.input(1);
    const Slot* sb = ctx.input(2);
    if (!sx || !sw || spec.outputs.size() != 1) {
      return MCPC_ERROR(MCPC_E_INVALID_PLAN, "ConvTranspose needs inputs X and W and one output (node %s)", spec.source.c_str());
    }
    if (sx->dtype != DType::F32 || sw->dtype != DType::F32 || (sb && sb->dtype != DType::F32)) {
      return MCPC_ERROR(MCPC_E_UNSUPPORTED, "ConvTranspose on %s is not supported by the cpu target (f32 only) (node %s)",
                        DTypeName(sx->dtype), spec.source.c_str());
    }
    const auto& xs = sx->shape;
    const auto& ws = sw->shape;
    const auto& ys = ctx.output(0)->shape;
    const size_t n = xs.size() - 2;
    if (xs.size() < 3 || xs.size() > 5 || ws.size() != xs.size() || ys.size() != xs.size()) {
      return MCPC_ERROR(MCPC_E_UNSUPPORTED, "ConvTranspose with X of rank %zu is not supported (node %s)", xs.size(), spec.source.c_str());
    }
    auto k = std::make_unique<ConvTransposeKernel>();
    k->N_ = xs[0];
    k->C_ = xs[1];
    k->group_ = spec.Int("group", 1);
    k->Mg_ = ws[1];
    k->M_ = k->Mg_ * k->group_;
    if (k->group_ < 1 || ws[0] != k->C_ || k->C_ % k->group_ || ys[1] != k->M_) {
      return MCPC_ERROR(MCPC_E_INVALID_PLAN, "ConvTranspose: X has %ld channels, W is %ld x %ld, group=%ld do not agree (node %s)",
                        (long)k->C_, (long)ws[0], (long)ws[1], (long)k->group_, spec.source.c_str());
    }
    k->Cg_ = k->C_ / k->group_;
    const auto strides = spec.Ints("strides", std::vector<int64_t>(n, 1));
    const auto dil = spec.Ints("dilations", std::vector<int64_t>(n, 1));
    const auto outPad = spec.Ints("output_padding", std::vector<int64_t>(n, 0));
    auto pads = spec.Ints("pads", std::vector<int64_t>(2 * n, 0));
    const std::string autoPad = spec.String("auto_pad", "NOTSET");
    if (strides.size() != n || dil.size() != n || pads.size() != 2 * n || outPad.size() != n) {
      return MCPC_ERROR(MCPC_E_INVALID_PLAN, "ConvTranspose: attributes do not match %zu spatial dims (node %s)", n, spec.source.c_str());
    }
    const bool same = autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER";
    const bool fromShape = spec.has("output_shape") || same;
    Window3& w = k->win_;
    const size_t o = 3 - n;
    for (size_t i = 0; i < n; ++i) {
      w.in[o + i] = xs[2 + i];
      w.out[o + i] = ys[2 + i];
      w.k[o + i] = ws[2 + i];
      w.stride[o + i] = strides[i];
      w.dil[o + i] = dil[i];
      if (autoPad == "VALID") {
        w.padBegin[o + i] = 0;
      } else if (fromShape) {
        // Same rule as compiler/ops/contraction.ts planTranspose: the output size wins over pads.
        const int64_t full = strides[i] * (xs[2 + i] - 1) + outPad[i] + (ws[2 + i] - 1) * dil[i] + 1;
        const int64_t total = full - ys[2 + i];
        // Floor division, as the reference: total is negative when output_shape exceeds the full size.
        const int64_t half = total >= 0 ? total / 2 : -((-total + 1) / 2);
        w.padBegin[o + i] = autoPad == "SAME_UPPER" ? half : total - half;
      } else {
        w.padBegin[o + i] = pads[i];
      }
    }
    k->Kcol_ = k->Mg_ * w.kSize();
    k->HWin_ = w.inSize();
    k->packedStride_ = gemm::LayoutA(k->Kcol_, k->Cg_).size();
    k->packedA_.reserve(k->packedStride_ * k->group_ + 1);
    k->packedB_.reserve(gemm::LayoutB(k->Cg_, k->HWin_).size() + 1);
    k->col_.reserve(static_cast<size_t>(k->Kcol_ * k->HWin_) + 1);
    const float* wdata = ctx.constantInput ? static_cast<const float*>(ctx.constantInput(1)) : nullptr;
    if (wdata) {
      k->PackWeights(wdata);
      k->weightsPacked_ = true;
      ctx.releaseConstantInput(1);
    }
    return std::unique_ptr<Kernel>(std::move(k));
  }

  Status Run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext& ctx) override {
    const float* x = in[0].as<float>();
    const float* bias = in.size() > 2 ? in[2].as<float>() : nullptr;
    float* y = out[0].as<float>();
    if (!weightsPacked_) PackWeights(in[1].as<float>());
    const Window3& w = win_;
    const int64_t outPlane = w.outSize();
    for (int64_t n = 0; n < N_; ++n) {
      for (int64_t g = 0; g < group_; ++g) {
        const float* xg = x + (n * C_ + g * Cg_) * HWin_;
        gemm::PackB(xg, HWin_, false, Cg_, HWin_, 1.0f, packedB_.data(), ctx.pool);
        gemm::GemmPacked(Kcol_, HWin_, Cg_, packedA_.data() + g * packedStride_, packedB_.data(), col_.data(), HWin_, false,
                         gemm::Epilogue(), ctx.pool);
        auto channels = [&](int64_t m0, int64_t m1) {
          for (int64_t m = m0; m < m1; ++m) {
            float* yc = y + (n * M_ + g * Mg_ + m) * outPlane;
            const float b = bias ? bias[g * Mg_ + m] : 0.0f;
            for (int64_t i = 0; i < outPlane; ++i) yc[i] = b;
            Col2Im(col_.data() + m * w.kSize() * HWin_, yc);
          }
        };
        if (ctx.pool && ctx.pool->threads() > 1 && Mg_ > 1) ctx.pool->ParallelFor(Mg_, 1, channels);
        else channels(0, Mg_);
      }
    }
    return Status::Ok();
  }

 private:
  void PackWeights(const float* wt) {
    for (int64_t g = 0; g < group_; ++g) {
      gemm::PackA(wt + g * Cg_ * Kcol_, Kcol_, true, Kcol_, Cg_, 1.0f, packedA_.data() + g * packedStride_, nullptr);
    }
  }

  /** Adds the k x HWin column block of one output channel into its output plane. */
  void Col2Im(const float* col, float* yc) const {
    const Window3& w = win_;
    // Input index range whose output o = i*s - pad + t*dil lands inside [0, out).
    auto range = [&](int d, int64_t t, int64_t* lo, int64_t* hi) {
      const int64_t off = t * w.dil[d] - w.padBegin[d];
      const int64_t s = w.stride[d];
      int64_t l = off >= 0 ? 0 : (-off + s - 1) / s;
      int64_t h = (w.out[d] - 1 - off) >= 0 ? (w.out[d] - 1 - off) / s + 1 : 0;
      h = std::min(h, w.in[d]);
      *lo = l;
      *hi = std::max(l, h);
    };
    for (int64_t kd = 0; kd < w.k[0]; ++kd) {
      int64_t dlo, dhi;
      range(0, kd, &dlo, &dhi);
      for (int64_t kh = 0; kh < w.k[1]; ++kh) {
        int64_t hlo, hhi;
        range(1, kh, &hlo, &hhi);
        for (int64_t kw = 0; kw < w.k[2]; ++kw) {
          int64_t wlo, whi;
          range(2, kw, &wlo, &whi);
          const float* c = col + ((kd * w.k[1] + kh) * w.k[2] + kw) * HWin_;
          for (int64_t id = dlo; id < dhi; ++id) {
            const int64_t od = id * w.stride[0] - w.padBegin[0] + kd * w.dil[0];
            for (int64_t ih = hlo; ih < hhi; ++ih) {
              const int64_t oh = ih * w.stride[1] - w.padBegin[1] + kh * w.dil[1];
              const float* cr = c + (id * w.in[1] + ih) * w.in[2];
              float* yr = yc + (od * w.out[1] + oh) * w.out[2] - w.padBegin[2] + kw * w.dil[2];
              const int64_t s = w.stride[2];
              for (int64_t iw = wlo; iw < whi; ++iw) yr[iw * s] += cr[iw];
            }
          }
        }
      }
    }
  }

  int64_t N_ = 0, C_ = 0, M_ = 0, group_ = 1, Cg_ = 0, Mg_ = 0, Kcol_ = 0, HWin_ = 0;
  Window3 win_;
  bool weightsPacked_ = false;
  size_t packedStride_ = 0;
  gemm::AlignedBuffer packedA_, packedB_, col_;
};

MCPC_REGISTER_KERNEL("ConvTranspose", ConvTransposeKernel::Create);

}  // namespace
}  // namespace mcpc
