// CreateThroughF32: the inner kernel sees a private plan in which every slot of the data type is
// f32; constant inputs of that type are widened once into buffers the wrapper owns. Narrowing
// rounds to nearest even (f16, bf16); integer and bool results are exact because the inner kernel
// only selects, sums or compares values it was given, and are clamped to the type's range (an
// empty ReduceMax gives -inf, which is the smallest value of the type).
#include "through_f32.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "elementwise.h"

namespace mcpc {

bool WidensToF32(DType t) {
  switch (t) {
    case DType::F16: case DType::BF16: case DType::I16: case DType::U16: case DType::I8: case DType::U8: case DType::Bool: return true;
    default: return false;
  }
}

namespace {

void Widen(DType t, const void* src, float* dst, int64_t n) {
  switch (t) {
    case DType::F16: { auto s = static_cast<const uint16_t*>(src); for (int64_t i = 0; i < n; ++i) dst[i] = ew::HalfToFloat(s[i]); break; }
    case DType::BF16: { auto s = static_cast<const uint16_t*>(src); for (int64_t i = 0; i < n; ++i) dst[i] = ew::BF16ToFloat(s[i]); break; }
    case DType::I16: { auto s = static_cast<const int16_t*>(src); for (int64_t i = 0; i < n; ++i) dst[i] = s[i]; break; }
    case DType::U16: { auto s = static_cast<const uint16_t*>(src); for (int64_t i = 0; i < n; ++i) dst[i] = s[i]; break; }
    case DType::I8: { auto s = static_cast<const int8_t*>(src); for (int64_t i = 0; i < n; ++i) dst[i] = s[i]; break; }
    case DType::U8: { auto s = static_cast<const uint8_t*>(src); for (int64_t i = 0; i < n; ++i) dst[i] = s[i]; break; }
    case DType::Bool: { auto s = static_cast<const uint8_t*>(src); for (int64_t i = 0; i < n; ++i) dst[i] = s[i] ? 1.0f : 0.0f; break; }
    default: break;
  }
}

template <typename T>
void NarrowInt(const float* src, void* dst, int64_t n) {
  auto d = static_cast<T*>(dst);
  const float lo = static_cast<float>(std::numeric_limits<T>::min()), hi = static_cast<float>(std::numeric_limits<T>::max());
  for (int64_t i = 0; i < n; ++i) d[i] = std::isnan(src[i]) ? T(0) : static_cast<T>(std::nearbyint(std::clamp(src[i], lo, hi)));
}

void Narrow(DType t, const float* src, void* dst, int64_t n) {
  switch (t) {
    case DType::F16: { auto d = static_cast<uint16_t*>(dst); for (int64_t i = 0; i < n; ++i) d[i] = ew::FloatToHalf(src[i]); break; }
    case DType::BF16: { auto d = static_cast<uint16_t*>(dst); for (int64_t i = 0; i < n; ++i) d[i] = ew::FloatToBF16(src[i]); break; }
    case DType::I16: NarrowInt<int16_t>(src, dst, n); break;
    case DType::U16: NarrowInt<uint16_t>(src, dst, n); break;
    case DType::I8: NarrowInt<int8_t>(src, dst, n); break;
    case DType::U8: NarrowInt<uint8_t>(src, dst, n); break;
    case DType::Bool: { auto d = static_cast<uint8_t*>(dst); for (int64_t i = 0; i < n; ++i) d[i] = src[i] > 0.5f ? 1 : 0; break; }
    default: break;
  }
}

int64_t Numel(const Slot& s) {
  int64_t n = 1;
  for (int64_t d : s.shape) n *= d;
  return n;
}

class ThroughF32Kernel : public Kernel {
 public:
  Status Run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext& ctx) override {
    for (size_t i = 0; i < in.size(); ++i) {
      innerIn_[i] = in[i];
      if (!in[i].data || !widenIn_[i]) continue;
      innerIn_[i].dtype = DType::F32;
      if (!constIn_[i].empty()) {
        innerIn_[i].data = constIn_[i].data();
        continue;
      }
      scratchIn_[i].resize(static_cast<size_t>(in[i].numel));
      Widen(data_, in[i].data, scratchIn_[i].data(), in[i].numel);
      innerIn_[i].data = scratchIn_[i].data();
    }
    for (size_t j = 0; j < out.size(); ++j) {
      innerOut_[j] = out[j];
      if (!widenOut_[j]) continue;
      innerOut_[j].dtype = DType::F32;
      scratchOut_[j].resize(static_cast<size_t>(out[j].numel));
      innerOut_[j].data = scratchOut_[j].data();
    }
    MCPC_RETURN_IF_ERROR(inner_->Run(innerIn_, innerOut_, ctx));
    for (size_t j = 0; j < out.size(); ++j) {
      if (widenOut_[j]) Narrow(data_, scratchOut_[j].data(), out[j].data, out[j].numel);
    }
    return Status::Ok();
  }

