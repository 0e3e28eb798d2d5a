// The prelude of mcpc's generated CUDA kernels: the one header a plan's CUDA source
// (KernelPlan.cuda.source) includes. The runtime hands it to NVRTC by name; test/cuda provides a
// CPU emulation of the same names. Storage types are plain integers so that the generated code
// needs no CUDA headers: fp16 and bfloat16 values are loaded into float, computed in float and
// rounded to nearest-even when stored.
#pragma once

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
  float f;
  asm("{ cvt.f32.f16 %0, %1; }" : "=f"(f) : "h"(h));
  return f;
}

static __device__ __forceinline__ mcpc_f16 mcpc_f32_to_f16(float f) {
  mcpc_f16 h;
  asm("{ cvt.rn.f16.f32 %0, %1; }" : "=h"(h) : "f"(f));
  return h;
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

// Warp-level tensor-core operations (sm_80+), for the fused attention kernel: one mma.m16n8k16 with
// fp32 accumulation (d += a * b; a: 4 registers of a 16x16 row-major tile, b: 2 of a 16x8
// column-major tile, in the PTX fragment layout) and the packing of two floats into the two
// halves of a register (lo in bits 0-15). Every lane of the warp must call them together.
static __device__ __forceinline__ void mcpc_mma_m16n8k16_f16(float* d, const mcpc_u32* a, mcpc_u32 b0, mcpc_u32 b1) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

static __device__ __forceinline__ void mcpc_mma_m16n8k16_bf16(float* d, const mcpc_u32* a, mcpc_u32 b0, mcpc_u32 b1) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

static __device__ __forceinline__ mcpc_u32 mcpc_pack_f16x2(float lo, float hi) {
  mcpc_u32 r;
  asm("{ cvt.rn.f16x2.f32 %0, %1, %2; }" : "=r"(r) : "f"(hi), "f"(lo));
  return r;
}

static __device__ __forceinline__ mcpc_u32 mcpc_pack_bf16x2(float lo, float hi) {
  mcpc_u32 r;
  asm("{ cvt.rn.bf16x2.f32 %0, %1, %2; }" : "=r"(r) : "f"(hi), "f"(lo));
  return r;
}
