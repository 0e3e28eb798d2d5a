// The real-GPU counterpart of test/cuda/emulator (cuda_emulator.h, emu_runtime.h, emu_library.h):
// the same names, so that the main the harness prints for a plan (emulatorMain(plan, 'gpu')) runs
// the plan's generated kernels on a CUDA device with nvcc, the real prelude and <<<>>> launches.
// Slots are cudaMalloc'd (256-byte aligned like the runtime's); library anchors are computed on
// the host by the same reference loops as in the emulator, between copies. Used by hand on a GPU
// machine (test/cuda/device/run-bundle.sh), never by `npm test`.
#pragma once

#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <initializer_list>
#include <utility>
#include <vector>

namespace mcpc_emu {

[[noreturn]] inline void fail(const char* what) {
  fprintf(stderr, "gpu runtime: %s\n", what);
  fflush(stderr);
  abort();
}

inline void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    fprintf(stderr, "gpu runtime: %s: %s\n", what, cudaGetErrorString(e));
    abort();
  }
}

// Host conversions (the prelude's are device-only), rounding as the hardware does.
inline float h2f(unsigned short h) {
  const unsigned sign = (unsigned)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
  unsigned bits;
  if (exp == 0x1f) bits = sign | 0x7f800000u | (man << 13);
  else if (exp != 0) bits = sign | ((exp + 112u) << 23) | (man << 13);
  else if (man == 0) bits = sign;
  else { const float f = (float)man * 5.9604644775390625e-8f; return sign ? -f : f; }
  float f;
  memcpy(&f, &bits, 4);
  return f;
}
inline unsigned short f2h(float f) {
  unsigned u;
  memcpy(&u, &f, 4);
  const unsigned sign = (u >> 16) & 0x8000u, absu = u & 0x7fffffffu;
  if (absu > 0x7f800000u) return (unsigned short)(sign | 0x7e00u);
  if (absu >= 0x477ff000u) return (unsigned short)(sign | 0x7c00u);
  if (absu >= 0x38800000u) { const unsigned r = absu - 0x38000000u; return (unsigned short)(sign | ((r + 0xfffu + ((r >> 13) & 1u)) >> 13)); }
  if (absu < 0x33000000u) return (unsigned short)sign;
  const unsigned exp = absu >> 23, man = (absu & 0x7fffffu) | 0x800000u, shift = 126u - exp;
  const unsigned q = man >> shift, rem = man & ((1u << shift) - 1u), half = 1u << (shift - 1u);
  return (unsigned short)(sign | (q + ((rem > half || (rem == half && (q & 1u))) ? 1u : 0u)));
}
inline float b2f(unsigned short b) { unsigned u = (unsigned)b << 16; float f; memcpy(&f, &u, 4); return f; }
inline unsigned short f2b(float f) {
  unsigned u;
  memcpy(&u, &f, 4);
  if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu) != 0) return (unsigned short)((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return (unsigned short)(u >> 16);
}

inline size_t esize(int dt) { return dt == 0 ? 4 : dt == 3 ? 8 : 2; }
inline double ld(const void* p, int dt, long long i) {
  switch (dt) {
    case 0: return static_cast<const float*>(p)[i];
    case 1: return h2f(static_cast<const unsigned short*>(p)[i]);
    case 2: return b2f(static_cast<const unsigned short*>(p)[i]);
    default: return static_cast<const double*>(p)[i];
  }
}
inline void st(void* p, int dt, long long i, double v) {
  switch (dt) {
    case 0: static_cast<float*>(p)[i] = (float)v; break;
    case 1: static_cast<unsigned short*>(p)[i] = f2h((float)v); break;
    case 2: static_cast<unsigned short*>(p)[i] = f2b((float)v); break;
    default: static_cast<double*>(p)[i] = v; break;
  }
}

/** A host copy of `count` elements at device pointer `d`. */
inline std::vector<unsigned char> down(const void* d, long long count, int dt) {
  std::vector<unsigned char> h(size_t(count) * esize(dt));
  check(cudaMemcpy(h.data(), d, h.size(), cudaMemcpyDeviceToHost), "copy to host");
  return h;
}
inline void up(void* d, const std::vector<unsigned char>& h) { check(cudaMemcpy(d, h.data(), h.size(), cudaMemcpyHostToDevice), "copy to device"); }

}  // namespace mcpc_emu

#include "library_reference.h"