  DType data_ = DType::F32;
  std::unique_ptr<Plan> plan_;
  std::unique_ptr<KernelSpec> spec_;
  std::unique_ptr<Kernel> inner_;
  std::vector<bool> widenIn_, widenOut_;
  std::vector<std::vector<float>> constIn_, scratchIn_, scratchOut_;
  std::vector<TensorView> innerIn_, innerOut_;
};

}  // namespace

StatusOr<std::unique_ptr<Kernel>> CreateThroughF32(const PrepareContext& ctx, DType data, const KernelFactory& inner) {
  if (!WidensToF32(data)) return MCPC_ERROR(MCPC_E_UNSUPPORTED, "%s on %s is not supported by the cpu target (node %s)", ctx.spec.op.c_str(), DTypeName(data), ctx.spec.source.c_str());
  auto k = std::make_unique<ThroughF32Kernel>();
  k->data_ = data;
  k->plan_ = std::make_unique<Plan>(ctx.plan);
  k->spec_ = std::make_unique<KernelSpec>(ctx.spec);
  auto widenSlot = [&](int id) {
    Slot& s = k->plan_->slots[id];
    s.dtype = DType::F32;
    s.byteLength = static_cast<size_t>(Numel(s)) * sizeof(float);
  };
  const size_t nin = ctx.spec.inputs.size(), nout = ctx.spec.outputs.size();
  k->widenIn_.assign(nin, false);
  k->widenOut_.assign(nout, false);
  k->constIn_.resize(nin);
  k->scratchIn_.resize(nin);
  k->scratchOut_.resize(nout);
  for (size_t i = 0; i < nin; ++i) {
    const Slot* s = ctx.input(i);
    if (!s || s->dtype != data) continue;
    k->widenIn_[i] = true;
    if (const void* p = ctx.constantInput ? ctx.constantInput(i) : nullptr) {
      k->constIn_[i].resize(static_cast<size_t>(Numel(*s)));
      Widen(data, p, k->constIn_[i].data(), Numel(*s));
      ctx.releaseConstantInput(i);
    }
  }
  for (size_t i = 0; i < nin; ++i) {
    if (k->widenIn_[i]) widenSlot(ctx.spec.inputs[i]);
  }
  for (size_t j = 0; j < nout; ++j) {
    if (ctx.output(j)->dtype != data) continue;
    k->widenOut_[j] = true;
    widenSlot(ctx.spec.outputs[j]);
  }
  ThroughF32Kernel* raw = k.get();
  PrepareContext pc{*k->spec_, *k->plan_, nullptr};
  pc.constantInput = [raw, outer = ctx.constantInput](size_t i) -> const void* {
    if (i < raw->constIn_.size() && !raw->constIn_[i].empty()) return raw->constIn_[i].data();
    return outer ? outer(i) : nullptr;
  };
  StatusOr<std::unique_ptr<Kernel>> created = inner(pc);
  if (!created.ok()) return created.status();
  k->inner_ = created.take();
  k->innerIn_.resize(nin);
  k->innerOut_.resize(nout);
  return std::unique_ptr<Kernel>(std::move(k));
}

}  // namespace mcpc
