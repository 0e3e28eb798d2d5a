// Conv (NCHW, 1-3 spatial dims, f32) as GEMM: per image and group, Y[Mg, OHW] = W[Mg, Cg*k] x
// col[Cg*k, OHW] + bias, or Y^T = col^T x W^T for small output planes (see ChooseGemmPath). The
// weights are packed once at Prepare; the column matrix is written straight into the packed
// layout (im2col fused with packing: vectorized in conv_im2col.h on AVX-512, row by row otherwise),
// or packed from X itself for 1x1 stride-1 unpadded convolutions. Depthwise convolutions (one input
// channel per group) use a direct kernel parallel over channels. The bias, a fused residual and
// Relu/Clip (conv.h) ride in the GEMM's epilogue.
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

#include "../kernel.h"
#include "../thread_pool.h"
#include "conv.h"
#include "conv_depthwise.h"
#include "conv_im2col.h"
#include "gemm.h"
#include "through_f32.h"
#include "window.h"

namespace mcpc {
namespace {

class ConvKernel : public Kernel {
 public:
  static StatusOr<std::unique_ptr<Kernel>> Create(const PrepareContext& ctx, const conv::Tail& tail) {
    const KernelSpec& spec = ctx.spec;
    const Slot* sx = ctx.input(0);
    const Slot* sw = ctx.input(1);
    const Slot* sb = ctx.input(2);
    if (!sx || !sw || spec.outputs.size() != 1) {
      return MCPC_ERROR(MCPC_E_INVALID_PLAN, "Conv needs inputs X and W and one output (node %s)", spec.source.c_str());
    }
    // 16-bit floats convolve in f32 (widened once per run; W and B once at Prepare).
    const bool sameType = sw->dtype == sx->dtype && (!sb || sb->dtype == sx->dtype);
    if ((sx->dtype == DType::F16 || sx->dtype == DType::BF16) && sameType && ctx.output(0)->dtype == sx->dtype) {
      return CreateThroughF32(ctx, sx->dtype, [tail](const PrepareContext& pc) { return ConvKernel::Create(pc, tail); });
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
    if (tail.residual) {
      const Slot* sr = ctx.input(3);
      if (!sr || sr->dtype != DType::F32 || sr->shape != ctx.output(0)->shape) {
        return MCPC_ERROR(MCPC_E_INVALID_PLAN, "Conv: the fused residual must be f32 with the output's shape (node %s)", spec.source.c_str());
      }
    }
    auto k = std::make_unique<ConvKernel>();
    k->tail_ = tail;
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
      k->ChooseGemmPath();
      const size_t per = k->transposed_ ? gemm::LayoutB(k->Kg_, k->Mg_).size() : gemm::LayoutA(k->Mg_, k->Kg_).size();
      k->weightsStride_ = per;
      k->weights_.reserve(per * k->group_ + 1);
      if (wdata) {
        k->PackWeights(wdata);
        k->weightsPacked_ = true;
        ctx.releaseConstantInput(1);
      }
      if (k->transposed_) {
        k->cols_.reserve(gemm::LayoutA(k->P_, k->Kg_).size() + 1);
      } else if (!k->packInTiles_) {
        k->cols_.reserve(gemm::LayoutB(k->Kg_, k->P_).size() + 1);
      }
    }
    return std::unique_ptr<Kernel>(std::move(k));
  }

