// The CPU emulator's stand-in for native/cuda/mcpc_prelude.cuh: the same storage typedefs and
// conversions, with the hardware conversions (cvt.f32.f16, cvt.rn.f16.f32) written in portable C++
// that rounds the same way (to nearest, ties to even; NaN stays NaN; overflow goes to infinity).
#pragma once

#include "cuda_emulator.h"

typedef long long mcpc_i64;
typedef unsigned long long mcpc_u64;
typedef int mcpc_i32;
typedef unsigned int mcpc_u32;
typedef short mcpc_i16;
typedef unsigned short mcpc_u16;
typedef signed char mcpc_i8;
typedef unsigned char mcpc_u8;
/** IEEE binary16 bits. */
typedef unsigned short mcpc_f16;
/** bfloat16 bits (the high half of a binary32). */
typedef unsigned short mcpc_bf16;

static __device__ __forceinline__ float mcpc_f16_to_f32(mcpc_f16 h) {
  const unsigned sign = (unsigned)(h & 0x8000u) << 16;
  const unsigned exp = (h >> 10) & 0x1fu;
  const unsigned man = h & 0x3ffu;
  unsigned bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (man << 13);  // inf, NaN (payload kept)
  } else if (exp != 0) {
    bits = sign | ((exp + 112u) << 23) | (man << 13);
  } else if (man == 0) {
    bits = sign;
  } else {
    // Subnormal: value = man * 2^-24, exact in binary32.
    const float f = (float)man * 5.9604644775390625e-8f;
    return sign ? -f : f;
  }
  return __int_as_float((int)bits);
}

static __device__ __forceinline__ mcpc_f16 mcpc_f32_to_f16(float f) {
  const unsigned u = (unsigned)__float_as_int(f);
  const unsigned sign = (u >> 16) & 0x8000u;
  const unsigned absu = u & 0x7fffffffu;
  if (absu > 0x7f800000u) return (mcpc_f16)(sign | 0x7e00u | ((absu >> 13) & 0x3ffu));  // NaN, quiet
  if (absu >= 0x477ff000u) return (mcpc_f16)(sign | 0x7c00u);  // rounds to infinity (>= 65520)
  if (absu >= 0x38800000u) {
    // Normal half: drop 13 mantissa bits with round to nearest even.
    const unsigned rebiased = absu - 0x38000000u;  // exponent 127 -> 15
    const unsigned r = rebiased + 0xfffu + ((rebiased >> 13) & 1u);
    return (mcpc_f16)(sign | (r >> 13));
  }
  if (absu < 0x33000000u) return (mcpc_f16)sign;  // below half the smallest subnormal (2^-25): zero
  // Subnormal half: value / 2^-24 rounded to an integer, ties to even.
  const unsigned exp = absu >> 23;
  const unsigned man = (absu & 0x7fffffu) | 0x800000u;
  const unsigned shift = 126u - exp;  // man * 2^(exp-150) / 2^-24 = man >> (126 - exp)
  const unsigned q = man >> shift;
  const unsigned rem = man & ((1u << shift) - 1u);
  const unsigned half = 1u << (shift - 1u);
  const unsigned rounded = q + ((rem > half || (rem == half && (q & 1u))) ? 1u : 0u);
  return (mcpc_f16)(sign | rounded);
}

static __device__ __forceinline__ float mcpc_bf16_to_f32(mcpc_bf16 b) {
  return __int_as_float(static_cast<int>(static_cast<unsigned int>(b) << 16));
}

static __device__ __forceinline__ mcpc_bf16 mcpc_f32_to_bf16(float f) {
  unsigned int u = static_cast<unsigned int>(__float_as_int(f));
  if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu) != 0) return static_cast<mcpc_bf16>((u >> 16) | 0x40u);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<mcpc_bf16>(u >> 16);
}
