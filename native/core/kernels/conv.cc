// Conv (NCHW, 1-3 spatial dims, f32) as GEMM: per image and group, Y[Mg, OHW] = W[Mg, Cg*k] x
// col[Cg*k, OHW] + bias. The weights are the A operand, packed once at Prepare; the column matrix is
// written straight into the packed B layout (im2col fused with packing, no intermediate matrix), or
// packed from X itself for 1x1 stride-1 unpadded convolutions. Depthwise convolutions (one input
// channel per group) use a direct kernel parallel over channels. The bias rides in the epilogue.
#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <string>

#include "../kernel.h"
#include "../thread_pool.h"
#include "conv_depthwise.h"
#include "gemm.h"
#include "window.h"

namespace mcpc {
namespace {

class ConvKernel : public Kernel {
 public:
  static StatusOr<std::unique_ptr<Kernel>> Create(const PrepareContext& ctx) {
    const KernelSpec& spec = ctx.spec;
    const Slot* sx = ctx.input(0);
    const Slot* sw = ctx.input(1);
    const Slot* sb = ctx.input(2);
    if (!sx || !sw || spec.outputs.size() != 1) {
      return MCPC_ERROR(MCPC_E_INVALID_PLAN, "Conv needs inputs X and W and one output (node %s)", spec.source.c_str());
    }
    if (sx->dtype != DType::F32 || sw->dtype != DType::F32 || (sb && sb->dtype != DType::F32)) {
      return MCPC_ERROR(MCPC_E_UNSUPPORTED, "Conv on %s is not supported by the cpu target (f32 only) (node %s)", DTypeName(sx->dtype),
                        spec.source.c_str());
    }
    const auto& xs = sx->shape;
    const auto& ws = sw->shape;
    const auto& ys = ctx.output(0)->shape;
    if (xs.size() < 3 || xs.size() > 5 || ws.size() != xs.size() || ys.size() != xs.size()) {
      return MCPC_ERROR(MCPC_E_UNSUPPORTED, "Conv with X of rank %zu is not supported (node %s)", xs.size(), spec.source.c_str());
    }
    auto k = std::make_unique<ConvKernel>();
    k->N_ = xs[0];
    k->C_ = xs[1];
    k->M_ = ws[0];
    k->group_ = spec.Int("group", 1);
    if (k->group_ < 1 || k->C_ % k->group_ || k->M_ % k->group_ || ws[1] * k->group_ != k->C_ || ys[1] != k->M_) {
      return MCPC_ERROR(MCPC_E_INVALID_PLAN, "Conv: X has %ld channels, W has %ld x %ld, group=%ld do not agree (node %s)", (long)k->C_,
                        (long)ws[0], (long)ws[1], (long)k->group_, spec.source.c_str());
    }
    std::vector<int64_t> inSp(xs.begin() + 2, xs.end()), kern(ws.begin() + 2, ws.end()), outSp(ys.begin() + 2, ys.end());
    if (spec.has("kernel_shape") && spec.Ints("kernel_shape") != kern) {
      return MCPC_ERROR(MCPC_E_INVALID_PLAN, "Conv: kernel_shape does not match W (node %s)", spec.source.c_str());
    }
    MCPC_RETURN_IF_ERROR(ResolveWindow(spec, inSp, kern, outSp, &k->win_));
    const Window3& w = k->win_;
    k->Cg_ = k->C_ / k->group_;
    k->Mg_ = k->M_ / k->group_;
    k->Kg_ = k->Cg_ * w.kSize();
    k->P_ = w.outSize();
    k->depthwise_ = k->Cg_ == 1 && k->group_ > 1;
    bool unit = true;
    for (int d = 0; d < 3; ++d) {
      unit = unit && w.k[d] == 1 && w.stride[d] == 1 && w.padBegin[d] == 0 && w.padEnd[d] == 0 && w.out[d] == w.in[d];
    }
    k->pointwise_ = unit;
    if (k->depthwise_ && w.k[0] == 1 && w.in[0] == 1 && w.out[0] == 1 && w.dil[1] == 1 && w.dil[2] == 1) {
      const std::string arch = gemm::ActiveArch().name;
      if (arch == "avx512") k->dwPlane_ = &dw::PlaneAvx512;
      else if (arch == "avx2") k->dwPlane_ = &dw::PlaneAvx2;
    }
    const float* wdata = ctx.constantInput ? static_cast<const float*>(ctx.constantInput(1)) : nullptr;
    if (!k->depthwise_) {
      const size_t per = gemm::LayoutA(k->Mg_, k->Kg_).size();
      k->packedAStride_ = per;
      k->packedA_.reserve(per * k->group_ + 1);
      if (wdata) {
        k->PackWeights(wdata);
        k->weightsPacked_ = true;
        ctx.releaseConstantInput(1);
      }
      // Opt-in (MCPC_CONV_COLBLOCK=1): a column matrix over ~2 MiB is cut into blocks of about
      // 1 MiB (whole NR panels, at least 4), each still in cache when the GEMM reads it. Measured
      // 10-20% slower on the ResNet-50 3x3/7x7 shapes with 2 threads (smaller GEMM tiles reuse A
      // less, and twice the ParallelFor calls), so the whole column matrix is the default.
      const char* cb = std::getenv("MCPC_CONV_COLBLOCK");
      if (cb && std::strcmp(cb, "1") == 0 && !k->pointwise_ && k->Kg_ * k->P_ > (int64_t(1) << 19)) {
        const int64_t nr = gemm::ActiveArch().nr;
        const int64_t cols = std::max<int64_t>(4 * nr, (int64_t(1) << 18) / k->Kg_ / nr * nr);
        if (cols < k->P_) k->colBlock_ = cols;
      }
      k->packedB_.reserve(gemm::LayoutB(k->Kg_, std::min(k->P_, k->colBlock_)).size() + 1);
    }
    return std::unique_ptr<Kernel>(std::move(k));
  }

