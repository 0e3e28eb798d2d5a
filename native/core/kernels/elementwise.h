// Shared machinery of the elementwise, cast and data-movement kernels: f16/bf16 storage types and
// their round-to-nearest-even conversions, dtype dispatch, ONNX-exact float->int rounding (the
// compiler's roundTo), the numpy broadcasting iterator, strided byte copies, and helpers to read
// shape-like inputs. The f32 SIMD entry points are chosen at run time (AVX-512, AVX2 or scalar).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "../dtype.h"
#include "../kernel.h"
#include "../status.h"
#include "../thread_pool.h"

namespace mcpc {
namespace ew {

// ---- 16-bit floats ----------------------------------------------------------------------------

struct Half { uint16_t bits; };
struct BFloat16 { uint16_t bits; };

inline float BitsToFloat(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }
inline uint32_t FloatToBits(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }

inline float HalfToFloat(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  if (exp == 0) {
    float v = static_cast<float>(mant) * 5.9604644775390625e-8f;  // mant * 2^-24, exact
    return BitsToFloat(FloatToBits(v) | sign);
  }
  if (exp == 31) return BitsToFloat(sign | 0x7f800000 | (mant << 13));
  return BitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
}

/** Round to nearest even; NaN -> 0x7e00 as the compiler's numberToF16Bits. */
inline uint16_t FloatToHalf(float f) {
  uint32_t x = FloatToBits(f);
  uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  uint32_t ax = x & 0x7fffffff;
  if (ax > 0x7f800000) return 0x7e00;
  if (ax >= 0x477ff000) return sign | 0x7c00;  // >= 65520 rounds to infinity
  if (ax < 0x38800000) {                       // below 2^-14: a multiple of 2^-24
    float a = BitsToFloat(ax) * 16777216.0f;   // exact scaling
    return sign | static_cast<uint16_t>(std::nearbyint(a));
  }
  uint32_t r = ax - 0x38000000;
  r = (r + 0x0fff + ((r >> 13) & 1)) >> 13;
  return sign | static_cast<uint16_t>(r);
}

/** float64 -> f16 rounded once (not through f32). */
inline uint16_t DoubleToHalf(double v) {
  if (std::isnan(v)) return 0x7e00;
  uint16_t sign = std::signbit(v) ? 0x8000 : 0;
  double x = std::fabs(v);
  if (std::isinf(x) || x >= 65520.0) return sign | 0x7c00;
  if (x < 0x1p-25) return sign;
  int e;
  std::frexp(x, &e);
  int exp = e - 1;
  if (exp < -14) return sign | static_cast<uint16_t>(std::nearbyint(x * 0x1p24));
  double m = std::nearbyint((std::ldexp(x, -exp) - 1.0) * 1024.0);
  if (m == 1024) { m = 0; exp += 1; }
  if (exp > 15) return sign | 0x7c00;
  return sign | static_cast<uint16_t>((exp + 15) << 10) | static_cast<uint16_t>(m);
}

inline float BF16ToFloat(uint16_t h) { return BitsToFloat(static_cast<uint32_t>(h) << 16); }
inline uint16_t FloatToBF16(float f) {
  if (std::isnan(f)) return 0x7fc0;
  uint32_t b = FloatToBits(f);
  return static_cast<uint16_t>((b + 0x7fff + ((b >> 16) & 1)) >> 16);
}

// ---- Element traits -------------------------------------------------------------------------

/** Compute type of a storage type: 16-bit floats compute in f32, everything else in itself. */
template <class T> struct Traits {
  using C = T;
  static C Load(T v) { return v; }
  static T Store(C v) { return v; }
};
template <> struct Traits<Half> {
  using C = float;
  static float Load(Half v) { return HalfToFloat(v.bits); }
  static Half Store(float v) { return Half{FloatToHalf(v)}; }
};
template <> struct Traits<BFloat16> {
  using C = float;
  static float Load(BFloat16 v) { return BF16ToFloat(v.bits); }
  static BFloat16 Store(float v) { return BFloat16{FloatToBF16(v)}; }
};

template <class T> constexpr bool kIsFloat =
    std::is_same<T, float>::value || std::is_same<T, double>::value || std::is_same<T, Half>::value || std::is_same<T, BFloat16>::value;
template <class T> constexpr bool kIsBool = std::is_same<T, bool>::value;
template <class T> constexpr bool kIsInt = std::is_integral<T>::value && !kIsBool<T>;
template <class T> constexpr bool kIsSignedInt = kIsInt<T> && std::is_signed<T>::value;

/** Bit masks of dtypes, for "which dtypes does this op accept". */
constexpr uint32_t Bit(DType t) { return 1u << static_cast<int>(t); }
constexpr uint32_t kFloatTypes = Bit(DType::F32) | Bit(DType::F16) | Bit(DType::BF16) | Bit(DType::F64);
constexpr uint32_t kSignedIntTypes = Bit(DType::I64) | Bit(DType::I32) | Bit(DType::I16) | Bit(DType::I8);
constexpr uint32_t kIntTypes = kSignedIntTypes | Bit(DType::U64) | Bit(DType::U32) | Bit(DType::U16) | Bit(DType::U8);
constexpr uint32_t kNumericTypes = kFloatTypes | kIntTypes;
constexpr uint32_t kAllTypes = kNumericTypes | Bit(DType::Bool);
constexpr uint32_t kSignedNumeric = kFloatTypes | kSignedIntTypes;

template <class T> struct TypeTag { using type = T; };

/** Calls f(TypeTag<T>{}) with the storage type of `t`. */
template <class F> void VisitDType(DType t, F&& f) {
  switch (t) {
    case DType::F32: f(TypeTag<float>{}); break;
    case DType::F16: f(TypeTag<Half>{}); break;
    case DType::BF16: f(TypeTag<BFloat16>{}); break;
    case DType::F64: f(TypeTag<double>{}); break;
    case DType::I64: f(TypeTag<int64_t>{}); break;
    case DType::I32: f(TypeTag<int32_t>{}); break;
    case DType::I16: f(TypeTag<int16_t>{}); break;
    case DType::I8: f(TypeTag<int8_t>{}); break;
    case DType::U64: f(TypeTag<uint64_t>{}); break;
    case DType::U32: f(TypeTag<uint32_t>{}); break;
    case DType::U16: f(TypeTag<uint16_t>{}); break;
    case DType::U8: f(TypeTag<uint8_t>{}); break;
    case DType::Bool: f(TypeTag<bool>{}); break;
    default: break;  // low-precision types never get here: the executor routes them to Cast/Q/DQ only
  }
}

/** Same, over unsigned integers of the element size (for dtype-agnostic copies). */
template <class F> void VisitSize(size_t esize, F&& f) {
  switch (esize) {
    case 1: f(TypeTag<uint8_t>{}); break;
    case 2: f(TypeTag<uint16_t>{}); break;
    case 4: f(TypeTag<uint32_t>{}); break;
    default: f(TypeTag<uint64_t>{}); break;
  }
}

// ---- Conversions with the compiler's roundTo semantics ---------------------------------------

template <class U> U WrapDouble(double x) {
  // trunc(x) modulo 2^bits, as JS ToInt32 and friends do; exact for any finite double.
  const double kMod = std::ldexp(1.0, 8 * sizeof(U));
  double t = std::trunc(x);
  if (std::fabs(t) < 9007199254740992.0) return static_cast<U>(static_cast<int64_t>(t));
  double m = std::fmod(t, kMod);
  if (m < 0) m += kMod;
  return static_cast<U>(static_cast<uint64_t>(m));
}

/** A float64 value as stored in a tensor of type T (ONNX Cast / compiler roundTo). */
template <class T> T FromDouble(double x) {
  if constexpr (std::is_same<T, double>::value) return x;
  else if constexpr (std::is_same<T, float>::value) return static_cast<float>(x);
  else if constexpr (std::is_same<T, Half>::value) return Half{DoubleToHalf(x)};
  else if constexpr (std::is_same<T, BFloat16>::value) return BFloat16{FloatToBF16(static_cast<float>(x))};
  else if constexpr (std::is_same<T, bool>::value) return x != 0 && !std::isnan(x);
  else if constexpr (std::is_same<T, int64_t>::value) {
    if (std::isnan(x)) return 0;
    if (x >= 9223372036854775807.0) return std::numeric_limits<int64_t>::max();
    if (x <= -9223372036854775808.0) return std::numeric_limits<int64_t>::min();
    return static_cast<int64_t>(x);
  } else {
    if (!std::isfinite(x)) return 0;
    using U = typename std::make_unsigned<T>::type;
    return static_cast<T>(WrapDouble<U>(x));
  }
}

template <class T> double ToDouble(T v) {
  if constexpr (std::is_same<T, Half>::value) return HalfToFloat(v.bits);
  else if constexpr (std::is_same<T, BFloat16>::value) return BF16ToFloat(v.bits);
  else return static_cast<double>(v);
}

// ---- Errors and small helpers ---------------------------------------------------------------

inline Status Unsupported(const KernelSpec& spec, DType t, const char* what = "input") {
  return MCPC_ERROR(MCPC_E_UNSUPPORTED, "%s does not support %s dtype %s (node %s)", spec.op.c_str(), what, DTypeName(t), spec.source.c_str());
}
inline Status BadPlan(const KernelSpec& spec, const std::string& why) {
  return MCPC_ERROR(MCPC_E_INVALID_PLAN, "%s (node %s): %s", spec.op.c_str(), spec.source.c_str(), why.c_str());
}

inline int64_t Numel(const std::vector<int64_t>& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

/** Runs fn(begin, end) over [0, n) on the pool in chunks of at least `grain`, or inline. */
inline void ParallelRange(RunContext& ctx, int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  if (ctx.pool && ctx.pool->threads() > 1 && n > grain) ctx.pool->ParallelFor(n, grain, fn);
  else fn(0, n);
}
constexpr int64_t kGrain = 16384;

/** Integer contents of an i64/i32 (or other integer) tensor. */
std::vector<int64_t> ReadInts(const void* data, DType t, int64_t n);
/** Contents of a numeric tensor as float64. */
std::vector<double> ReadDoubles(const void* data, DType t, int64_t n);

/** Values of an optional shape-like input: from the weights at Prepare, else empty with *known = false. */
bool ConstantInts(const PrepareContext& ctx, size_t i, std::vector<int64_t>* out);
bool ConstantDoubles(const PrepareContext& ctx, size_t i, std::vector<double>* out);

/** A kernel whose Run is a closure built at Prepare (shapes, plans and attributes captured). */
using RunFn = std::function<Status(const std::vector<TensorView>&, const std::vector<TensorView>&, RunContext&)>;
class FnKernel : public Kernel {
 public:
  explicit FnKernel(RunFn fn) : fn_(std::move(fn)) {}
  Status Run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext& ctx) override { return fn_(in, out, ctx); }

 private:
  RunFn fn_;
};
inline StatusOr<std::unique_ptr<Kernel>> MakeKernel(RunFn fn) { return std::unique_ptr<Kernel>(new FnKernel(std::move(fn))); }

// ---- Broadcasting ---------------------------------------------------------------------------

/**
 * Iteration of an output shape with up to 3 broadcast inputs. Size-1 output dims are dropped and
 * neighbouring dims merged wherever every input is contiguous (or broadcast) across both, so the
 * innermost run is as long as possible; along it each input's stride is 1 or 0 (scalar).
 */
struct Broadcast {
  static constexpr int kMaxInputs = 3;
  int nin = 0;
  std::vector<int64_t> dims;                       // collapsed output dims, innermost last
  std::vector<int64_t> strides[kMaxInputs];        // per input, in elements (0 = broadcast)
  int64_t numel = 0;

