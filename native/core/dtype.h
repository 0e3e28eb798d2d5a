// Element types, in the order and with the names of the artifact format (compiler/ir/dtype.ts);
// ParseDType maps the artifact's names, so the two tables are checked against each other by the
// binding tests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace mcpc {

enum class DType : uint8_t { F32, F16, BF16, F64, I64, I32, I16, I8, U64, U32, U16, U8, Bool };

inline size_t DTypeSize(DType t) {
  switch (t) {
    case DType::F64: case DType::I64: case DType::U64: return 8;
    case DType::F32: case DType::I32: case DType::U32: return 4;
    case DType::F16: case DType::BF16: case DType::I16: case DType::U16: return 2;
    case DType::I8: case DType::U8: case DType::Bool: return 1;
  }
  return 0;
}

inline const char* DTypeName(DType t) {
  static const char* const names[] = {"f32", "f16", "bf16", "f64", "i64", "i32", "i16", "i8", "u64", "u32", "u16", "u8", "bool"};
  return names[static_cast<int>(t)];
}

/** Returns false for an unknown name. */
inline bool ParseDType(const std::string& s, DType* out) {
  for (int i = 0; i <= static_cast<int>(DType::Bool); ++i) {
    if (s == DTypeName(static_cast<DType>(i))) {
      *out = static_cast<DType>(i);
      return true;
    }
  }
  return false;
}

}  // namespace mcpc
