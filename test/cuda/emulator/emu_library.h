// The library calls of a cuda plan on the emulator (cuBLASLt MatMul/Gemm, cuDNN Conv 2-D, NCHW or
// NHWC), with the semantics of the CudaKernelCode contract: Gemm leaves out beta * C and Conv leaves
// out the bias (the generated `after` launch adds them), unless the kernel's LibraryEpilogue
// (library_epilogue) or a fused cuDNN epilogue (bias_act) asks the library for them. The loops are
// library_reference.h's; this header gives them the emulated prelude's element access.
#pragma once

#include "mcpc_prelude.cuh"

namespace mcpc_emu {

inline double ld(const void* p, int dt, long long i) {
  switch (dt) {
    case 0: return static_cast<const float*>(p)[i];
    case 1: return mcpc_f16_to_f32(static_cast<const mcpc_f16*>(p)[i]);
    case 2: return mcpc_bf16_to_f32(static_cast<const mcpc_bf16*>(p)[i]);
    default: return static_cast<const double*>(p)[i];
  }
}

inline void st(void* p, int dt, long long i, double v) {
  switch (dt) {
    case 0: static_cast<float*>(p)[i] = static_cast<float>(v); break;
    case 1: static_cast<mcpc_f16*>(p)[i] = mcpc_f32_to_f16(static_cast<float>(v)); break;
    case 2: static_cast<mcpc_bf16*>(p)[i] = mcpc_f32_to_bf16(static_cast<float>(v)); break;
    default: static_cast<double*>(p)[i] = v; break;
  }
}

}  // namespace mcpc_emu

#include "library_reference.h"

namespace mcpc_emu {

// In the emulator device memory is host memory: the reference loops are the library calls.
using host::bias_act;
using host::conv2d;
using host::gemm;
using host::library_epilogue;
using host::matmul;

}  // namespace mcpc_emu
