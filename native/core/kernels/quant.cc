// Linear quantization, as compiler/ops/elementwise-cast.ts and quantized.ts define it:
// QuantizeLinear (per-tensor, per-axis or blocked scales; x / scale rounded to the scale's or
// `precision`'s float type, then round-half-even + zero point, clamped), DequantizeLinear and
// DynamicQuantizeLinear (u8, float32 arithmetic). The integer contractions are in quant_contract.cc.
// The low-precision types take part as the reference allows: 4- and 2-bit integer outputs clamp like
// the wider ones, float8/f4e2m1 outputs are a Cast of x / scale + zero point (saturate attribute),
// scales may be f8e8m0 (the division then happens in float32), and DequantizeLinear reads 4- and
// 2-bit integers, float8 and f4e2m1.
#include "f64_ref.h"
#include "lowp.h"

namespace mcpc {
namespace ew {
namespace {

constexpr uint32_t kQuantTypes = Bit(DType::I8) | Bit(DType::U8) | Bit(DType::I16) | Bit(DType::U16);
constexpr uint32_t kSubByteInts = Bit(DType::I4) | Bit(DType::U4) | Bit(DType::I2) | Bit(DType::U2);
/** Float types QuantizeLinear may produce (by a cast, not a clamp) and DequantizeLinear read. */
constexpr uint32_t kQuantFloats = Bit(DType::F8E4M3FN) | Bit(DType::F8E4M3FNUZ) | Bit(DType::F8E5M2) | Bit(DType::F8E5M2FNUZ) | Bit(DType::F4E2M1);

bool QuantRange(DType t, double* lo, double* hi) {
  switch (t) {
    case DType::I8: *lo = -128; *hi = 127; return true;
    case DType::U8: *lo = 0; *hi = 255; return true;
    case DType::I16: *lo = -32768; *hi = 32767; return true;
    case DType::U16: *lo = 0; *hi = 65535; return true;
    case DType::I4: *lo = -8; *hi = 7; return true;
    case DType::U4: *lo = 0; *hi = 15; return true;
    case DType::I2: *lo = -2; *hi = 1; return true;
    case DType::U2: *lo = 0; *hi = 3; return true;
    default: return false;
  }
}

/** ViewDoubles that also reads the low-precision types. */
std::vector<double> Values(const TensorView& t) {
  if (t.data && IsLowPrecision(t.dtype)) return lowp::ReadValues(t.data, t.dtype, t.numel);
  return ViewDoubles(t);
}

/** Stores float64 values (already representable, or to be cast) into a tensor of any type. */
void Store(const TensorView& o, const std::vector<double>& r, bool saturate) {
  if (!IsLowPrecision(o.dtype)) {
    WriteDoubles(o.data, o.dtype, r.data(), o.numel);
    return;
  }
  std::vector<uint8_t> codes(r.size());
  for (size_t i = 0; i < r.size(); ++i) codes[i] = lowp::Encode(o.dtype, r[i], saturate);
  lowp::WriteCodes(o.data, o.dtype, codes.data(), o.numel);
}

/**
 * Which scale element each element of x uses: x is viewed as [outer, A, inner] around `axis`;
 * per-tensor scales use element 0, per-axis element a, blocked (o * ceil(A / block) + a / block) *
 * inner + i.
 */
struct ScaleMap {
  enum class Kind { Tensor, Axis, Blocked } kind = Kind::Tensor;
  int64_t outer = 1, A = 1, inner = 1, block = 0, blocks = 1;