  Status Run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext& ctx) override {
    const float* x = in[0].as<float>();
    const float* wt = in[1].as<float>();
    const float* bias = in.size() > 2 ? in[2].as<float>() : nullptr;
    float* y = out[0].as<float>();
    if (depthwise_ && dwPlane_) {
      DepthwiseSimd(x, wt, bias, y, ctx.pool);
      return Status::Ok();
    }
    if (depthwise_) {
      Depthwise(x, wt, bias, y, ctx.pool);
      return Status::Ok();
    }
    if (!weightsPacked_) PackWeights(wt);
    const int64_t inPlane = win_.inSize();
    const gemm::PackedLayout lb = gemm::LayoutB(Kg_, P_);
    for (int64_t n = 0; n < N_; ++n) {
      for (int64_t g = 0; g < group_; ++g) {
        const float* xg = x + (n * C_ + g * Cg_) * inPlane;
        float* yg = y + (n * M_ + g * Mg_) * P_;
        gemm::Epilogue ep;
        if (bias) {
          ep.bias = bias + g * Mg_;
          ep.biasPerRow = true;
        }
        if (pointwise_) {
          gemm::PackB(xg, P_, false, Kg_, P_, 1.0f, packedB_.data(), ctx.pool);
        } else if (colBlock_ < P_) {
          // Column blocks: the packed column matrix of one block stays in cache between im2col
          // and the GEMM (a whole 7x7-stem column matrix is ~7 MiB).
          for (int64_t j0 = 0; j0 < P_; j0 += colBlock_) {
            const int64_t nb = std::min(colBlock_, P_ - j0);
            Im2ColPacked(xg, gemm::LayoutB(Kg_, nb), j0, nb, ctx.pool);
            gemm::GemmPacked(Mg_, nb, Kg_, packedA_.data() + g * packedAStride_, packedB_.data(), yg + j0, P_, false, ep, ctx.pool);
          }
          continue;
        } else {
          Im2ColPacked(xg, lb, 0, P_, ctx.pool);
        }
        gemm::GemmPacked(Mg_, P_, Kg_, packedA_.data() + g * packedAStride_, packedB_.data(), yg, P_, false, ep, ctx.pool);
      }
    }
    return Status::Ok();
  }

 private:
  void PackWeights(const float* w) {
    for (int64_t g = 0; g < group_; ++g) {
      gemm::PackA(w + g * Mg_ * Kg_, Kg_, false, Mg_, Kg_, 1.0f, packedA_.data() + g * packedAStride_, nullptr);
    }
  }

