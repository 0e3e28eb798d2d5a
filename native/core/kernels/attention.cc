// Attention (opset 23-25): scaled dot-product attention with grouped KV heads, bool/float masks,
// causal and sliding-window constraints, softcap, a KV cache (past/present) or per-batch
// nonpad_kv_seqlen, and the qk_matmul_output of compiler/ops/attention.ts. Every float dtype
// computes in float (f64 too, within the conformance tolerance): QK^T and PV are GEMMs (gemm.h) per
// (batch, head), softmax rows use the vectorized row kernel (rows.h) where the reference needs no
// intermediate rounding, and 16-bit inputs are rounded at the reference's steps so they match it.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "elementwise.h"
#include "gemm.h"
#include "rows.h"

namespace mcpc {
namespace ew {
namespace {

using Ints = std::vector<int64_t>;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

float RoundTo(DType t, float x) {
  switch (t) {
    case DType::F16: return HalfToFloat(FloatToHalf(x));
    case DType::BF16: return BF16ToFloat(FloatToBF16(x));
    default: return x;
  }
}

std::vector<float> ReadFloats(const void* data, DType t, int64_t n) {
  std::vector<float> v(static_cast<size_t>(n));
  VisitDType(t, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* p = static_cast<const T*>(data);
    for (int64_t i = 0; i < n; ++i) v[i] = static_cast<float>(ToDouble(p[i]));
  });
  return v;
}

void StoreFloats(const float* v, void* dst, DType t, int64_t n) {
  VisitDType(t, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* p = static_cast<T*>(dst);
    for (int64_t i = 0; i < n; ++i) p[i] = FromDouble<T>(v[i]);
  });
}

/** Result dtype of numpy arithmetic between two float dtypes (bf16 with f16 widens to f32). */
DType Promote(DType a, DType b) {
  if (a == b) return a;
  if (a == DType::F64 || b == DType::F64) return DType::F64;
  return DType::F32;
}

struct AttentionGeom {
  bool packed = false;  // 3-D inputs: [B, S, H*D]
  int64_t B = 0, Hq = 0, Hkv = 0, Sq = 0, Skv = 0, P = 0, T = 0, D = 0, Dv = 0;
};

class AttentionKernel : public Kernel {
 public:
  static StatusOr<std::unique_ptr<Kernel>> Create(const PrepareContext& ctx) {
    const KernelSpec& spec = ctx.spec;
    const Slot* q = ctx.input(0);
    const Slot* k = ctx.input(1);
    const Slot* v = ctx.input(2);
    if (!q || !k || !v) return BadPlan(spec, "needs Q, K and V");
    const DType dt = q->dtype;
    if (!(Bit(dt) & kFloatTypes)) return Unsupported(spec, dt);
    if (k->dtype != dt || v->dtype != dt) return Unsupported(spec, k->dtype);
    const size_t rank = q->shape.size();
    if ((rank != 3 && rank != 4) || k->shape.size() != rank || v->shape.size() != rank) return BadPlan(spec, "Q, K, V must all be 3-D or all 4-D");
    auto kn = std::make_unique<AttentionKernel>();
    AttentionGeom& g = kn->g_;
    if (rank == 3) {
      g.packed = true;
      g.Hq = spec.Int("q_num_heads", 0);
      g.Hkv = spec.Int("kv_num_heads", 0);
      if (g.Hq <= 0 || g.Hkv <= 0) return BadPlan(spec, "3-D inputs need positive q_num_heads and kv_num_heads");
      g.B = q->shape[0];
      g.Sq = q->shape[1];
      g.Skv = k->shape[1];
      if (q->shape[2] % g.Hq || k->shape[2] % g.Hkv || v->shape[2] % g.Hkv) return BadPlan(spec, "hidden sizes are not divisible by the head counts");
      g.D = q->shape[2] / g.Hq;
      g.Dv = v->shape[2] / g.Hkv;
      if (k->shape[2] / g.Hkv != g.D) return BadPlan(spec, "K head size differs from Q head size");
    } else {
      g.B = q->shape[0];
      g.Hq = q->shape[1];
      g.Sq = q->shape[2];
      g.D = q->shape[3];
      g.Hkv = k->shape[1];
      g.Skv = k->shape[2];
      g.Dv = v->shape[3];
      if (k->shape[3] != g.D) return BadPlan(spec, "K head size differs from Q head size");
    }
    if (g.Hkv <= 0 || g.Hq % g.Hkv) return BadPlan(spec, "q_num_heads is not a multiple of kv_num_heads");
    const Slot* pk = ctx.input(4);
    const Slot* pv = ctx.input(5);
    if (!pk != !pv) return BadPlan(spec, "past_key and past_value must be given together");
    if (pk) {
      if (pk->shape.size() != 4 || pv->shape.size() != 4 || pk->dtype != dt || pv->dtype != dt) return Unsupported(spec, pk->dtype, "past_key");
      g.P = pk->shape[2];
    }
    g.T = g.P + g.Skv;
    const Slot* mask = ctx.input(3);
    kn->maskFloat_ = false;
    kn->biasDt_ = dt;
    if (mask) {
      if (mask->dtype != DType::Bool && !(Bit(mask->dtype) & kFloatTypes)) return Unsupported(spec, mask->dtype, "attn_mask");
      if (mask->shape.empty() || mask->shape.size() > 4) return BadPlan(spec, "attn_mask must have rank 1..4");
      kn->maskFloat_ = mask->dtype != DType::Bool;
      if (kn->maskFloat_) kn->biasDt_ = Promote(dt, mask->dtype);
      Ints md(4 - mask->shape.size(), 1);
      md.insert(md.end(), mask->shape.begin(), mask->shape.end());
      const int64_t full[3] = {g.B, g.Hq, g.Sq};
      for (int i = 0; i < 3; ++i) {
        if (md[i] != 1 && md[i] != full[i]) return BadPlan(spec, "attn_mask does not broadcast to [B, Hq, Sq, T]");
      }
      if (md[3] > g.T) return BadPlan(spec, "attn_mask last dim exceeds the total sequence length");
      kn->maskL_ = md[3];
      const int64_t st[3] = {md[1] * md[2] * md[3], md[2] * md[3], md[3]};
      for (int i = 0; i < 3; ++i) kn->maskStride_[i] = md[i] == 1 ? 0 : st[i];
      kn->maskN_ = Numel(mask->shape);
    }
    if (ctx.input(6)) {
      if (pk) return BadPlan(spec, "nonpad_kv_seqlen cannot be combined with past_key/past_value");
      kn->hasNonpad_ = true;
    }
    const int64_t mode = spec.Int("qk_matmul_output_mode", 0);
    if (mode < 0 || mode > 3) return BadPlan(spec, "qk_matmul_output_mode must be 0..3");
    kn->mode_ = static_cast<int>(mode);
    kn->causal_ = spec.Int("is_causal", 0) != 0;
    kn->left_ = spec.Int("left_window_size", -1);
    kn->right_ = spec.Int("right_window_size", -1);
    kn->softcap_ = static_cast<float>(spec.Float("softcap", 0));
    const double scale = spec.has("scale") ? spec.Float("scale", 1) : 1 / std::sqrt(static_cast<double>(g.D));
    kn->sqrtScale_ = RoundTo(dt, static_cast<float>(std::sqrt(scale)));
    kn->dt_ = dt;
    kn->sumDt_ = kn->biasDt_;
    if (spec.has("softmax_precision")) {
      // ONNX TensorProto codes: 1 float, 10 float16, 11 double, 16 bfloat16.
      switch (spec.Int("softmax_precision", 1)) {
        case 1: kn->sumDt_ = DType::F32; break;
        case 10: kn->sumDt_ = DType::F16; break;
        case 11: kn->sumDt_ = DType::F64; break;
        case 16: kn->sumDt_ = DType::BF16; break;
        default: return BadPlan(spec, "softmax_precision must be 1, 10, 11 or 16");
      }
    }
    return std::unique_ptr<Kernel>(std::move(kn));
  }

