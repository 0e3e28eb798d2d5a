// Windowed pools over 1-3 spatial dims (MaxPool with its optional Indices output, AveragePool with
// count_include_pad and ceil_mode) and the global pools, for f32 and f64, parallel over N*C planes.
// Window taps are clipped per output position once at Prepare; padding never contributes a value and
// counts toward an average only inside the explicit pads, as compiler/ops/pooling.ts defines.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>

#include "../kernel.h"
#include "through_f32.h"
#include "../thread_pool.h"
#include "gemm.h"
#include "window.h"

namespace mcpc {

// pool_avx512.cc
int64_t MaxPoolRowBuffer(int64_t iw, int64_t ow, int kw, int sw, int64_t pw);
void MaxPool2DPlaneAvx512(const float* x, int64_t iw, float* y, int64_t oh, int64_t ow, int kw, int sh, int sw, int64_t ph, int64_t pw,
                          const int32_t* rowLo, const int32_t* rowHi, float* buf);

namespace {

void ForPlanes(ThreadPool* pool, int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (pool && pool->threads() > 1 && n > 1) pool->ParallelFor(n, grain, fn);
  else fn(0, n);
}

/** Per output position of one dim: valid taps [lo, hi) and taps inside the explicit pads. */
struct Taps {
  std::vector<int32_t> lo, hi, padded;
};

Taps DimTaps(const Window3& w, int d) {
  Taps t;
  for (int64_t o = 0; o < w.out[d]; ++o) {
    int32_t lo = -1, hi = -1, padded = 0;
    for (int64_t k = 0; k < w.k[d]; ++k) {
      const int64_t i = o * w.stride[d] - w.padBegin[d] + k * w.dil[d];
      if (i >= -w.padBegin[d] && i < w.in[d] + w.padEnd[d]) ++padded;
      if (i >= 0 && i < w.in[d]) {
        if (lo < 0) lo = static_cast<int32_t>(k);
        hi = static_cast<int32_t>(k + 1);
      }
    }
    if (lo < 0) lo = hi = 0;
    t.lo.push_back(lo);
    t.hi.push_back(hi);
    t.padded.push_back(padded);
  }
  return t;
}

class PoolKernel : public Kernel {
 public:
  static StatusOr<std::unique_ptr<Kernel>> Create(const PrepareContext& ctx, bool isMax) {
    const KernelSpec& spec = ctx.spec;
    const Slot* sx = ctx.input(0);
    if (!sx || spec.outputs.empty()) return MCPC_ERROR(MCPC_E_INVALID_PLAN, "%s needs an input (node %s)", spec.op.c_str(), spec.source.c_str());
    // A max selects one of its inputs: narrower types (u8, i8, f16...) pool exactly through f32.
    if (isMax && WidensToF32(sx->dtype)) return CreateThroughF32(ctx, sx->dtype, [](const PrepareContext& pc) { return PoolKernel::Create(pc, true); });
    if (sx->dtype != DType::F32 && sx->dtype != DType::F64) {
      return MCPC_ERROR(MCPC_E_UNSUPPORTED, "%s on %s is not supported by the cpu target (node %s)", spec.op.c_str(), DTypeName(sx->dtype),
                        spec.source.c_str());
    }
    const auto& xs = sx->shape;
    const auto& ys = ctx.output(0)->shape;
    if (xs.size() < 3 || xs.size() > 5 || ys.size() != xs.size()) {
      return MCPC_ERROR(MCPC_E_UNSUPPORTED, "%s with input rank %zu is not supported (node %s)", spec.op.c_str(), xs.size(),
                        spec.source.c_str());
    }
    auto k = std::make_unique<PoolKernel>();
    k->isMax_ = isMax;
    k->dtype_ = sx->dtype;
    k->planes_ = xs[0] * xs[1];
    k->includePad_ = spec.Int("count_include_pad", 0) != 0;
    k->colMajor_ = spec.Int("storage_order", 0) != 0;
    std::vector<int64_t> inSp(xs.begin() + 2, xs.end()), outSp(ys.begin() + 2, ys.end());
    const auto kern = spec.Ints("kernel_shape");
    MCPC_RETURN_IF_ERROR(ResolveWindow(spec, inSp, kern, outSp, &k->win_));
    for (int d = 0; d < 3; ++d) k->taps_[d] = DimTaps(k->win_, d);
    if (spec.outputs.size() > 1 && !isMax) {
      return MCPC_ERROR(MCPC_E_INVALID_PLAN, "%s has one output (node %s)", spec.op.c_str(), spec.source.c_str());
    }
    return std::unique_ptr<Kernel>(std::move(k));
  }

