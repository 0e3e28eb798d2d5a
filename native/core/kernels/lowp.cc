// Low-precision conversions; see lowp.h. Written to follow compiler/ir/dtype.ts step by step, so
// that every code the reference produces is produced here bit for bit.
#include "lowp.h"

#include <cmath>
#include <cstring>
#include <limits>

namespace mcpc {
namespace lowp {

namespace {

enum class Kind : uint8_t { Ieee, Fn, Fnuz, Finite };

/** 1 sign bit, `exp` exponent bits, `man` mantissa bits (compiler's MiniFloatFormat). */
struct MiniFloat {
  int exp, man, bias;
  Kind kind;
  double max;
  uint8_t maxBits, nanBits;
  double table[256];

  MiniFloat(int e, int m, int b, Kind k) : exp(e), man(m), bias(b), kind(k) {
    const int emax = (1 << exp) - 1;
    const int mmax = (1 << man) - 1;
    max = kind == Kind::Ieee ? (2 - std::ldexp(1.0, -man)) * std::ldexp(1.0, emax - 1 - bias)
          : kind == Kind::Fn ? (2 - std::ldexp(1.0, 1 - man)) * std::ldexp(1.0, emax - bias)
                             : (2 - std::ldexp(1.0, -man)) * std::ldexp(1.0, emax - bias);
    const int signBit = 1 << (exp + man);
    nanBits = static_cast<uint8_t>(kind == Kind::Ieee ? (emax << man) | (1 << (man - 1)) : kind == Kind::Fn ? (emax << man) | mmax : signBit);
    maxBits = static_cast<uint8_t>(kind == Kind::Ieee ? (emax << man) - 1 : kind == Kind::Fn ? nanBits - 1 : signBit - 1);
    for (int bits = 0; bits < 256; ++bits) {
      const int b = bits & ((signBit << 1) - 1);
      const int be = (b >> man) & emax;
      const int bm = b & mmax;
      double v = be == 0 ? bm * std::ldexp(1.0, 1 - bias - man) : (1 + static_cast<double>(bm) / (mmax + 1)) * std::ldexp(1.0, be - bias);
      if (kind == Kind::Ieee && be == emax) v = bm ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
      if (kind == Kind::Fn && be == emax && bm == mmax) v = std::numeric_limits<double>::quiet_NaN();
      if (kind == Kind::Fnuz && b == signBit) v = std::numeric_limits<double>::quiet_NaN();
      table[bits] = (b & signBit) ? -v : v;
    }
  }