  template <class F> void ForEach(F&& f) const {  // f(elementIndex, scaleIndex)
    int64_t i = 0;
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t a = 0; a < A; ++a) {
        for (int64_t r = 0; r < inner; ++r, ++i) {
          int64_t j = 0;
          if (kind == Kind::Axis) j = a;
          else if (kind == Kind::Blocked) j = (o * blocks + a / block) * inner + r;
          f(i, j);
        }
      }
    }
  }
};

Status ResolveScaleMap(const KernelSpec& spec, const std::vector<int64_t>& x, const std::vector<int64_t>& scale, ScaleMap* m) {
  const int64_t block = spec.Int("block_size", 0);
  if (block < 0) return BadPlan(spec, "block_size must be >= 0");
  const int64_t scaleSize = Numel(scale);
  m->outer = Numel(x);
  if (block == 0 && (scale.empty() || (scale.size() == 1 && scaleSize == 1))) {
    m->kind = ScaleMap::Kind::Tensor;
    return Status::Ok();
  }
  const int64_t rank = static_cast<int64_t>(x.size());
  int64_t axis = spec.Int("axis", 1);
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) return BadPlan(spec, "axis out of range");
  m->outer = 1;
  m->inner = 1;
  for (int64_t k = 0; k < axis; ++k) m->outer *= x[k];
  for (int64_t k = axis + 1; k < rank; ++k) m->inner *= x[k];
  m->A = x[axis];
  if (block == 0) {
    if (scale.size() != 1 || scale[0] != x[axis]) return BadPlan(spec, "per-axis scale does not match the input");
    m->kind = ScaleMap::Kind::Axis;
    return Status::Ok();
  }
  if (static_cast<int64_t>(scale.size()) != rank) return BadPlan(spec, "blocked scale rank differs from the input's");
  m->kind = ScaleMap::Kind::Blocked;
  m->block = block;
  m->blocks = (x[axis] + block - 1) / block;
  if (scale[axis] != m->blocks) return BadPlan(spec, "blocked scale does not match block_size");
  return Status::Ok();
}

StatusOr<std::unique_ptr<Kernel>> MakeQuantize(const PrepareContext& ctx) {
  const KernelSpec& spec = ctx.spec;
  const Slot* x = ctx.input(0);
  const Slot* s = ctx.input(1);
  if (!x || !s) return BadPlan(spec, "needs x and y_scale");
  if (!IsIn(kFloatTypes | Bit(DType::I32), x->dtype)) return Unsupported(spec, x->dtype);
  if (!IsIn(kFloatTypes | Bit(DType::I32) | Bit(DType::F8E8M0), s->dtype)) return Unsupported(spec, s->dtype, "scale");
  const DType out = ctx.output(0)->dtype;
  double lo = 0, hi = 0;
  const bool ranged = QuantRange(out, &lo, &hi);
  if (!ranged && !IsIn(kQuantFloats, out)) return Unsupported(spec, out, "output");
  // x / scale is rounded to `precision` (an ONNX type code) or else the scale's float type; a
  // low-precision one (an f8e8m0 scale) divides in float32.
  DType prec = s->dtype;
  const int64_t precision = spec.Int("precision", 0);
  if (precision != 0 && !DTypeFromOnnx(precision, &prec)) {
    if (precision < 17 || precision > 26) {
      return MCPC_ERROR(MCPC_E_UNSUPPORTED, "QuantizeLinear precision %lld is not supported (node %s)", (long long)precision, spec.source.c_str());
    }
    prec = DType::F32;  // ONNX codes 17-26 are the low-precision types
  }
  if (IsLowPrecision(prec)) prec = DType::F32;
  const bool roundPrec = IsIn(kFloatTypes, prec);
  const bool saturate = spec.Int("saturate", 1) != 0;
  ScaleMap map;
  MCPC_RETURN_IF_ERROR(ResolveScaleMap(spec, x->shape, s->shape, &map));
  return MakeKernel([=](const std::vector<TensorView>& in, const std::vector<TensorView>& o, RunContext&) -> Status {
    const std::vector<double> xv = Values(in[0]);
    const std::vector<double> sv = Values(in[1]);
    const std::vector<double> zv = in.size() > 2 ? Values(in[2]) : std::vector<double>();
    std::vector<double> r(xv.size());
    map.ForEach([&](int64_t i, int64_t j) {
      const double q = roundPrec ? RoundTo(prec, xv[i] / sv[j]) : xv[i] / sv[j];
      const double z = zv.empty() ? 0.0 : zv[j];
      // Integers round to even and clamp; float8/float4 cast q + z (rounding to nearest even).
      r[i] = ranged ? std::min(hi, std::max(lo, RoundHalfEven(q) + z)) : q + z;
    });
    Store(o[0], r, saturate);
    return Status::Ok();
  });
}