  Status Run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext& ctx) override {
    int64_t* idx = out.size() > 1 && out[1].data ? out[1].as<int64_t>() : nullptr;
    if (dtype_ == DType::F32) Compute(in[0].as<float>(), out[0].as<float>(), idx, ctx.pool);
    else Compute(in[0].as<double>(), out[0].as<double>(), idx, ctx.pool);
    return Status::Ok();
  }

 private:
  /**
   * 2-D MaxPool without indices, dilation 1: separable. Per output row, the max over the window's
   * valid input rows into a row buffer (contiguous, vectorizes), then the max over the valid
   * columns of each output position. Same order of comparisons per tap row as the generic path
   * (first valid tap, then strictly greater), so equal results without NaNs. f32 on AVX-512 runs
   * the same scheme a vector at a time (pool_avx512.cc).
   */
  template <typename T>
  void MaxPool2D(const T* x, T* y, ThreadPool* pool) const {
    const Window3& w = win_;
    const int64_t ih = w.in[1], iw = w.in[2], oh = w.out[1], ow = w.out[2];
    const int64_t sh = w.stride[1], sw = w.stride[2], ph = w.padBegin[1], pw = w.padBegin[2];
    const int64_t outPlane = oh * ow;
    if constexpr (std::is_same_v<T, float>) {
      if (std::string(gemm::ActiveArch().name) == "avx512") {
        const int kw = static_cast<int>(w.k[2]);
        ForPlanes(pool, planes_, std::max<int64_t>(1, 8192 / std::max<int64_t>(1, outPlane)), [&](int64_t p0, int64_t p1) {
          std::vector<float> buf(static_cast<size_t>(MaxPoolRowBuffer(iw, ow, kw, static_cast<int>(sw), pw)));
          for (int64_t p = p0; p < p1; ++p) {
            MaxPool2DPlaneAvx512(x + p * ih * iw, iw, y + p * outPlane, oh, ow, kw, static_cast<int>(sh), static_cast<int>(sw), ph, pw,
                                 taps_[1].lo.data(), taps_[1].hi.data(), buf.data());
          }
        });
        return;
      }
    }
    ForPlanes(pool, planes_, std::max<int64_t>(1, 8192 / std::max<int64_t>(1, outPlane)), [&](int64_t p0, int64_t p1) {
      std::vector<T> row(static_cast<size_t>(iw));
      for (int64_t p = p0; p < p1; ++p) {
        const T* xp = x + p * ih * iw;
        T* yp = y + p * outPlane;
        for (int64_t o = 0; o < oh; ++o) {
          const int64_t h0 = taps_[1].lo[o], h1 = taps_[1].hi[o];
          T* yr = yp + o * ow;
          if (h0 >= h1) {
            for (int64_t j = 0; j < ow; ++j) yr[j] = -std::numeric_limits<T>::infinity();
            continue;
          }
          const T* r0 = xp + (o * sh - ph + h0) * iw;
          T* t = row.data();
          for (int64_t i = 0; i < iw; ++i) t[i] = r0[i];
          for (int64_t kh = h0 + 1; kh < h1; ++kh) {
            const T* r = xp + (o * sh - ph + kh) * iw;
            for (int64_t i = 0; i < iw; ++i) t[i] = r[i] > t[i] ? r[i] : t[i];
          }
          for (int64_t j = 0; j < ow; ++j) {
            const int64_t w0 = taps_[2].lo[j], w1 = taps_[2].hi[j];
            if (w0 >= w1) {
              yr[j] = -std::numeric_limits<T>::infinity();
              continue;
            }
            const T* c = t + j * sw - pw;
            T best = c[w0];
            for (int64_t kw = w0 + 1; kw < w1; ++kw) best = c[kw] > best ? c[kw] : best;
            yr[j] = best;
          }
        }
      }
    });
  }