  Status Run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext& ctx) override {
    const float* x = in[0].as<float>();
    const float* wt = in[1].as<float>();
    const float* bias = in.size() > 2 ? in[2].as<float>() : nullptr;
    float* y = out[0].as<float>();
    const float* residual = tail_.residual ? in[3].as<float>() : nullptr;
    std::vector<float> residualCopy;
    if (residual == y && depthwise_) {
      // The depthwise paths overwrite each plane before adding the residual.
      residualCopy.assign(residual, residual + out[0].numel);
      residual = residualCopy.data();
    }
    if (depthwise_ && dwPlane_) {
      DepthwiseSimd(x, wt, bias, residual, y, ctx.pool);
      return Status::Ok();
    }
    if (depthwise_) {
      Depthwise(x, wt, bias, residual, y, ctx.pool);
      return Status::Ok();
    }
    if (!weightsPacked_) PackWeights(wt);
    const int64_t inPlane = win_.inSize();
    const gemm::PackedLayout lay = transposed_ ? gemm::LayoutA(P_, Kg_) : gemm::LayoutB(Kg_, P_);
    for (int64_t n = 0; n < N_; ++n) {
      for (int64_t g = 0; g < group_; ++g) {
        const float* xg = x + (n * C_ + g * Cg_) * inPlane;
        float* yg = y + (n * M_ + g * Mg_) * P_;
        const float* rg = residual ? residual + (n * M_ + g * Mg_) * P_ : nullptr;
        const float* wg = weights_.data() + g * weightsStride_;
        gemm::Epilogue ep;
        ep.bias = bias ? bias + g * Mg_ : nullptr;
        if (transposed_) {
          // Y^T = col^T x W^T into outT_ (outputs x channels; one partial product per thread,
          // K split between them), then summed and transposed into Y with the bias and the tail.
          conv::PackColumns(geom_, xg, lay, cols_.data(), ctx.pool);
          const int64_t part = P_ * Mg_;
          outT_.reserve(static_cast<size_t>(part * (ctx.pool ? ctx.pool->threads() : 1)));
          const int parts = gemm::GemmPackedSplitK(P_, Mg_, Kg_, cols_.data(), wg, outT_.data(), Mg_, part, ctx.pool);
          TransposeOut(outT_.data(), parts, ep.bias, rg, yg, ctx.pool);
          continue;
        }
        ep.biasPerRow = true;
        SetAct(&ep);
        // A residual in the output's own buffer is already there: accumulate onto it.
        const bool accumulate = rg && rg == yg;
        if (rg && !accumulate) {
          ep.residual = rg;
          ep.ldResidual = P_;
        }
        if (packInTiles_) {
          // Each GEMM task packs the columns it multiplies by, while they stay in cache.
          gemm::PackBBlockFn packB;
          if (geom_.usable) {
            packB = [&](int64_t kb, int64_t p0, int64_t p1, float* o) { conv::PackColumnBlockAvx512(geom_, xg, lay, kb, p0, p1, o); };
          } else {
            packB = [&](int64_t kb, int64_t p0, int64_t p1, float* o) { gemm::PackBBlock(xg, P_, lay, kb, p0, p1, o); };
          }
          gemm::GemmPackBInTiles(Mg_, P_, Kg_, wg, packB, yg, P_, accumulate, ep, ctx.pool);
          continue;
        }
        if (geom_.usable) conv::PackColumns(geom_, xg, lay, cols_.data(), ctx.pool);
        else if (pointwise_) gemm::PackB(xg, P_, false, Kg_, P_, 1.0f, cols_.data(), ctx.pool);
        else Im2ColPacked(xg, lay, ctx.pool);
        gemm::GemmPacked(Mg_, P_, Kg_, wg, cols_.data(), yg, P_, accumulate, ep, ctx.pool);
      }
    }
    return Status::Ok();
  }