  /** False when an input does not broadcast to `out` (or the collapsed rank exceeds 16). */
  bool Build(const std::vector<int64_t>& out, const std::vector<const std::vector<int64_t>*>& ins);
  int64_t inner() const { return dims.back(); }
  int64_t innerStride(int k) const { return strides[k].back(); }

  /** fn(outOffset, const int64_t* inOffsets, len) over runs covering output elements [begin, end). */
  template <class F> void ForEach(int64_t begin, int64_t end, F&& fn) const {
    const int r = static_cast<int>(dims.size());
    int64_t idx[16];
    int64_t off[kMaxInputs] = {0, 0, 0};
    int64_t rem = begin;
    for (int d = r - 1; d >= 0; --d) {
      idx[d] = rem % dims[d];
      rem /= dims[d];
      for (int k = 0; k < nin; ++k) off[k] += idx[d] * strides[k][d];
    }
    int64_t pos = begin;
    const int64_t n = dims[r - 1];
    while (pos < end) {
      int64_t len = std::min(n - idx[r - 1], end - pos);
      fn(pos, off, len);
      pos += len;
      if (pos >= end) break;
      for (int k = 0; k < nin; ++k) off[k] += len * strides[k][r - 1];
      idx[r - 1] += len;
      for (int d = r - 1; d > 0 && idx[d] == dims[d]; --d) {
        for (int k = 0; k < nin; ++k) off[k] += strides[k][d - 1] - dims[d] * strides[k][d];
        idx[d] = 0;
        ++idx[d - 1];
      }
    }
  }
};

// ---- Strided copies (data movement) ---------------------------------------------------------

/**
 * dst (contiguous, dims) <- src with per-dim element strides (may be 0 or negative), element size
 * esize. Dims are merged where possible; rows are split over the pool.
 */
void CopyStrided(RunContext& ctx, size_t esize, void* dst, const void* src, std::vector<int64_t> dims, std::vector<int64_t> strides);
/** dst = transpose(src of inDims) by perm (output dim k is input dim perm[k]). */
void TransposeBytes(RunContext& ctx, size_t esize, void* dst, const void* src, const std::vector<int64_t>& inDims, const std::vector<int64_t>& perm);

// ---- f32 SIMD entry points (elementwise_avx2.cc, elementwise_avx512.cc) ---------------------

namespace simd {
enum class BinOp : int { Add, Sub, Mul, Div, Max, Min };
enum class UnOp : int {
  Relu, LeakyRelu, Exp, Sigmoid, Tanh, Erf, GeluErf, GeluTanh, Swish, Sqrt, Neg, Abs, Reciprocal, Clip, HardSigmoid, HardSwish,
};
/** mode: 0 both vectors, 1 a is a scalar, 2 b is a scalar. */
using BinaryF32Fn = void (*)(BinOp op, const float* a, const float* b, float* out, int64_t n, int mode);
/** p0/p1: alpha/beta, or min/max for Clip. */
using UnaryF32Fn = void (*)(UnOp op, const float* x, float* y, int64_t n, float p0, float p1);
struct F32Kernels {
  const char* name;
  BinaryF32Fn binary;
  UnaryF32Fn unary;
};
const F32Kernels* Avx2Kernels();
const F32Kernels* Avx512Kernels();
/** The widest set this CPU supports (__builtin_cpu_supports), else a scalar fallback. */
const F32Kernels* ScalarKernels();
const F32Kernels& Best();
}  // namespace simd

}  // namespace ew
}  // namespace mcpc