  template <typename T>
  void Compute(const T* x, T* y, int64_t* idx, ThreadPool* pool) const {
    const Window3& w = win_;
    if (isMax_ && !idx && w.k[0] == 1 && w.in[0] == 1 && w.out[0] == 1 && w.dil[1] == 1 && w.dil[2] == 1) {
      MaxPool2D(x, y, pool);
      return;
    }
    const int64_t inPlane = w.inSize(), outPlane = w.outSize();
    ForPlanes(pool, planes_, 4, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        const T* xp = x + p * inPlane;
        T* yp = y + p * outPlane;
        int64_t* ip = idx ? idx + p * outPlane : nullptr;
        int64_t oi = 0;
        for (int64_t od = 0; od < w.out[0]; ++od) {
          const int64_t d0 = taps_[0].lo[od], d1 = taps_[0].hi[od];
          for (int64_t oh = 0; oh < w.out[1]; ++oh) {
            const int64_t h0 = taps_[1].lo[oh], h1 = taps_[1].hi[oh];
            for (int64_t ow = 0; ow < w.out[2]; ++ow, ++oi) {
              const int64_t w0 = taps_[2].lo[ow], w1 = taps_[2].hi[ow];
              if (isMax_) {
                T best = -std::numeric_limits<T>::infinity();
                int64_t at = -1;
                for (int64_t kd = d0; kd < d1; ++kd) {
                  const int64_t id = od * w.stride[0] - w.padBegin[0] + kd * w.dil[0];
                  for (int64_t kh = h0; kh < h1; ++kh) {
                    const int64_t ih = oh * w.stride[1] - w.padBegin[1] + kh * w.dil[1];
                    const T* row = xp + (id * w.in[1] + ih) * w.in[2];
                    for (int64_t kw = w0; kw < w1; ++kw) {
                      const int64_t iw = ow * w.stride[2] - w.padBegin[2] + kw * w.dil[2];
                      const T a = row[iw];
                      if (a > best || at < 0) {
                        best = a;
                        at = colMajor_ ? id + (ih + iw * w.in[1]) * w.in[0] : (id * w.in[1] + ih) * w.in[2] + iw;
                      }
                    }
                  }
                }
                yp[oi] = best;
                if (ip) ip[oi] = p * inPlane + at;
              } else {
                double sum = 0;
                for (int64_t kd = d0; kd < d1; ++kd) {
                  const int64_t id = od * w.stride[0] - w.padBegin[0] + kd * w.dil[0];
                  for (int64_t kh = h0; kh < h1; ++kh) {
                    const int64_t ih = oh * w.stride[1] - w.padBegin[1] + kh * w.dil[1];
                    const T* row = xp + (id * w.in[1] + ih) * w.in[2];
                    for (int64_t kw = w0; kw < w1; ++kw) sum += row[ow * w.stride[2] - w.padBegin[2] + kw * w.dil[2]];
                  }
                }
                const int64_t cnt = includePad_ ? int64_t(taps_[0].padded[od]) * taps_[1].padded[oh] * taps_[2].padded[ow]
                                                : (d1 - d0) * (h1 - h0) * (w1 - w0);
                yp[oi] = static_cast<T>(sum / static_cast<double>(cnt));
              }
            }
          }
        }
      }
    });
  }

  bool isMax_ = false, includePad_ = false, colMajor_ = false;
  DType dtype_ = DType::F32;
  int64_t planes_ = 0;
  Window3 win_;
  Taps taps_[3];
};