  Status Run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext& ctx) override {
    const AttentionGeom& g = g_;
    const int64_t B = g.B, Hq = g.Hq, Hkv = g.Hkv, Sq = g.Sq, Skv = g.Skv, P = g.P, T = g.T, D = g.D, Dv = g.Dv;
    const bool hasPast = in.size() > 5 && in[4].data && in[5].data;
    // Heads layout [B, H, S, D]; K and V with the past prepended.
    std::vector<float> q = ToHeads(in[0], Hq, Sq, D);
    std::vector<float> kCur = ToHeads(in[1], Hkv, Skv, D);
    std::vector<float> vCur = ToHeads(in[2], Hkv, Skv, Dv);
    std::vector<float> kAll = hasPast ? ConcatSeq(ReadFloats(in[4].data, dt_, B * Hkv * P * D), kCur, P, Skv, D) : std::move(kCur);
    std::vector<float> vAll = hasPast ? ConcatSeq(ReadFloats(in[5].data, dt_, B * Hkv * P * Dv), vCur, P, Skv, Dv) : std::move(vCur);
    // Q and K are each scaled by sqrt(scale), rounded to the dtype like the reference.
    for (float& x : q) x = RoundTo(dt_, x * sqrtScale_);
    std::vector<float> ks(kAll.size());
    for (size_t i = 0; i < kAll.size(); ++i) ks[i] = RoundTo(dt_, kAll[i] * sqrtScale_);

    std::vector<float> mask;
    if (maskN_ > 0 && in[3].data) {
      if (maskFloat_) mask = ReadFloats(in[3].data, in[3].dtype, maskN_);
      else {
        mask.resize(maskN_);
        const bool* mb = in[3].as<const bool>();
        for (int64_t i = 0; i < maskN_; ++i) mask[i] = mb[i] ? 0.0f : kNegInf;
      }
    }
    std::vector<int64_t> nonpad;
    if (hasNonpad_ && in.size() > 6 && in[6].data) nonpad = ReadInts(in[6].data, in[6].dtype, B);

    std::vector<float> y(B * Hq * Sq * Dv, 0.0f);
    const bool wantQk = out.size() > 3 && out[3].data;
    std::vector<float> qkOut(wantQk ? B * Hq * Sq * T : 0);
    const int64_t group = Hq / Hkv;

    ParallelRange(ctx, B * Hq, 1, [&](int64_t bh0, int64_t bh1) {
      gemm::AlignedBuffer scratch;
      std::vector<float> scores(Sq * T), probs(Sq * T), raw(T), biased(T);
      for (int64_t bh = bh0; bh < bh1; ++bh) {
        const int64_t b = bh / Hq, h = bh % Hq, kvh = h / group;
        const float* qp = q.data() + bh * Sq * D;
        const float* kp = ks.data() + (b * Hkv + kvh) * T * D;
        const float* vp = vAll.data() + (b * Hkv + kvh) * T * Dv;
        if (Sq > 0 && T > 0) {
          if (D > 0) gemm::Sgemm(false, true, Sq, T, D, 1.0f, qp, D, kp, D, 0.0f, scores.data(), T, gemm::Epilogue{}, nullptr, &scratch);
          else std::fill(scores.begin(), scores.end(), 0.0f);
        }
        const int64_t offset = hasPast ? P : !nonpad.empty() ? nonpad[b] - Sq : 0;
        for (int64_t i = 0; i < Sq; ++i) {
          float* prow = probs.data() + i * T;
          Row(scores.data() + i * T, prow, raw.data(), biased.data(), mask, b, h, i, offset, nonpad.empty() ? -1 : nonpad[b]);
          if (wantQk) {
            float* qo = qkOut.data() + (bh * Sq + i) * T;
            const float* src = mode_ == 3 ? prow : mode_ == 2 ? biased.data() : raw.data();
            std::copy(src, src + T, qo);
          }
        }
        // Y rows: [B, Hq, Sq, Dv], or [B, Sq, Hq*Dv] for 3-D inputs.
        float* yp = g.packed ? y.data() + (b * Sq * Hq + h) * Dv : y.data() + bh * Sq * Dv;
        const int64_t ldy = g.packed ? Hq * Dv : Dv;
        if (Sq > 0 && Dv > 0 && T > 0) gemm::Sgemm(false, false, Sq, Dv, T, 1.0f, probs.data(), T, vp, Dv, 0.0f, yp, ldy, gemm::Epilogue{}, nullptr, &scratch);
      }
    });

    StoreFloats(y.data(), out[0].data, dt_, static_cast<int64_t>(y.size()));
    if (out.size() > 1 && out[1].data) StoreFloats(kAll.data(), out[1].data, dt_, static_cast<int64_t>(kAll.size()));
    if (out.size() > 2 && out[2].data) StoreFloats(vAll.data(), out[2].data, dt_, static_cast<int64_t>(vAll.size()));
    if (wantQk) StoreFloats(qkOut.data(), out[3].data, dt_, static_cast<int64_t>(qkOut.size()));
    return Status::Ok();
  }