  /**
   * Column matrix rows (c, kd, kh, kw) over output positions, one row at a time into a row buffer,
   * then copied into the packed B layout. (A panel-major variant that writes the packed panels
   * directly measured slower: per-row window set-up repeated for every panel.)
   */
  void Im2ColPacked(const float* xg, const gemm::PackedLayout& lb, int64_t j0, int64_t nb, ThreadPool* pool) {
    const Window3& w = win_;
    const int64_t ks = w.kSize();
    const int64_t plane = w.out[1] * w.out[2];
    auto rows = [&](int64_t r0, int64_t r1) {
      std::vector<float> row(nb);
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t c = r / ks;
        int64_t t = r % ks;
        const int64_t kw = t % w.k[2];
        t /= w.k[2];
        const int64_t kh = t % w.k[1];
        const int64_t kd = t / w.k[1];
        const float* xc = xg + c * w.inSize();
        int64_t lo[3], hi[3];
        TapRange(w, 0, kd, &lo[0], &hi[0]);
        TapRange(w, 1, kh, &lo[1], &hi[1]);
        TapRange(w, 2, kw, &lo[2], &hi[2]);
        // Output positions [j0, j0 + nb), a run of one output row at a time.
        for (int64_t j = j0; j < j0 + nb;) {
          const int64_t od = j / plane, oh = (j % plane) / w.out[2], ow0 = j % w.out[2];
          const int64_t ow1 = std::min(w.out[2], ow0 + (j0 + nb - j));
          float* dst = row.data() + (j - j0) - ow0;  // indexed by ow
          j += ow1 - ow0;
          if (od < lo[0] || od >= hi[0] || oh < lo[1] || oh >= hi[1]) {
            std::memset(dst + ow0, 0, sizeof(float) * (ow1 - ow0));
            continue;
          }
          const int64_t id = od * w.stride[0] - w.padBegin[0] + kd * w.dil[0];
          const int64_t ih = oh * w.stride[1] - w.padBegin[1] + kh * w.dil[1];
          const float* src = xc + (id * w.in[1] + ih) * w.in[2] - w.padBegin[2] + kw * w.dil[2];
          const int64_t a = std::max(ow0, lo[2]), b = std::max(a, std::min(ow1, hi[2]));
          for (int64_t ow = ow0; ow < a; ++ow) dst[ow] = 0.0f;
          if (w.stride[2] == 1) {
            std::memcpy(dst + a, src + a, sizeof(float) * (b - a));
          } else {
            const int64_t s = w.stride[2];
            for (int64_t ow = a; ow < b; ++ow) dst[ow] = src[ow * s];
          }
          for (int64_t ow = b; ow < ow1; ++ow) dst[ow] = 0.0f;
        }
    gemm::PackBRow(lb, r, row.data(), packedB_.data());
      }
    };
    if (pool && pool->threads() > 1 && Kg_ > 1) pool->ParallelFor(Kg_, 4, rows);
    else rows(0, Kg_);
  }

  /**
   * 2-D depthwise with dilation 1 on AVX2/AVX-512: each input plane is copied into a zero-bordered
   * scratch plane (borders zeroed once per chunk of planes), then the plane kernel computes whole
   * output rows a vector at a time. Parallel over planes, with chunks of at least ~8K outputs so
   * that small late layers are not split into pieces smaller than a thread wake-up.
   */
  void DepthwiseSimd(const float* x, const float* wt, const float* bias, float* y, ThreadPool* pool) const {
    const Window3& w = win_;
    const int kh = static_cast<int>(w.k[1]), kw = static_cast<int>(w.k[2]);
    const int sh = static_cast<int>(w.stride[1]), sw = static_cast<int>(w.stride[2]);
    const int64_t ih = w.in[1], iw = w.in[2], ph = w.padBegin[1], pw = w.padBegin[2];
    const int64_t wp = dw::ScratchWidth(w.out[2], kw, sw);
    const int64_t hp = dw::ScratchRows(w.out[1], kh, sh);
    const int64_t copyW = std::max<int64_t>(0, std::min<int64_t>(iw, wp - pw));
    const int64_t mult = Mg_;
    auto planes = [&](int64_t p0, int64_t p1) {
      thread_local gemm::AlignedBuffer scratch;
      const size_t need = static_cast<size_t>(hp * wp + 64);
      scratch.reserve(need);
      float* xp = scratch.data();
      std::memset(xp, 0, sizeof(float) * need);
      dw::DwPlaneArgs a;
      a.oh = w.out[1];
      a.ow = w.out[2];
      a.wp = wp;
      a.kh = kh;
      a.kw = kw;
      a.sh = sh;
      a.sw = sw;
      for (int64_t p = p0; p < p1; ++p) {
        const int64_t n = p / M_, m = p % M_;
        const float* xc = x + (n * C_ + m / mult) * w.inSize();
        for (int64_t r = std::max<int64_t>(0, ph); r < hp && r - ph < ih; ++r) {
          std::memcpy(xp + r * wp + pw, xc + (r - ph) * iw, sizeof(float) * copyW);
        }
        a.w = wt + m * kh * kw;
        a.bias = bias ? bias[m] : 0.0f;
        dwPlane_(a, xp, y + p * P_);
      }
    };
    const int64_t total = N_ * M_;
    const int64_t grain = std::max<int64_t>(1, 8192 / std::max<int64_t>(1, P_));
    if (pool && pool->threads() > 1 && total > grain) pool->ParallelFor(total, grain, planes);
    else planes(0, total);
  }