class GlobalPoolKernel : public Kernel {
 public:
  static StatusOr<std::unique_ptr<Kernel>> Create(const PrepareContext& ctx, bool isMax) {
    const KernelSpec& spec = ctx.spec;
    const Slot* sx = ctx.input(0);
    if (!sx) return MCPC_ERROR(MCPC_E_INVALID_PLAN, "%s needs an input (node %s)", spec.op.c_str(), spec.source.c_str());
    if (isMax && WidensToF32(sx->dtype)) return CreateThroughF32(ctx, sx->dtype, [](const PrepareContext& pc) { return GlobalPoolKernel::Create(pc, true); });
    if (sx->dtype != DType::F32 && sx->dtype != DType::F64) {
      return MCPC_ERROR(MCPC_E_UNSUPPORTED, "%s on %s is not supported by the cpu target (node %s)", spec.op.c_str(), DTypeName(sx->dtype),
                        spec.source.c_str());
    }
    if (sx->shape.size() < 3) return MCPC_ERROR(MCPC_E_INVALID_PLAN, "%s input must have rank >= 3 (node %s)", spec.op.c_str(), spec.source.c_str());
    auto k = std::make_unique<GlobalPoolKernel>();
    k->isMax_ = isMax;
    k->dtype_ = sx->dtype;
    k->planes_ = sx->shape[0] * sx->shape[1];
    k->plane_ = 1;
    for (size_t i = 2; i < sx->shape.size(); ++i) k->plane_ *= sx->shape[i];
    return std::unique_ptr<Kernel>(std::move(k));
  }

  Status Run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext& ctx) override {
    if (dtype_ == DType::F32) Compute(in[0].as<float>(), out[0].as<float>(), ctx.pool);
    else Compute(in[0].as<double>(), out[0].as<double>(), ctx.pool);
    return Status::Ok();
  }

 private:
  template <typename T>
  void Compute(const T* x, T* y, ThreadPool* pool) const {
    const int64_t plane = plane_;
    ForPlanes(pool, planes_, 16, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        const T* xp = x + p * plane;
        if (isMax_) {
          T best = -std::numeric_limits<T>::infinity();
          for (int64_t i = 0; i < plane; ++i) {
            if (xp[i] > best || xp[i] != xp[i]) best = xp[i];
          }
          y[p] = best;
        } else {
          // Four partial sums: lets the compiler vectorize without reassociating one long chain.
          double s[4] = {0, 0, 0, 0};
          int64_t i = 0;
          for (; i + 4 <= plane; i += 4) {
            for (int j = 0; j < 4; ++j) s[j] += xp[i + j];
          }
          for (; i < plane; ++i) s[0] += xp[i];
          y[p] = static_cast<T>((s[0] + s[1] + s[2] + s[3]) / static_cast<double>(plane));
        }
      }
    });
  }

  bool isMax_ = false;
  DType dtype_ = DType::F32;
  int64_t planes_ = 0, plane_ = 1;
};

MCPC_REGISTER_KERNEL("MaxPool", [](const PrepareContext& ctx) { return PoolKernel::Create(ctx, true); });
MCPC_REGISTER_KERNEL("AveragePool", [](const PrepareContext& ctx) { return PoolKernel::Create(ctx, false); });
MCPC_REGISTER_KERNEL("GlobalMaxPool", [](const PrepareContext& ctx) { return GlobalPoolKernel::Create(ctx, true); });
MCPC_REGISTER_KERNEL("GlobalAveragePool", [](const PrepareContext& ctx) { return GlobalPoolKernel::Create(ctx, false); });

}  // namespace
}  // namespace mcpc