  uint8_t Encode(double x, bool saturate) const {
    const int signBit = 1 << (exp + man);
    if (std::isnan(x)) return nanBits;
    const int sign = std::signbit(x) ? signBit : 0;
    const double a = std::fabs(x);
    const int emin = 1 - bias;
    double r = std::numeric_limits<double>::infinity();
    if (!std::isinf(a)) {
      const int e = a < std::ldexp(1.0, emin) ? emin : std::ilogb(a);
      const double q = std::ldexp(1.0, e - man);
      r = std::nearbyint(a / q) * q;  // a / q is exact (a power-of-two scaling); round half even
    }
    if (r > max) {
      if (saturate || kind == Kind::Finite) return static_cast<uint8_t>(sign | maxBits);
      if (kind == Kind::Ieee) return static_cast<uint8_t>(sign | (maxBits + 1));  // inf
      return kind == Kind::Fn ? static_cast<uint8_t>(sign | nanBits) : nanBits;
    }
    if (r == 0) return kind == Kind::Fnuz ? 0 : static_cast<uint8_t>(sign);
    if (r < std::ldexp(1.0, emin)) return static_cast<uint8_t>(sign | static_cast<int>(std::ldexp(r, man - emin)));
    const int e = std::ilogb(r);
    const int m = static_cast<int>((std::ldexp(r, -e) - 1) * (1 << man));
    return static_cast<uint8_t>(sign | ((e + bias) << man) | m);
  }
};

const MiniFloat& Format(DType t) {
  static const MiniFloat e4m3fn(4, 3, 7, Kind::Fn), e4m3fnuz(4, 3, 8, Kind::Fnuz), e5m2(5, 2, 15, Kind::Ieee),
      e5m2fnuz(5, 2, 16, Kind::Fnuz), e2m1(2, 1, 1, Kind::Finite);
  switch (t) {
    case DType::F8E4M3FN: return e4m3fn;
    case DType::F8E4M3FNUZ: return e4m3fnuz;
    case DType::F8E5M2: return e5m2;
    case DType::F8E5M2FNUZ: return e5m2fnuz;
    default: return e2m1;
  }
}

bool IsMiniFloat(DType t) {
  return t == DType::F8E4M3FN || t == DType::F8E4M3FNUZ || t == DType::F8E5M2 || t == DType::F8E5M2FNUZ || t == DType::F4E2M1;
}

/** floor(log2(a)) for a finite a > 0. */
int ExponentOf(double a) { return std::ilogb(a); }

/** onnx.numpy_helper.to_float8e8m0 with the compiler's two departures (numberToE8M0Bits). */
uint8_t EncodeE8M0(double x, bool saturate, RoundMode mode) {
  if (std::isnan(x)) return 0xff;
  const float f = static_cast<float>(x);
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  uint32_t exponent = (bits >> 23) & 0xff;
  if (exponent == 0xff) return saturate && std::isinf(x) ? 0xfe : 0xff;
  const double a = std::fabs(x);
  if (a != 0 && a >= std::ldexp(1.0, -127) && a <= std::ldexp(1.0, 127) && std::ldexp(1.0, ExponentOf(a)) == a) {
    return static_cast<uint8_t>(ExponentOf(a) + 127);
  }
  bool up = false;
  if (mode == RoundMode::Nearest) {
    const bool g = (bits & 0x400000) != 0;
    const bool r = (bits & 0x200000) != 0;
    const bool s = (bits & 0x1fffff) != 0;
    up = g && (r || s || exponent > 0);
  } else if (mode == RoundMode::Up) {
    up = (bits & 0x7fffff) != 0;
  }
  if (up && !(saturate && exponent == 0xfe)) exponent += 1;
  return static_cast<uint8_t>(exponent);
}

}  // namespace

bool ParseRoundMode(const std::string& s, RoundMode* out) {
  if (s == "up") *out = RoundMode::Up;
  else if (s == "down") *out = RoundMode::Down;
  else if (s == "nearest") *out = RoundMode::Nearest;
  else return false;
  return true;
}

uint8_t Encode(DType t, double x, bool saturate, RoundMode mode) {
  if (IsMiniFloat(t)) return Format(t).Encode(x, saturate);
  if (t == DType::F8E8M0) return EncodeE8M0(x, saturate, mode);
  // i4 u4 i2 u2: truncate toward zero and keep the low bits (two's complement wrap); inf/NaN give 0.
  if (!std::isfinite(x)) return 0;
  const double tr = std::trunc(x);
  double m = std::fmod(tr, 256.0);  // exact; only the low bits matter
  if (m < 0) m += 256.0;
  const uint32_t mask = (1u << DTypeBits(t)) - 1;
  return static_cast<uint8_t>(static_cast<uint32_t>(m) & mask);
}

double Decode(DType t, uint8_t code) {
  if (IsMiniFloat(t)) return Format(t).table[code];
  switch (t) {
    case DType::F8E8M0: return code == 0xff ? std::numeric_limits<double>::quiet_NaN() : std::ldexp(1.0, static_cast<int>(code) - 127);
    case DType::I4: { const int c = code & 0xf; return c >= 8 ? c - 16 : c; }
    case DType::U4: return code & 0xf;
    case DType::I2: { const int c = code & 0x3; return c >= 2 ? c - 4 : c; }
    case DType::U2: return code & 0x3;
    default: return std::numeric_limits<double>::quiet_NaN();
  }
}

std::vector<double> ReadValues(const void* data, DType t, int64_t n) {
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = Decode(t, GetCode(data, t, i));
  return v;
}

void WriteCodes(void* data, DType t, const uint8_t* codes, int64_t n) {
  uint8_t* p = static_cast<uint8_t*>(data);
  const int bits = DTypeBits(t);
  if (bits >= 8) {
    std::memcpy(p, codes, static_cast<size_t>(n));
    return;
  }
  const int per = 8 / bits;
  const uint8_t mask = static_cast<uint8_t>((1u << bits) - 1);
  const int64_t bytes = (n + per - 1) / per;
  for (int64_t b = 0; b < bytes; ++b) {
    uint8_t byte = 0;
    for (int k = 0; k < per; ++k) {
      const int64_t i = b * per + k;
      if (i < n) byte |= static_cast<uint8_t>((codes[i] & mask) << (k * bits));
    }
    p[b] = byte;
  }
}

}  // namespace lowp
}  // namespace mcpc
