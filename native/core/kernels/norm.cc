// Normalizations, f32 and f64: BatchNormalization (per-channel scale and shift folded once; in
// training mode from the batch's statistics), LayerNormalization (the vectorized row kernel of rows.h for f32, parallel over rows), and
// InstanceNormalization / GroupNormalization (statistics per block in double, then per-channel affine).
#include <algorithm>
#include <cmath>
#include <vector>

#include "../kernel.h"
#include "../thread_pool.h"
#include "rows.h"

namespace mcpc {
namespace {

void ForRows(ThreadPool* pool, int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (pool && pool->threads() > 1 && n > grain) pool->ParallelFor(n, grain, fn);
  else fn(0, n);
}

bool FloatType(DType t) { return t == DType::F32 || t == DType::F64; }

Status Unsupported(const KernelSpec& spec, DType t) {
  return MCPC_ERROR(MCPC_E_UNSUPPORTED, "%s on %s is not supported by the cpu target (node %s)", spec.op.c_str(), DTypeName(t),
                    spec.source.c_str());
}

template <typename T>
double Load(const void* p, int64_t i) {
  return static_cast<const T*>(p)[i];
}

/** Element i of a float tensor of either float dtype, as double. */
double LoadAny(const TensorView& v, int64_t i) { return v.dtype == DType::F64 ? Load<double>(v.data, i) : Load<float>(v.data, i); }

// ---------------------------------------------------------------------------------------------
// BatchNormalization

class BatchNormKernel : public Kernel {
 public:
  static StatusOr<std::unique_ptr<Kernel>> Create(const PrepareContext& ctx) {
    const KernelSpec& spec = ctx.spec;
    const Slot* sx = ctx.input(0);
    if (!sx || spec.inputs.size() < 5) return MCPC_ERROR(MCPC_E_INVALID_PLAN, "BatchNormalization needs 5 inputs (node %s)", spec.source.c_str());
    if (!FloatType(sx->dtype)) return Unsupported(spec, sx->dtype);
    for (size_t i = 1; i < 5; ++i) {
      if (!ctx.input(i) || !FloatType(ctx.input(i)->dtype)) return Unsupported(spec, ctx.input(i) ? ctx.input(i)->dtype : sx->dtype);
    }
    if (sx->shape.size() < 2) return MCPC_ERROR(MCPC_E_INVALID_PLAN, "BatchNormalization input must have rank >= 2 (node %s)", spec.source.c_str());
    const bool training = spec.Int("training_mode", 0) != 0;
    if (!training && spec.outputs.size() > 1) {
      return MCPC_ERROR(MCPC_E_INVALID_PLAN, "BatchNormalization outputs running_mean and running_var need training_mode=1 (node %s)",
                        spec.source.c_str());
    }
    auto k = std::make_unique<BatchNormKernel>();
    k->dtype_ = sx->dtype;
    k->N_ = sx->shape[0];
    k->C_ = sx->shape[1];
    k->inner_ = 1;
    for (size_t i = 2; i < sx->shape.size(); ++i) k->inner_ *= sx->shape[i];
    k->eps_ = spec.Float("epsilon", 1e-5);
    k->mul_.resize(k->C_);
    k->add_.resize(k->C_);
    if (training) {
      k->training_ = true;
      k->momentum_ = spec.Float("momentum", 0.9);
      for (size_t j = 1; j < spec.outputs.size(); ++j) {
        const Slot* so = ctx.output(j);
        if (!FloatType(so->dtype) || Numel(so->shape) != k->C_) {
          return MCPC_ERROR(MCPC_E_INVALID_PLAN, "BatchNormalization output %zu must be a float vector of %lld (node %s)", j,
                            static_cast<long long>(k->C_), spec.source.c_str());
        }
      }
      return std::unique_ptr<Kernel>(std::move(k));
    }
    bool allConst = static_cast<bool>(ctx.constantInput);
    std::vector<TensorView> views(5);
    for (size_t i = 1; allConst && i < 5; ++i) {
      const void* p = ctx.constantInput(i);
      if (!p) allConst = false;
      views[i].data = const_cast<void*>(p);
      views[i].dtype = ctx.input(i)->dtype;
    }
    if (allConst) {
      k->Fold(views);
      k->folded_ = true;
    }
    return std::unique_ptr<Kernel>(std::move(k));
  }

