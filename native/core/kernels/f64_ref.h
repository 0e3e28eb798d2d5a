// Helpers for kernels that follow the compiler's reference implementation literally: inputs read as
// float64, the op computed in float64, results stored with the compiler's roundTo (FromDouble).
// Used by the opaque, rarely hot ops (losses, quantization, recurrences, signal processing), where
// matching the reference exactly matters more than speed.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "elementwise.h"

namespace mcpc {
namespace ew {

/** Stores n float64 values into a tensor of dtype t, rounded as the compiler's roundTo. */
inline void WriteDoubles(void* data, DType t, const double* v, int64_t n) {
  VisitDType(t, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* p = static_cast<T*>(data);
    for (int64_t i = 0; i < n; ++i) p[i] = FromDouble<T>(v[i]);
  });
}

/** Contents of a view as float64 (empty for an omitted input). */
inline std::vector<double> ViewDoubles(const TensorView& t) {
  return t.data ? ReadDoubles(t.data, t.dtype, t.numel) : std::vector<double>();
}
inline std::vector<int64_t> ViewInts(const TensorView& t) {
  return t.data ? ReadInts(t.data, t.dtype, t.numel) : std::vector<int64_t>();
}

/** x rounded to a value dtype t can hold (roundTo), as float64. */
inline double RoundTo(DType t, double x) {
  double r = 0;
  VisitDType(t, [&](auto tag) {
    using T = typename decltype(tag)::type;
    r = ToDouble(FromDouble<T>(x));
  });
  return r;
}

/** Round half to even (the compiler's roundHalfEven); the default FP environment rounds so. */
inline double RoundHalfEven(double x) { return std::nearbyint(x); }

/** Whether input i is present in the plan. */
inline bool HasInput(const PrepareContext& ctx, size_t i) { return ctx.input(i) != nullptr; }

/** The IR dtype of an ONNX TensorProto data type code; false for codes the runtime cannot hold. */
inline bool DTypeFromOnnx(int64_t code, DType* out) {
  switch (code) {
    case 1: *out = DType::F32; return true;
    case 2: *out = DType::U8; return true;
    case 3: *out = DType::I8; return true;
    case 4: *out = DType::U16; return true;
    case 5: *out = DType::I16; return true;
    case 6: *out = DType::I32; return true;
    case 7: *out = DType::I64; return true;
    case 9: *out = DType::Bool; return true;
    case 10: *out = DType::F16; return true;
    case 11: *out = DType::F64; return true;
    case 12: *out = DType::U32; return true;
    case 13: *out = DType::U64; return true;
    case 16: *out = DType::BF16; return true;
    default: return false;
  }
}

inline bool IsIn(uint32_t mask, DType t) { return (mask & Bit(t)) != 0; }

/** Error for a bad value found at run time (an index out of range...). */
inline Status KernelError(const KernelSpec& spec, const std::string& why) {
  return MCPC_ERROR(MCPC_E_KERNEL, "%s (node %s): %s", spec.op.c_str(), spec.source.c_str(), why.c_str());
}

}  // namespace ew
}  // namespace mcpc