 private:
  /** One query row: scores -> raw (rounded, softcapped) -> biased -> probabilities (rounded to dt). */
  void Row(const float* s, float* p, float* raw, float* biased, const std::vector<float>& mask, int64_t b, int64_t h, int64_t i,
           int64_t offset, int64_t nonpad) const {
    const int64_t T = g_.T;
    bool allMasked = true;
    const float* mrow = mask.empty() ? nullptr : mask.data() + b * maskStride_[0] + h * maskStride_[1] + i * maskStride_[2];
    for (int64_t j = 0; j < T; ++j) {
      float x = RoundTo(dt_, s[j]);
      if (softcap_ > 0) x = RoundTo(dt_, RoundTo(dt_, std::tanh(RoundTo(dt_, x / softcap_))) * softcap_);
      raw[j] = x;
      float bj = 0;
      if (mrow) bj = j >= maskL_ ? kNegInf : mrow[j];
      const int64_t diff = i + offset - j;
      if (causal_ && diff < 0) bj += kNegInf;
      if ((left_ >= 0 && diff > left_) || (right_ >= 0 && -diff > right_)) bj += kNegInf;
      if (nonpad >= 0 && j >= nonpad) bj += kNegInf;
      if (bj != kNegInf) allMasked = false;
      biased[j] = RoundTo(biasDt_, x + bj);
    }
    if (allMasked) {
      std::fill(p, p + T, 0.0f);
      return;
    }
    float m = kNegInf;
    bool nan = false;
    for (int64_t j = 0; j < T; ++j) {
      const float x = RoundTo(sumDt_, biased[j]);
      if (std::isnan(x)) nan = true;
      else if (x > m) m = x;
    }
    const bool exact32 = (sumDt_ == DType::F32 || sumDt_ == DType::F64) && dt_ == DType::F32;
    if (!nan && std::isfinite(m) && exact32) {
      rows::Active().softmax(biased, p, T, false);
      return;
    }
    const float safe = nan ? NAN : m == kNegInf ? 0.0f : m;
    double sum = 0;
    for (int64_t j = 0; j < T; ++j) {
      p[j] = RoundTo(sumDt_, std::exp(RoundTo(sumDt_, RoundTo(sumDt_, biased[j]) - safe)));
      sum = sumDt_ == DType::BF16 ? RoundTo(sumDt_, static_cast<float>(sum + p[j])) : sum + p[j];
    }
    float fs = RoundTo(sumDt_, static_cast<float>(sum));
    if (fs == 0) fs = 1;
    for (int64_t j = 0; j < T; ++j) p[j] = RoundTo(dt_, RoundTo(sumDt_, p[j] / fs));
  }