  Status Run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext& ctx) override {
    if (training_) BatchStatistics(in, out);
    else if (!folded_) Fold(in);
    const int64_t inner = inner_, C = C_;
    ForRows(ctx.pool, N_ * C_, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, inner)), [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        const int64_t c = p % C;
        if (dtype_ == DType::F32) {
          const float* x = in[0].as<float>() + p * inner;
          float* y = out[0].as<float>() + p * inner;
          const float m = static_cast<float>(mul_[c]), a = static_cast<float>(add_[c]);
          for (int64_t i = 0; i < inner; ++i) y[i] = x[i] * m + a;
        } else {
          const double* x = in[0].as<double>() + p * inner;
          double* y = out[0].as<double>() + p * inner;
          for (int64_t i = 0; i < inner; ++i) y[i] = x[i] * mul_[c] + add_[c];
        }
      }
    });
    return Status::Ok();
  }

 private:
  static int64_t Numel(const std::vector<int64_t>& shape) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }

  /**
   * Training mode: normalizes with this batch's mean and (population) variance per channel, and
   * writes running_mean / running_var = input * momentum + batch * (1 - momentum) when asked.
   */
  void BatchStatistics(const std::vector<TensorView>& in, const std::vector<TensorView>& out) {
    const double count = static_cast<double>(N_ * inner_);
    for (int64_t c = 0; c < C_; ++c) {
      double sum = 0, sq = 0;
      for (int64_t n = 0; n < N_; ++n) {
        const int64_t b = (n * C_ + c) * inner_;
        for (int64_t i = 0; i < inner_; ++i) {
          const double a = LoadAny(in[0], b + i);
          sum += a;
          sq += a * a;
        }
      }
      const double mean = count > 0 ? sum / count : 0;
      const double var = count > 0 ? sq / count - mean * mean : 0;
      const double k = LoadAny(in[1], c) / std::sqrt(var + eps_);
      mul_[c] = k;
      add_[c] = LoadAny(in[2], c) - mean * k;
      const double stats[2] = {mean, var};
      for (size_t j = 1; j < out.size() && j < 3; ++j) {
        const double v = LoadAny(in[2 + j], c) * momentum_ + stats[j - 1] * (1 - momentum_);
        if (out[j].dtype == DType::F64) out[j].as<double>()[c] = v;
        else out[j].as<float>()[c] = static_cast<float>(v);
      }
    }
  }

  void Fold(const std::vector<TensorView>& v) {
    for (int64_t c = 0; c < C_; ++c) {
      const double k = LoadAny(v[1], c) / std::sqrt(LoadAny(v[4], c) + eps_);
      mul_[c] = k;
      add_[c] = LoadAny(v[2], c) - LoadAny(v[3], c) * k;
    }
  }

  DType dtype_ = DType::F32;
  int64_t N_ = 0, C_ = 0, inner_ = 1;
  double eps_ = 1e-5;
  bool folded_ = false;
  bool training_ = false;
  double momentum_ = 0.9;
  std::vector<double> mul_, add_;
};

// ---------------------------------------------------------------------------------------------
// LayerNormalization

