// MatMul (numpy semantics, batch broadcasting) and Gemm (transA/transB, alpha, beta, C broadcast)
// on the packed GEMM. f32 uses gemm.h with a constant B packed once at Prepare; f16/bf16 MatMul
// widens to f32 and rounds once; f64 runs a plain loop (rare in models, kept for completeness).
#include <algorithm>
#include <cstring>

#include "../kernel.h"
#include "../thread_pool.h"
#include "elementwise.h"
#include "gemm.h"

namespace mcpc {
namespace {

std::string ShapeStr(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? "," : "") + std::to_string(s[i]);
  return r + "]";
}

/** One output batch entry of a broadcast MatMul: element offsets of its A and B matrices. */
struct BatchPair {
  int64_t a, b;
};

template <typename T>
void NaiveMatMul(const T* a, int64_t lda, bool ta, const T* b, int64_t ldb, bool tb, T* c, int64_t M, int64_t N, int64_t K) {
  for (int64_t i = 0; i < M; ++i) {
    T* crow = c + i * N;
    for (int64_t j = 0; j < N; ++j) crow[j] = 0;
    for (int64_t k = 0; k < K; ++k) {
      const T av = ta ? a[k * lda + i] : a[i * lda + k];
      if (tb) {
        for (int64_t j = 0; j < N; ++j) crow[j] += av * b[j * ldb + k];
      } else {
        const T* brow = b + k * ldb;
        for (int64_t j = 0; j < N; ++j) crow[j] += av * brow[j];
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// MatMul

class MatMulKernel : public Kernel {
 public:
  static StatusOr<std::unique_ptr<Kernel>> Create(const PrepareContext& ctx) {
    const KernelSpec& spec = ctx.spec;
    const Slot* sa = ctx.input(0);
    const Slot* sb = ctx.input(1);
    if (!sa || !sb || spec.outputs.size() != 1) {
      return MCPC_ERROR(MCPC_E_INVALID_PLAN, "MatMul needs inputs A and B and one output (node %s)", spec.source.c_str());
    }
    const bool half = sa->dtype == DType::F16 || sa->dtype == DType::BF16;
    if (sa->dtype != sb->dtype || (sa->dtype != DType::F32 && sa->dtype != DType::F64 && !half)) {
      return MCPC_ERROR(MCPC_E_UNSUPPORTED, "MatMul on %s x %s is not supported by the cpu target (node %s)", DTypeName(sa->dtype),
                        DTypeName(sb->dtype), spec.source.c_str());
    }
    auto k = std::make_unique<MatMulKernel>();
    k->dtype_ = sa->dtype;
    std::vector<int64_t> a = sa->shape, b = sb->shape;
    if (a.empty() || b.empty()) return MCPC_ERROR(MCPC_E_INVALID_PLAN, "MatMul inputs must have rank >= 1 (node %s)", spec.source.c_str());
    if (a.size() == 1) a.insert(a.begin(), 1);
    if (b.size() == 1) b.push_back(1);
    k->M_ = a[a.size() - 2];
    k->K_ = a.back();
    k->N_ = b.back();
    if (b[b.size() - 2] != k->K_) {
      return MCPC_ERROR(MCPC_E_INVALID_PLAN, "MatMul inner dims differ: %s x %s (node %s)", ShapeStr(sa->shape).c_str(),
                        ShapeStr(sb->shape).c_str(), spec.source.c_str());
    }
    // Broadcast the batch dims and list, per output batch, the A and B matrix offsets.
    std::vector<int64_t> ab(a.begin(), a.end() - 2), bb(b.begin(), b.end() - 2);
    const size_t rank = std::max(ab.size(), bb.size());
    ab.insert(ab.begin(), rank - ab.size(), 1);
    bb.insert(bb.begin(), rank - bb.size(), 1);
    std::vector<int64_t> ob(rank);
    int64_t batches = 1, aBatches = 1, bBatches = 1;
    for (size_t i = 0; i < rank; ++i) {
      if (ab[i] != bb[i] && ab[i] != 1 && bb[i] != 1) {
        return MCPC_ERROR(MCPC_E_INVALID_PLAN, "MatMul batch dims do not broadcast: %s x %s (node %s)", ShapeStr(sa->shape).c_str(),
                          ShapeStr(sb->shape).c_str(), spec.source.c_str());
      }
      ob[i] = std::max(ab[i], bb[i]);
      batches *= ob[i];
      aBatches *= ab[i];
      bBatches *= bb[i];
    }
    k->bBatches_ = bBatches;
    // B shared by every batch and A batches contiguous: fold the batches into M (one big GEMM).
    k->foldBatches_ = bBatches == 1 && aBatches == batches;
    if (k->foldBatches_) {
      k->M_ *= batches;
      k->pairs_.push_back({0, 0});
    } else {
      std::vector<int64_t> idx(rank, 0);
      for (int64_t p = 0; p < batches; ++p) {
        int64_t ao = 0, bo = 0, as = 1, bs = 1;
        for (size_t i = rank; i-- > 0;) {
          ao += (ab[i] == 1 ? 0 : idx[i]) * as;
          bo += (bb[i] == 1 ? 0 : idx[i]) * bs;
          as *= ab[i];
          bs *= bb[i];
        }
        k->pairs_.push_back({ao * k->M_ * k->K_, bo * k->K_ * k->N_});
        for (size_t i = rank; i-- > 0;) {
          if (++idx[i] < ob[i]) break;
          idx[i] = 0;
        }
      }
    }
    const void* wb = ctx.constantInput ? ctx.constantInput(1) : nullptr;
    if (wb && k->dtype_ == DType::F32 && k->N_ > 0 && k->K_ > 0) {
      const size_t one = gemm::LayoutB(k->K_, k->N_).size();
      k->packedStride_ = one;
      k->packedB_.reserve(one * bBatches + 1);
      const float* w = static_cast<const float*>(wb);
      for (int64_t q = 0; q < bBatches; ++q) {
        gemm::PackB(w + q * k->K_ * k->N_, k->N_, false, k->K_, k->N_, 1.0f, k->packedB_.data() + q * one, nullptr);
      }
      k->prepacked_ = true;
      ctx.releaseConstantInput(1);
    }
    return std::unique_ptr<Kernel>(std::move(k));
  }

  Status Run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext& ctx) override {
    if (dtype_ == DType::F64) {
      for (auto& p : pairs_) {
        const int64_t o = (&p - pairs_.data()) * M_ * N_;
        NaiveMatMul(in[0].as<double>() + p.a, K_, false, in[1].as<double>() + p.b, N_, false, out[0].as<double>() + o, M_, N_, K_);
      }
      return Status::Ok();
    }
    if (dtype_ == DType::F16 || dtype_ == DType::BF16) return RunHalf(in, out, ctx);
    return RunF32(in[0].as<float>(), in[1].as<float>(), out[0].as<float>(), ctx);
  }

 private:
  /** f16/bf16: widened to f32, multiplied by the f32 GEMM, rounded once (as the reference does). */
  Status RunHalf(const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext& ctx) {
    auto widen = [&](const TensorView& t, std::vector<float>* v) {
      v->resize(static_cast<size_t>(t.numel));
      const uint16_t* p = t.as<const uint16_t>();
      for (int64_t i = 0; i < t.numel; ++i) (*v)[i] = dtype_ == DType::F16 ? ew::HalfToFloat(p[i]) : ew::BF16ToFloat(p[i]);
    };
    std::vector<float> a, b, c(static_cast<size_t>(out[0].numel));
    widen(in[0], &a);
    widen(in[1], &b);
    MCPC_RETURN_IF_ERROR(RunF32(a.data(), b.data(), c.data(), ctx));
    uint16_t* y = out[0].as<uint16_t>();
    for (int64_t i = 0; i < out[0].numel; ++i) y[i] = dtype_ == DType::F16 ? ew::FloatToHalf(c[i]) : ew::FloatToBF16(c[i]);
    return Status::Ok();
  }

  Status RunF32(const float* a, const float* b, float* c, RunContext& ctx) {
    const int64_t nb = static_cast<int64_t>(pairs_.size());
    const int threads = ctx.pool ? ctx.pool->threads() : 1;
    const gemm::Epilogue ep;
    // A shared by every batch (broadcast, as in per-head projections) and B prepacked: A is
    // packed once for all of them instead of once per batch.
    if (prepacked_ && !foldBatches_ && nb > 1 && std::all_of(pairs_.begin(), pairs_.end(), [](const BatchPair& q) { return q.a == 0; })) {
      scratch_.reserve(gemm::LayoutA(M_, K_).size() + 16);
      gemm::PackA(a, K_, false, M_, K_, 1.0f, scratch_.data(), ctx.pool);
      for (int64_t p = 0; p < nb; ++p) {
        const float* packed = packedB_.data() + (pairs_[p].b / std::max<int64_t>(1, K_ * N_)) * packedStride_;
        gemm::GemmPacked(M_, N_, K_, scratch_.data(), packed, c + p * M_ * N_, N_, false, ep, ctx.pool);
      }
      return Status::Ok();
    }
    auto one = [&](int64_t p, ThreadPool* pool, gemm::AlignedBuffer* scratch) {
      const BatchPair& bp = pairs_[p];
      float* cp = c + p * M_ * N_;
      if (prepacked_) {
        const float* packed = packedB_.data() + (bp.b / std::max<int64_t>(1, K_ * N_)) * packedStride_;
        gemm::SgemmPackedB(false, M_, N_, K_, a + bp.a, K_, packed, 0.0f, cp, N_, ep, pool, scratch);
      } else {
        gemm::Sgemm(false, false, M_, N_, K_, 1.0f, a + bp.a, K_, b + bp.b, N_, 0.0f, cp, N_, ep, pool, scratch);
      }
    };
    // Many small products (attention heads): one per thread, each single-threaded.
    if (nb >= threads && threads > 1 && M_ * N_ * K_ < (int64_t(1) << 22)) {
      ctx.pool->ParallelFor(nb, 1, [&](int64_t p0, int64_t p1) {
        thread_local gemm::AlignedBuffer scratch;
        for (int64_t p = p0; p < p1; ++p) one(p, nullptr, &scratch);
      });
    } else {
      for (int64_t p = 0; p < nb; ++p) one(p, ctx.pool, &scratch_);
    }
    return Status::Ok();
  }

  DType dtype_ = DType::F32;
  int64_t M_ = 0, N_ = 0, K_ = 0, bBatches_ = 1;
  bool foldBatches_ = false, prepacked_ = false;
  std::vector<BatchPair> pairs_;
  gemm::AlignedBuffer packedB_, scratch_;
  size_t packedStride_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Gemm

class GemmKernel : public Kernel {
 public:
  static StatusOr<std::unique_ptr<Kernel>> Create(const PrepareContext& ctx) {
    const KernelSpec& spec = ctx.spec;
    const Slot* sa = ctx.input(0);
    const Slot* sb = ctx.input(1);
    const Slot* sc = ctx.input(2);
    if (!sa || !sb || spec.outputs.size() != 1) {
      return MCPC_ERROR(MCPC_E_INVALID_PLAN, "Gemm needs inputs A and B and one output (node %s)", spec.source.c_str());
    }
    if (sa->dtype != sb->dtype || (sc && sc->dtype != sa->dtype) || (sa->dtype != DType::F32 && sa->dtype != DType::F64)) {
      return MCPC_ERROR(MCPC_E_UNSUPPORTED, "Gemm on %s is not supported by the cpu target (node %s)", DTypeName(sa->dtype),
                        spec.source.c_str());
    }
    if (sa->shape.size() != 2 || sb->shape.size() != 2) {
      return MCPC_ERROR(MCPC_E_INVALID_PLAN, "Gemm inputs must be 2-D, got %s and %s (node %s)", ShapeStr(sa->shape).c_str(),
                        ShapeStr(sb->shape).c_str(), spec.source.c_str());
    }
    auto k = std::make_unique<GemmKernel>();
    k->dtype_ = sa->dtype;
    k->ta_ = spec.Int("transA", 0) != 0;
    k->tb_ = spec.Int("transB", 0) != 0;
    k->alpha_ = static_cast<float>(spec.Float("alpha", 1.0));
    k->beta_ = static_cast<float>(spec.Float("beta", 1.0));
    k->alphaD_ = spec.Float("alpha", 1.0);
    k->betaD_ = spec.Float("beta", 1.0);
    k->M_ = k->ta_ ? sa->shape[1] : sa->shape[0];
    k->K_ = k->ta_ ? sa->shape[0] : sa->shape[1];
    k->N_ = k->tb_ ? sb->shape[0] : sb->shape[1];
    const int64_t k2 = k->tb_ ? sb->shape[1] : sb->shape[0];
    if (k2 != k->K_) {
      return MCPC_ERROR(MCPC_E_INVALID_PLAN, "Gemm inner dims differ: %s x %s (node %s)", ShapeStr(sa->shape).c_str(),
                        ShapeStr(sb->shape).c_str(), spec.source.c_str());
    }
    if (sc && k->beta_ != 0.0f) {
      std::vector<int64_t> cs = sc->shape;
      if (cs.size() > 2) return MCPC_ERROR(MCPC_E_INVALID_PLAN, "Gemm input C must have rank <= 2 (node %s)", spec.source.c_str());
      cs.insert(cs.begin(), 2 - cs.size(), 1);
      if ((cs[0] != 1 && cs[0] != k->M_) || (cs[1] != 1 && cs[1] != k->N_)) {
        return MCPC_ERROR(MCPC_E_INVALID_PLAN, "Gemm input C %s does not broadcast to [%ld,%ld] (node %s)", ShapeStr(sc->shape).c_str(),
                          (long)k->M_, (long)k->N_, spec.source.c_str());
      }
      k->cRows_ = cs[0];
      k->cCols_ = cs[1];
      k->hasC_ = true;
    }
    const void* wb = ctx.constantInput ? ctx.constantInput(1) : nullptr;
    if (wb && k->dtype_ == DType::F32 && k->K_ > 0 && k->N_ > 0) {
      k->packedB_.reserve(gemm::LayoutB(k->K_, k->N_).size() + 1);
      gemm::PackB(static_cast<const float*>(wb), sb->shape[1], k->tb_, k->K_, k->N_, k->alpha_, k->packedB_.data(), nullptr);
      k->prepacked_ = true;
      ctx.releaseConstantInput(1);
    }
    return std::unique_ptr<Kernel>(std::move(k));
  }

  Status Run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext& ctx) override {
    if (dtype_ == DType::F64) return RunF64(in, out);
    const float* a = in[0].as<float>();
    const float* b = in[1].as<float>();
    const float* cin = hasC_ ? in[2].as<float>() : nullptr;
    float* y = out[0].as<float>();
    const int64_t lda = in[0].dim(1), ldb = in[1].dim(1);
    gemm::Epilogue ep;
    float beta = 0.0f;
    // C as a row or column vector (a bias) goes into the epilogue; other shapes prefill Y.
    if (cin) {
      const bool vec = (cRows_ == 1 && cCols_ == N_ && N_ > 1) || (cCols_ == 1 && cRows_ == M_ && M_ > 1);
      if (vec) {
        const int64_t len = cRows_ == 1 ? N_ : M_;
        const float* bias = cin;
        if (beta_ != 1.0f) {
          biasScaled_.resize(len);
          for (int64_t i = 0; i < len; ++i) biasScaled_[i] = beta_ * cin[i];
          bias = biasScaled_.data();
        }
        ep.bias = bias;
        ep.biasPerRow = cRows_ != 1;
      } else {
        for (int64_t i = 0; i < M_; ++i) {
          for (int64_t j = 0; j < N_; ++j) y[i * N_ + j] = beta_ * cin[(cRows_ == 1 ? 0 : i) * cCols_ + (cCols_ == 1 ? 0 : j)];
        }
        beta = 1.0f;
      }
    }
    if (prepacked_) {
      gemm::SgemmPackedB(ta_, M_, N_, K_, a, lda, packedB_.data(), beta, y, N_, ep, ctx.pool, &scratch_);
    } else {
      gemm::Sgemm(ta_, tb_, M_, N_, K_, alpha_, a, lda, b, ldb, beta, y, N_, ep, ctx.pool, &scratch_);
    }
    return Status::Ok();
  }

 private:
  Status RunF64(const std::vector<TensorView>& in, const std::vector<TensorView>& out) {
    const double* c = hasC_ ? in[2].as<double>() : nullptr;
    double* y = out[0].as<double>();
    NaiveMatMul(in[0].as<double>(), in[0].dim(1), ta_, in[1].as<double>(), in[1].dim(1), tb_, y, M_, N_, K_);
    for (int64_t i = 0; i < M_; ++i) {
      for (int64_t j = 0; j < N_; ++j) {
        double v = alphaD_ * y[i * N_ + j];
        if (c) v += betaD_ * c[(cRows_ == 1 ? 0 : i) * cCols_ + (cCols_ == 1 ? 0 : j)];
        y[i * N_ + j] = v;
      }
    }
    return Status::Ok();
  }

  DType dtype_ = DType::F32;
  bool ta_ = false, tb_ = false, hasC_ = false, prepacked_ = false;
  float alpha_ = 1, beta_ = 1;
  double alphaD_ = 1, betaD_ = 1;
  int64_t M_ = 0, N_ = 0, K_ = 0, cRows_ = 1, cCols_ = 1;
  gemm::AlignedBuffer packedB_, scratch_;
  std::vector<float> biasScaled_;
};

MCPC_REGISTER_KERNEL("MatMul", MatMulKernel::Create);
MCPC_REGISTER_KERNEL("Gemm", GemmKernel::Create);

}  // namespace
}  // namespace mcpc