StatusOr<std::unique_ptr<Kernel>> MakeDequantize(const PrepareContext& ctx) {
  const KernelSpec& spec = ctx.spec;
  const Slot* x = ctx.input(0);
  const Slot* s = ctx.input(1);
  if (!x || !s) return BadPlan(spec, "needs x and x_scale");
  if (!IsIn(kQuantTypes | Bit(DType::I32) | kSubByteInts | kQuantFloats, x->dtype)) return Unsupported(spec, x->dtype);
  if (!IsIn(kFloatTypes | Bit(DType::F8E8M0), s->dtype)) return Unsupported(spec, s->dtype, "scale");
  const DType out = ctx.output(0)->dtype;
  if (!IsIn(kFloatTypes, out)) return Unsupported(spec, out, "output");
  ScaleMap map;
  MCPC_RETURN_IF_ERROR(ResolveScaleMap(spec, x->shape, s->shape, &map));
  return MakeKernel([=](const std::vector<TensorView>& in, const std::vector<TensorView>& o, RunContext&) -> Status {
    const std::vector<double> xv = Values(in[0]);
    const std::vector<double> sv = Values(in[1]);
    const std::vector<double> zv = in.size() > 2 ? Values(in[2]) : std::vector<double>();
    std::vector<double> r(xv.size());
    map.ForEach([&](int64_t i, int64_t j) { r[i] = (xv[i] - (zv.empty() ? 0.0 : zv[j])) * sv[j]; });
    WriteDoubles(o[0].data, o[0].dtype, r.data(), o[0].numel);
    return Status::Ok();
  });
}

StatusOr<std::unique_ptr<Kernel>> MakeDynamicQuantize(const PrepareContext& ctx) {
  const KernelSpec& spec = ctx.spec;
  const Slot* x = ctx.input(0);
  if (!x || spec.outputs.size() < 3) return BadPlan(spec, "needs x and three outputs");
  if (x->dtype != DType::F32) return Unsupported(spec, x->dtype);
  if (ctx.output(0)->dtype != DType::U8 || ctx.output(1)->dtype != DType::F32 || ctx.output(2)->dtype != DType::U8) {
    return BadPlan(spec, "outputs must be u8, f32, u8");
  }
  return MakeKernel([](const std::vector<TensorView>& in, const std::vector<TensorView>& o, RunContext&) -> Status {
    const float* v = in[0].as<const float>();
    const int64_t n = in[0].numel;
    // The range always includes 0 so that 0 is exact; arithmetic in float32 like the spec's.
    double mx = 0, mn = 0;
    for (int64_t i = 0; i < n; ++i) {
      mx = std::max<double>(mx, v[i]);
      mn = std::min<double>(mn, v[i]);
    }
    const float range = mx == mn ? 1.0f : static_cast<float>(mx - mn);
    const float scale = range / 255.0f;
    const float zf = 0.0f - static_cast<float>(mn / scale);
    const double zp = RoundHalfEven(std::min(255.0, std::max(0.0, static_cast<double>(zf))));
    uint8_t* y = o[0].as<uint8_t>();
    for (int64_t i = 0; i < n; ++i) {
      const double q = RoundHalfEven(static_cast<float>(v[i] / scale)) + zp;
      y[i] = static_cast<uint8_t>(std::min(255.0, std::max(0.0, q)));
    }
    *o[1].as<float>() = scale;
    *o[2].as<uint8_t>() = static_cast<uint8_t>(zp);
    return Status::Ok();
  });
}

MCPC_REGISTER_KERNEL("QuantizeLinear", MakeQuantize);
MCPC_REGISTER_KERNEL("DequantizeLinear", MakeDequantize);
MCPC_REGISTER_KERNEL("DynamicQuantizeLinear", MakeDynamicQuantize);

}  // namespace
}  // namespace ew
}  // namespace mcpc