class LayerNormKernel : public Kernel {
 public:
  static StatusOr<std::unique_ptr<Kernel>> Create(const PrepareContext& ctx) {
    const KernelSpec& spec = ctx.spec;
    const Slot* sx = ctx.input(0);
    const Slot* ss = ctx.input(1);
    const Slot* sb = ctx.input(2);
    if (!sx || !ss) return MCPC_ERROR(MCPC_E_INVALID_PLAN, "LayerNormalization needs X and Scale (node %s)", spec.source.c_str());
    if (!FloatType(sx->dtype) || ss->dtype != sx->dtype || (sb && sb->dtype != sx->dtype)) return Unsupported(spec, sx->dtype);
    const int64_t rank = static_cast<int64_t>(sx->shape.size());
    int64_t axis = spec.Int("axis", -1);
    if (axis < 0) axis += rank;
    if (axis < 0 || axis >= rank) return MCPC_ERROR(MCPC_E_INVALID_PLAN, "LayerNormalization axis out of range (node %s)", spec.source.c_str());
    auto k = std::make_unique<LayerNormKernel>();
    k->dtype_ = sx->dtype;
    k->outer_ = 1;
    k->inner_ = 1;
    for (int64_t i = 0; i < rank; ++i) (i < axis ? k->outer_ : k->inner_) *= sx->shape[i];
    auto count = [](const Slot* s) {
      int64_t n = 1;
      for (auto d : s->shape) n *= d;
      return n;
    };
    // Scale and B must be per position of the normalized block (or a single value).
    for (const Slot* s : {ss, sb}) {
      if (!s) continue;
      const int64_t n = count(s);
      if (n != 1 && n != k->inner_) {
        return MCPC_ERROR(MCPC_E_UNSUPPORTED, "LayerNormalization with Scale/B varying outside the normalized axes is not supported (node %s)",
                          spec.source.c_str());
      }
    }
    k->scaleCount_ = count(ss);
    k->biasCount_ = sb ? count(sb) : 0;
    k->eps_ = spec.Float("epsilon", 1e-5);
    for (size_t i = 1; i < spec.outputs.size(); ++i) {
      if (spec.outputs[i] >= 0 && !FloatType(ctx.output(i)->dtype)) return Unsupported(spec, ctx.output(i)->dtype);
    }
    return std::unique_ptr<Kernel>(std::move(k));
  }

  Status Run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext& ctx) override {
    const TensorView* meanOut = out.size() > 1 && out[1].data ? &out[1] : nullptr;
    const TensorView* invOut = out.size() > 2 && out[2].data ? &out[2] : nullptr;
    const bool hasBias = in.size() > 2 && in[2].data;
    if (dtype_ == DType::F32) {
      const float* scale = Expand(in[1].as<float>(), scaleCount_, &scaleBuf_);
      const float* bias = hasBias ? Expand(in[2].as<float>(), biasCount_, &biasBuf_) : nullptr;
      const auto& rk = rows::Active();
      ForRows(ctx.pool, outer_, std::max<int64_t>(1, 8192 / std::max<int64_t>(1, inner_)), [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          float m, inv;
          rk.layerNorm(in[0].as<float>() + r * inner_, out[0].as<float>() + r * inner_, inner_, scale, bias, static_cast<float>(eps_), &m, &inv);
          Store(meanOut, r, m);
          Store(invOut, r, inv);
        }
      });
      return Status::Ok();
    }
    const double* scale = in[1].as<double>();
    const double* bias = hasBias ? in[2].as<double>() : nullptr;
    ForRows(ctx.pool, outer_, 1, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const double* x = in[0].as<double>() + r * inner_;
        double* y = out[0].as<double>() + r * inner_;
        double s = 0, q = 0;
        for (int64_t i = 0; i < inner_; ++i) s += x[i];
        const double m = s / inner_;
        for (int64_t i = 0; i < inner_; ++i) q += (x[i] - m) * (x[i] - m);
        const double inv = 1.0 / std::sqrt(q / inner_ + eps_);
        for (int64_t i = 0; i < inner_; ++i) {
          y[i] = (x[i] - m) * inv * scale[scaleCount_ == 1 ? 0 : i] + (bias ? bias[biasCount_ == 1 ? 0 : i] : 0.0);
        }
        Store(meanOut, r, m);
        Store(invOut, r, inv);
      }
    });
    return Status::Ok();
  }

 private:
  const float* Expand(const float* p, int64_t count, std::vector<float>* buf) const {
    if (count != 1 || inner_ == 1) return p;
    buf->assign(inner_, p[0]);
    return buf->data();
  }

  static void Store(const TensorView* v, int64_t i, double value) {
    if (!v) return;
    if (v->dtype == DType::F64) v->as<double>()[i] = value;
    else v->as<float>()[i] = static_cast<float>(value);
  }

  DType dtype_ = DType::F32;
  int64_t outer_ = 1, inner_ = 1, scaleCount_ = 1, biasCount_ = 0;
  double eps_ = 1e-5;
  std::vector<float> scaleBuf_, biasBuf_;
};