namespace mcpc_emu {

// The library calls: library_reference.h's loops on host copies of the device buffers.

inline long long product(int rank, const long long* dims) {
  long long n = 1;
  for (int k = 0; k < rank; k++) n *= dims[k];
  return n;
}

inline void matmul(const void* A, const void* B, void* Y, int dt, int ar, const long long* ad, int br, const long long* bd) {
  check(cudaDeviceSynchronize(), "before matmul");
  auto a = down(A, product(ar, ad), dt), b = down(B, product(br, bd), dt);
  std::vector<unsigned char> y(size_t(host::matmul_count(ar, ad, br, bd)) * esize(dt));
  host::matmul(a.data(), b.data(), y.data(), dt, ar, ad, br, bd);
  up(Y, y);
}

inline void gemm(const void* A, const void* B, void* Y, int dt, long long M, long long N, long long K, int transA, int transB, double alpha) {
  check(cudaDeviceSynchronize(), "before gemm");
  auto a = down(A, M * K, dt), b = down(B, K * N, dt);
  std::vector<unsigned char> y(size_t(M * N) * esize(dt));
  host::gemm(a.data(), b.data(), y.data(), dt, M, N, K, transA, transB, alpha);
  up(Y, y);
}

inline void conv2d(const void* X, const void* Wt, void* Y, int dt, long long N, long long C, long long H, long long W, long long M,
                   long long KH, long long KW, long long OH, long long OW, int sh, int sw, int ph, int pw, int dh, int dw, int group,
                   int channelsLast = 0) {
  check(cudaDeviceSynchronize(), "before conv");
  auto x = down(X, N * C * H * W, dt), w = down(Wt, M * (C / group) * KH * KW, dt);
  std::vector<unsigned char> y(size_t(N * M * OH * OW) * esize(dt));
  host::conv2d(x.data(), w.data(), y.data(), dt, N, C, H, W, M, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw, group, channelsLast);
  up(Y, y);
}

inline void library_epilogue(void* Y, int dt, long long count, long long M, long long N, double alpha, const void* C, double beta, const void* bias,
                             long long biasCount, int act) {
  check(cudaDeviceSynchronize(), "before the library epilogue");
  auto y = down(Y, count, dt);
  std::vector<unsigned char> c = C ? down(C, count, dt) : std::vector<unsigned char>(), b = bias ? down(bias, biasCount, dt) : std::vector<unsigned char>();
  host::library_epilogue(y.data(), dt, count, M, N, alpha, C ? c.data() : nullptr, beta, bias ? b.data() : nullptr, biasCount, act);
  up(Y, y);
}

inline void bias_act(void* Y, const void* B, const void* Z, int dt, long long count, long long M, long long plane, int channelsLast, int relu) {
  check(cudaDeviceSynchronize(), "before bias_act");
  auto y = down(Y, count, dt), b = down(B, M, dt);
  std::vector<unsigned char> z = Z ? down(Z, count, dt) : std::vector<unsigned char>();
  host::bias_act(y.data(), b.data(), Z ? z.data() : nullptr, dt, count, M, plane, channelsLast, relu);
  up(Y, y);
}

struct SlotInfo {
  long long bytes;
  int kind;  // 0 input, 1 output, 2 weight, 3 arena
  long long offset;
};

class Memory {
 public:
  Memory(const char* dir, const SlotInfo* slots, int n, long long arenaBytes) : dir_(dir), slots_(slots), n_(n) {
    ptr = static_cast<void**>(calloc(size_t(n) + 1, sizeof(void*)));
    arena_ = alloc(arenaBytes);
    for (int i = 0; i < n; i++) {
      if (slots[i].kind == 3) {
        ptr[i] = static_cast<unsigned char*>(arena_) + slots[i].offset;
        continue;
      }
      ptr[i] = alloc(slots[i].bytes);
      if (slots[i].kind == 0 || slots[i].kind == 2) load(i);
    }
  }
  void** ptr;
  void clobber(long long offset, long long bytes) {
    mcpc_emu::check(cudaMemset(static_cast<unsigned char*>(arena_) + offset, 0xff, size_t(bytes)), "scratch clobber");
  }
  void check() const { mcpc_emu::check(cudaDeviceSynchronize(), "after the plan"); }
  void write(int slot) const {
    std::vector<unsigned char> h(size_t(slots_[slot].bytes));
    mcpc_emu::check(cudaMemcpy(h.data(), ptr[slot], h.size(), cudaMemcpyDeviceToHost), "output copy");
    char path[4096];
    snprintf(path, sizeof path, "%s/o%d.bin", dir_, slot);
    FILE* f = fopen(path, "wb");
    if (!f) fail("cannot write an output file");
    if (!h.empty()) fwrite(h.data(), 1, h.size(), f);
    fclose(f);
  }

 private:
  static void* alloc(long long bytes) {
    void* p = nullptr;
    mcpc_emu::check(cudaMalloc(&p, size_t(bytes) + 256), "cudaMalloc");
    mcpc_emu::check(cudaMemset(p, 0xff, size_t(bytes) + 256), "cudaMemset");
    return p;
  }
  void load(int slot) {
    char path[4096];
    snprintf(path, sizeof path, "%s/s%d.bin", dir_, slot);
    FILE* f = fopen(path, "rb");
    if (!f) fail("cannot read an input or weight file");
    std::vector<unsigned char> h(size_t(slots_[slot].bytes));
    if (!h.empty() && fread(h.data(), 1, h.size(), f) != h.size()) fail("short read");
    fclose(f);
    up(ptr[slot], h);
  }
  const char* dir_;
  const SlotInfo* slots_;
  int n_;
  void* arena_;
};

template <class... P, size_t... I>
inline void call_with(dim3 g, dim3 b, unsigned sh, void (*fn)(P...), void* const* a, std::index_sequence<I...>) {
  fn<<<g, b, sh>>>(static_cast<P>(a[I])...);
}

template <class... P>
inline void launch(const char* name, void (*fn)(P...), std::initializer_list<void*> args, dim3 grid, dim3 block, unsigned sharedBytes, bool) {
  if (args.size() != sizeof...(P)) fail("argument count");
  void* a[sizeof...(P) + 1];
  size_t k = 0;
  for (void* p : args) a[k++] = p;
  call_with(grid, block, sharedBytes, fn, a, std::index_sequence_for<P...>{});
  cudaError_t e = cudaGetLastError();
  if (e == cudaSuccess) e = cudaDeviceSynchronize();
  if (e != cudaSuccess) {
    fprintf(stderr, "gpu runtime: %s: %s\n", name, cudaGetErrorString(e));
    abort();
  }
}

}  // namespace mcpc_emu
