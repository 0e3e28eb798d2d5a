// Element types, in the order and with the names of the artifact format (compiler/ir/dtype.ts);
// ParseDType maps the artifact's names, so the two tables are checked against each other by the
// binding tests.
//
// Besides the compute types there are ONNX's low-precision storage types: the float8 formats, the
// power-of-two scale type f8e8m0 (one byte each), the 4-bit float f4e2m1 and the 4- and 2-bit
// integers. Sub-byte types are packed as ONNX raw_data packs them: two 4-bit or four 2-bit elements
// per byte, the first element in the least significant bits. Buffers are sized with ByteLength;
// DTypeSize is the size of one element unpacked (1 for sub-byte types: an upper bound, never the
// packed size), which is also the alignment a slot of the type needs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace mcpc {

enum class DType : uint8_t {
  F32, F16, BF16, F64, I64, I32, I16, I8, U64, U32, U16, U8, Bool,
  F8E4M3FN, F8E4M3FNUZ, F8E5M2, F8E5M2FNUZ, F8E8M0, F4E2M1, I4, U4, I2, U2,
};
constexpr int kDTypeCount = static_cast<int>(DType::U2) + 1;

/** Bits one element occupies in packed storage. */
inline int DTypeBits(DType t) {
  switch (t) {
    case DType::F64: case DType::I64: case DType::U64: return 64;
    case DType::F32: case DType::I32: case DType::U32: return 32;
    case DType::F16: case DType::BF16: case DType::I16: case DType::U16: return 16;
    case DType::I8: case DType::U8: case DType::Bool:
    case DType::F8E4M3FN: case DType::F8E4M3FNUZ: case DType::F8E5M2: case DType::F8E5M2FNUZ: case DType::F8E8M0: return 8;
    case DType::F4E2M1: case DType::I4: case DType::U4: return 4;
    case DType::I2: case DType::U2: return 2;
  }
  return 0;
}

/** Bytes per element; 1 for the sub-byte types (see ByteLength for their packed size). */
inline size_t DTypeSize(DType t) {
  const int bits = DTypeBits(t);
  return bits >= 8 ? static_cast<size_t>(bits / 8) : 1;
}

/** Whether elements of t are packed several to a byte (f4e2m1, i4, u4, i2, u2). */
inline bool IsSubByte(DType t) { return DTypeBits(t) < 8; }

/** The low-precision storage types (float8, f8e8m0, f4e2m1, 4- and 2-bit integers). */
inline bool IsLowPrecision(DType t) { return static_cast<int>(t) >= static_cast<int>(DType::F8E4M3FN); }

/** Bytes that n packed elements of t occupy: ceil(n * bits / 8). */
inline uint64_t ByteLength(DType t, uint64_t n) {
  const uint64_t bits = static_cast<uint64_t>(DTypeBits(t));
  return bits >= 8 ? n * (bits / 8) : (n * bits + 7) / 8;
}

inline const char* DTypeName(DType t) {
  static const char* const names[] = {"f32", "f16", "bf16", "f64", "i64", "i32", "i16", "i8", "u64", "u32", "u16", "u8", "bool",
                                      "f8e4m3fn", "f8e4m3fnuz", "f8e5m2", "f8e5m2fnuz", "f8e8m0", "f4e2m1", "i4", "u4", "i2", "u2"};
  static_assert(sizeof(names) / sizeof(names[0]) == kDTypeCount, "one name per dtype");
  return names[static_cast<int>(t)];
}

/** Returns false for an unknown name. */
inline bool ParseDType(const std::string& s, DType* out) {
  for (int i = 0; i < kDTypeCount; ++i) {
    if (s == DTypeName(static_cast<DType>(i))) {
      *out = static_cast<DType>(i);
      return true;
    }
  }
  return false;
}

}  // namespace mcpc