// ---------------------------------------------------------------------------------------------
// InstanceNormalization and GroupNormalization: blocks of `chans` channels x `inner` positions.

class BlockNormKernel : public Kernel {
 public:
  static StatusOr<std::unique_ptr<Kernel>> Create(const PrepareContext& ctx, bool grouped) {
    const KernelSpec& spec = ctx.spec;
    const Slot* sx = ctx.input(0);
    if (!sx || !ctx.input(1) || !ctx.input(2)) return MCPC_ERROR(MCPC_E_INVALID_PLAN, "%s needs 3 inputs (node %s)", spec.op.c_str(), spec.source.c_str());
    if (!FloatType(sx->dtype) || ctx.input(1)->dtype != sx->dtype || ctx.input(2)->dtype != sx->dtype) return Unsupported(spec, sx->dtype);
    if (sx->shape.size() < 2) return MCPC_ERROR(MCPC_E_INVALID_PLAN, "%s input must have rank >= 2 (node %s)", spec.op.c_str(), spec.source.c_str());
    auto k = std::make_unique<BlockNormKernel>();
    k->dtype_ = sx->dtype;
    k->N_ = sx->shape[0];
    k->C_ = sx->shape[1];
    k->inner_ = 1;
    for (size_t i = 2; i < sx->shape.size(); ++i) k->inner_ *= sx->shape[i];
    k->groups_ = grouped ? spec.Int("num_groups", 1) : k->C_;
    if (k->groups_ < 1 || k->C_ % k->groups_) {
      return MCPC_ERROR(MCPC_E_INVALID_PLAN, "%s: %ld channels are not divisible by num_groups=%ld (node %s)", spec.op.c_str(), (long)k->C_,
                        (long)k->groups_, spec.source.c_str());
    }
    k->eps_ = spec.Float("epsilon", 1e-5);
    return std::unique_ptr<Kernel>(std::move(k));
  }

  Status Run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext& ctx) override {
    if (dtype_ == DType::F32) Compute(in[0].as<float>(), in[1].as<float>(), in[2].as<float>(), out[0].as<float>(), ctx.pool);
    else Compute(in[0].as<double>(), in[1].as<double>(), in[2].as<double>(), out[0].as<double>(), ctx.pool);
    return Status::Ok();
  }

 private:
  template <typename T>
  void Compute(const T* x, const T* scale, const T* bias, T* y, ThreadPool* pool) const {
    const int64_t chans = C_ / groups_;
    const int64_t block = chans * inner_;
    ForRows(pool, N_ * groups_, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        const T* xb = x + b * block;
        T* yb = y + b * block;
        double s = 0, q = 0;
        for (int64_t i = 0; i < block; ++i) s += xb[i];
        const double m = s / block;
        for (int64_t i = 0; i < block; ++i) q += (xb[i] - m) * (xb[i] - m);
        const double inv = 1.0 / std::sqrt(q / block + eps_);
        const int64_t c0 = (b % groups_) * chans;
        for (int64_t c = 0; c < chans; ++c) {
          const T k = static_cast<T>(inv * scale[c0 + c]);
          const T a = static_cast<T>(bias[c0 + c] - m * inv * scale[c0 + c]);
          const T* xc = xb + c * inner_;
          T* yc = yb + c * inner_;
          for (int64_t i = 0; i < inner_; ++i) yc[i] = xc[i] * k + a;
        }
      }
    });
  }

  DType dtype_ = DType::F32;
  int64_t N_ = 0, C_ = 0, inner_ = 1, groups_ = 1;
  double eps_ = 1e-5;
};

MCPC_REGISTER_KERNEL("BatchNormalization", BatchNormKernel::Create);
MCPC_REGISTER_KERNEL("LayerNormalization", LayerNormKernel::Create);
MCPC_REGISTER_KERNEL("InstanceNormalization", [](const PrepareContext& ctx) { return BlockNormKernel::Create(ctx, false); });
MCPC_REGISTER_KERNEL("GroupNormalization", [](const PrepareContext& ctx) { return BlockNormKernel::Create(ctx, true); });

}  // namespace
}  // namespace mcpc
