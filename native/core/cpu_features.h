// The SIMD features of the CPU we run on, detected once at run time. The build never uses
// -march=native: kernels compiled with -mavx2/-mavx512* (files *_avx2.cc, *_avx512.cc) must only be
// called when these flags say the CPU has them.
#pragma once

namespace mcpc {

struct CpuFeatures {
  bool avx2 = false;    // with FMA (F16C comes with every AVX2 CPU): what *_avx2.cc files may use
  bool avx512 = false;  // F, BW, VL and DQ: what *_avx512.cc files may use
};

const CpuFeatures& GetCpuFeatures();

}  // namespace mcpc