  /** One input channel per group: each output channel is a 2-D/3-D stencil of one input plane. */
  void Depthwise(const float* x, const float* wt, const float* bias, float* y, ThreadPool* pool) const {
    const Window3& w = win_;
    const int64_t ks = w.kSize();
    const int64_t mult = Mg_;  // output channels per input channel
    auto planes = [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        const int64_t n = p / M_, m = p % M_;
        const float* xc = x + (n * C_ + m / mult) * w.inSize();
        float* yc = y + p * P_;
        const float b = bias ? bias[m] : 0.0f;
        for (int64_t i = 0; i < P_; ++i) yc[i] = b;
        const float* wm = wt + m * ks;
        for (int64_t kd = 0; kd < w.k[0]; ++kd) {
          int64_t dlo, dhi;
          TapRange(w, 0, kd, &dlo, &dhi);
          for (int64_t kh = 0; kh < w.k[1]; ++kh) {
            int64_t hlo, hhi;
            TapRange(w, 1, kh, &hlo, &hhi);
            for (int64_t kw = 0; kw < w.k[2]; ++kw) {
              int64_t wlo, whi;
              TapRange(w, 2, kw, &wlo, &whi);
              const float wv = wm[(kd * w.k[1] + kh) * w.k[2] + kw];
              for (int64_t od = dlo; od < dhi; ++od) {
                const int64_t id = od * w.stride[0] - w.padBegin[0] + kd * w.dil[0];
                for (int64_t oh = hlo; oh < hhi; ++oh) {
                  const int64_t ih = oh * w.stride[1] - w.padBegin[1] + kh * w.dil[1];
                  float* yr = yc + (od * w.out[1] + oh) * w.out[2];
                  const float* xr = xc + (id * w.in[1] + ih) * w.in[2] - w.padBegin[2] + kw * w.dil[2];
                  if (w.stride[2] == 1) {
                    for (int64_t ow = wlo; ow < whi; ++ow) yr[ow] += wv * xr[ow];
                  } else {
                    const int64_t s = w.stride[2];
                    for (int64_t ow = wlo; ow < whi; ++ow) yr[ow] += wv * xr[ow * s];
                  }
                }
              }
            }
          }
        }
      }
    };
    const int64_t total = N_ * M_;
    if (pool && pool->threads() > 1 && total > 1) pool->ParallelFor(total, 1, planes);
    else planes(0, total);
  }

  int64_t N_ = 0, C_ = 0, M_ = 0, group_ = 1, Cg_ = 0, Mg_ = 0, Kg_ = 0, P_ = 0;
  Window3 win_;
  bool depthwise_ = false, pointwise_ = false, weightsPacked_ = false;
  void (*dwPlane_)(const dw::DwPlaneArgs&, const float*, float*) = nullptr;
  size_t packedAStride_ = 0;
  int64_t colBlock_ = INT64_MAX;  // output columns per im2col + GEMM block (non-pointwise convs)
  gemm::AlignedBuffer packedA_, packedB_;
};

MCPC_REGISTER_KERNEL("Conv", ConvKernel::Create);

}  // namespace
}  // namespace mcpc
