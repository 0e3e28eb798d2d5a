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

// Warp-level tensor-core operations (native/cuda/mcpc_prelude.cuh has the PTX). The MMA is
// emulated as the hardware defines it: every lane stages its registers, then computes the four
// accumulator elements it owns in the PTX fragment layout of mma.m16n8k16 (A row-major: register r
// holds row g + 8 (r & 1), columns 2t + 8 (r >> 1) + {0, 1}; B col-major: register r holds column g,
// rows 2t + 8r + {0, 1}; C: element c is row g + 8 (c >> 1), column 2t + (c & 1); g = lane / 4,
// t = lane % 4), from the registers of the other lanes. A kernel with the wrong layout gets wrong
// numbers here as on the device.

static inline mcpc_u32 mcpc_pack_f16x2(float lo, float hi) {
  return (mcpc_u32)mcpc_f32_to_f16(lo) | ((mcpc_u32)mcpc_f32_to_f16(hi) << 16);
}

static inline mcpc_u32 mcpc_pack_bf16x2(float lo, float hi) {
  return (mcpc_u32)mcpc_f32_to_bf16(lo) | ((mcpc_u32)mcpc_f32_to_bf16(hi) << 16);
}

namespace mcpc_emu {
inline void mma_m16n8k16(float* d, const mcpc_u32* a, mcpc_u32 b0, mcpc_u32 b1, float (*cvt)(unsigned short)) {
  const int me = g_current;
  const int warp = me & ~31;
  const int lane = me & 31;
  for (int r = 0; r < 4; r++) g_stage[me][r] = a[r];
  g_stage[me][4] = b0;
  g_stage[me][5] = b1;
  collective_rendezvous();
  const auto half = [&](int l, int reg, int hi) { return cvt((unsigned short)(g_stage[warp + l][reg] >> (16 * hi))); };
  const int g = lane >> 2, t = lane & 3;
  float out[4];
  for (int c = 0; c < 4; c++) {
    const int row = g + 8 * (c >> 1), col = 2 * t + (c & 1);
    float acc = d[c];
    for (int k = 0; k < 16; k++) {
      const float x = half((row & 7) * 4 + ((k & 7) >> 1), (row >> 3) + 2 * (k >> 3), k & 1);
      const float y = half(col * 4 + ((k & 7) >> 1), 4 + (k >> 3), k & 1);
      acc += x * y;
    }
    out[c] = acc;
  }
  collective_rendezvous();
  for (int c = 0; c < 4; c++) d[c] = out[c];
}
}  // namespace mcpc_emu

static inline void mcpc_mma_m16n8k16_f16(float* d, const mcpc_u32* a, mcpc_u32 b0, mcpc_u32 b1) {
  mcpc_emu::mma_m16n8k16(d, a, b0, b1, mcpc_f16_to_f32);
}

static inline void mcpc_mma_m16n8k16_bf16(float* d, const mcpc_u32* a, mcpc_u32 b0, mcpc_u32 b1) {
  mcpc_emu::mma_m16n8k16(d, a, b0, b1, mcpc_bf16_to_f32);
}