 private:
  /**
   * How the GEMM runs: Y = W x col (weights packed as A), or, when the output plane is small and not
   * a whole number of vectors (7x7, 14x14), Y^T = col^T x W^T: the channels then fill the vectors
   * (a 7x7 plane wastes 15 of the 64 lanes of its column panels), the positions the rows.
   */
  void ChooseGemmPath() {
    if (std::string(gemm::ActiveArch().name) != "avx512") return;  // row-wise im2col, PackB for 1x1
    // Worth it when the lanes wasted on the plane, times the depth, outweigh the transposition
    // pass, which grows with the output channels: measured on the 7x7 and 14x14 planes of
    // ResNet-50 and MobileNet-V2 (with 2 threads the split-K GEMM also shares the work out better
    // than tiles of a narrow C), it pays for 3x3 kernels and for 1x1 ones that do not expand.
    auto round16 = [](int64_t v) { return (v + 15) / 16 * 16; };
    const bool want = P_ % 16 != 0 && P_ <= 1024 && round16(Mg_) * P_ < round16(P_) * Mg_ && 2 * Kg_ >= Mg_ &&
                (round16(P_) - P_) * Kg_ >= 25 * P_;
    if (want) {
      geom_ = conv::BuildColGeometry(win_, Cg_, 8);
      transposed_ = geom_.usable;
      if (transposed_) return;
    }
    // A pointwise convolution's B operand is X itself, packed with plain copies.
    geom_ = pointwise_ ? conv::ColGeometry{} : conv::BuildColGeometry(win_, Cg_, 16);
    // A wide column matrix is packed inside the GEMM's tasks (enough of them to share out).
    packInTiles_ = (geom_.usable || pointwise_) && gemm::LayoutB(Kg_, P_).panels() >= 16;
  }

  void SetAct(gemm::Epilogue* ep) const {
    ep->act = tail_.act;
    ep->clipMin = tail_.clipMin;
    ep->clipMax = tail_.clipMax;
  }

  /** y[m][p] = act(sum of the parts' z[p][m] + bias[m] + residual[m][p]). */
  void TransposeOut(const float* z, int parts, const float* bias, const float* residual, float* y, ThreadPool* pool) const {
    float lo, hi;
    ActBounds(&lo, &hi);
    conv::TransposeArgs t{z, Mg_, P_ * Mg_, parts, P_, bias, residual, tail_.act != gemm::Epilogue::Act::None, lo, hi, y};
    auto rows = [&](int64_t b0, int64_t b1) { conv::TransposeOutAvx512(t, b0 * 16, std::min(Mg_, b1 * 16)); };
    const int64_t blocks = (Mg_ + 15) / 16;
    const int64_t grain = std::max<int64_t>(1, 8192 / (16 * std::max<int64_t>(1, P_)));
    if (pool && pool->threads() > 1 && blocks > grain) pool->ParallelFor(blocks, grain, rows);
    else rows(0, blocks);
  }

  void PackWeights(const float* w) {
    for (int64_t g = 0; g < group_; ++g) {
      float* dst = weights_.data() + g * weightsStride_;
      if (transposed_) gemm::PackB(w + g * Mg_ * Kg_, Kg_, true, Kg_, Mg_, 1.0f, dst, nullptr);
      else gemm::PackA(w + g * Mg_ * Kg_, Kg_, false, Mg_, Kg_, 1.0f, dst, nullptr);
    }
  }