  /** A Q/K/V input as [B, H, S, Dh] floats (3-D inputs are [B, S, H*Dh]). */
  std::vector<float> ToHeads(const TensorView& t, int64_t H, int64_t S, int64_t Dh) const {
    std::vector<float> v = ReadFloats(t.data, t.dtype, t.numel);
    if (!g_.packed) return v;
    const int64_t B = g_.B;
    std::vector<float> r(v.size());
    for (int64_t b = 0; b < B; ++b)
      for (int64_t s = 0; s < S; ++s)
        for (int64_t h = 0; h < H; ++h)
          std::copy_n(v.data() + ((b * S + s) * H + h) * Dh, Dh, r.data() + ((b * H + h) * S + s) * Dh);
    return r;
  }

  std::vector<float> ConcatSeq(const std::vector<float>& past, const std::vector<float>& cur, int64_t P, int64_t S, int64_t Dh) const {
    const int64_t BH = g_.B * g_.Hkv, T = P + S;
    std::vector<float> r(BH * T * Dh);
    for (int64_t bh = 0; bh < BH; ++bh) {
      std::copy_n(past.data() + bh * P * Dh, P * Dh, r.data() + bh * T * Dh);
      std::copy_n(cur.data() + bh * S * Dh, S * Dh, r.data() + bh * T * Dh + P * Dh);
    }
    return r;
  }

  AttentionGeom g_;
  DType dt_ = DType::F32, biasDt_ = DType::F32, sumDt_ = DType::F32;
  bool maskFloat_ = false, hasNonpad_ = false, causal_ = false;
  int64_t maskN_ = 0, maskL_ = 0, maskStride_[3] = {0, 0, 0};
  int64_t left_ = -1, right_ = -1;
  int mode_ = 0;
  float softcap_ = 0, sqrtScale_ = 1;
};

MCPC_REGISTER_KERNEL("Attention", AttentionKernel::Create);

}  // namespace
}  // namespace ew
}  // namespace mcpc
