// Bit-exact conversions between float64 and the low-precision storage types, as the compiler's
// reference defines them (compiler/ir/dtype.ts: numberToMiniFloatBits, numberToE8M0Bits,
// subByteIntCode and the value tables), and access to packed sub-byte elements. A "code" is the
// bits of one element (a byte for float8, the low 4 or 2 bits for sub-byte types).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "../dtype.h"

namespace mcpc {
namespace lowp {

/** How f8e8m0 rounds a value that is not a power of two (Cast's round_mode). */
enum class RoundMode : uint8_t { Up, Down, Nearest };

/** Parses round_mode ("up", "down", "nearest"); false for anything else. */
bool ParseRoundMode(const std::string& s, RoundMode* out);

/**
 * The code `t` stores for x by ONNX Cast: float8 and f4e2m1 round to nearest even once and, with
 * `saturate`, clamp out-of-range values and +-inf to +-max (otherwise inf or NaN; f4e2m1 always
 * saturates); f8e8m0 rounds its exponent by `mode`; the small integers truncate and wrap.
 */
uint8_t Encode(DType t, double x, bool saturate = true, RoundMode mode = RoundMode::Up);

/** The value of a code of `t` (exact). */
double Decode(DType t, uint8_t code);

/** Code of element i of a tensor of low-precision type t. */
inline uint8_t GetCode(const void* data, DType t, int64_t i) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  switch (DTypeBits(t)) {
    case 4: return static_cast<uint8_t>((p[i >> 1] >> ((i & 1) * 4)) & 0xf);
    case 2: return static_cast<uint8_t>((p[i >> 2] >> ((i & 3) * 2)) & 0x3);
    default: return p[i];
  }
}

/** Contents of n elements of low-precision type t, as float64. */
std::vector<double> ReadValues(const void* data, DType t, int64_t n);

/**
 * Stores n codes (one per element) into a tensor of type t, packing sub-byte types; the unused
 * high bits of a last partial byte are zero.
 */
void WriteCodes(void* data, DType t, const uint8_t* codes, int64_t n);

}  // namespace lowp
}  // namespace mcpc