  /**
   * Column matrix rows (c, kd, kh, kw) over output positions, one row at a time into a row buffer,
   * then copied into the packed B layout. (A panel-major variant that writes the packed panels
   * directly measured slower: per-row window set-up repeated for every panel.)
   */
  void Im2ColPacked(const float* xg, const gemm::PackedLayout& lb, ThreadPool* pool) {
    const int64_t j0 = 0, nb = P_;
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
        gemm::PackBRow(lb, r, row.data(), cols_.data());
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
  void DepthwiseSimd(const float* x, const float* wt, const float* bias, const float* residual, float* y, ThreadPool* pool) const {
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
      // Zero what the copies below leave alone: rows above and below the plane, and the columns
      // either side of it (the buffer is shared with other kernels of this thread).
      const int64_t top = std::min(hp, std::max<int64_t>(0, ph)), bottom = std::min(hp, std::max(top, ph + ih));
      std::memset(xp, 0, sizeof(float) * top * wp);
      std::memset(xp + bottom * wp, 0, sizeof(float) * (need - bottom * wp));
      const int64_t left = std::min(pw, wp), right = std::max<int64_t>(0, wp - pw - copyW);
      for (int64_t r = top; r < bottom; ++r) {
        std::memset(xp + r * wp, 0, sizeof(float) * left);
        std::memset(xp + (r + 1) * wp - right, 0, sizeof(float) * right);
      }
      dw::DwPlaneArgs a;
      a.oh = w.out[1];
      a.ow = w.out[2];
      a.wp = wp;
      a.kh = kh;
      a.kw = kw;
      a.sh = sh;
      a.sw = sw;
      // With a residual the activation follows it, in the pass over the finished plane.
      if (!residual) ActBounds(&a.lo, &a.hi);
      for (int64_t p = p0; p < p1; ++p) {
        const int64_t n = p / M_, m = p % M_;
        const float* xc = x + (n * C_ + m / mult) * w.inSize();
        for (int64_t r = std::max<int64_t>(0, ph); r < hp && r - ph < ih; ++r) {
          std::memcpy(xp + r * wp + pw, xc + (r - ph) * iw, sizeof(float) * copyW);
        }
        a.w = wt + m * kh * kw;
        a.bias = bias ? bias[m] : 0.0f;
        dwPlane_(a, xp, y + p * P_);
        if (residual) ApplyTail(residual + p * P_, y + p * P_, P_);
      }
    };
    const int64_t total = N_ * M_;
    const int64_t grain = std::max<int64_t>(1, 8192 / std::max<int64_t>(1, P_));
    if (pool && pool->threads() > 1 && total > grain) pool->ParallelFor(total, grain, planes);
    else planes(0, total);
  }

  /** One input channel per group: each output channel is a 2-D/3-D stencil of one input plane. */
  void Depthwise(const float* x, const float* wt, const float* bias, const float* residual, float* y, ThreadPool* pool) const {
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
        ApplyTail(residual ? residual + p * P_ : nullptr, yc, P_);
      }
    };
    const int64_t total = N_ * M_;
    if (pool && pool->threads() > 1 && total > 1) pool->ParallelFor(total, 1, planes);
    else planes(0, total);
  }

  /** The activation as clamp bounds (+-infinity where it has none). */
  void ActBounds(float* lo, float* hi) const {
    *lo = -INFINITY;
    *hi = INFINITY;
    if (tail_.act == gemm::Epilogue::Act::Relu) {
      *lo = 0.0f;
    } else if (tail_.act == gemm::Epilogue::Act::Clip) {
      *lo = tail_.clipMin;
      *hi = tail_.clipMax;
    }
  }

  /** y = act(y + residual) over n values (the paths that cannot apply the tail in registers). */
  void ApplyTail(const float* residual, float* y, int64_t n) const {
    if (residual) {
      for (int64_t i = 0; i < n; ++i) y[i] += residual[i];
    }
    if (tail_.act == gemm::Epilogue::Act::None) return;
    float lo, hi;
    ActBounds(&lo, &hi);
    for (int64_t i = 0; i < n; ++i) y[i] = std::min(std::max(y[i], lo), hi);
  }

  conv::Tail tail_;
  int64_t N_ = 0, C_ = 0, M_ = 0, group_ = 1, Cg_ = 0, Mg_ = 0, Kg_ = 0, P_ = 0;
  Window3 win_;
  bool depthwise_ = false, pointwise_ = false, weightsPacked_ = false, transposed_ = false, packInTiles_ = false;
  void (*dwPlane_)(const dw::DwPlaneArgs&, const float*, float*) = nullptr;
  size_t weightsStride_ = 0;  // floats per group in weights_
  conv::ColGeometry geom_;  // vectorized im2col (AVX-512), when usable
  // Packed weights (A layout, or B layout when transposed), the packed column matrix, and Y^T
  // when transposed.
  gemm::AlignedBuffer weights_, cols_, outT_;
};

MCPC_REGISTER_KERNEL("Conv", [](const PrepareContext& ctx) { return ConvKernel::Create(ctx, conv::Tail{}); });

}  // namespace

StatusOr<std::unique_ptr<Kernel>> conv::CreateKernel(const PrepareContext& ctx, const Tail& tail) { return ConvKernel::Create(ctx, tail); }
}  // namespace mcpc
