// A CPU emulator for the CUDA C++ subset that mcpc's generated kernels use (test/cuda): the
// qualifiers, the thread/block built-ins, vector types, bit casts, the math library (from <math.h>)
// and __syncthreads(). A launch runs its blocks one after another; inside a block, a kernel that
// synchronizes runs each thread as a fiber on its own stack, switched at every __syncthreads(), so
// the barrier really separates the phases of all threads (and barriers reached by different
// threads in a different order are reported). Kernels without barriers run their threads one after
// another as plain calls; a barrier in such a launch aborts the run. Warp-collective operations
// (__shfl_xor_sync here, the tensor-core MMA of the prelude) are exchanges through a per-thread
// staging area between two block-wide rendezvous: every thread of the block must reach them in the
// same order (as it must reach __syncthreads), which the fiber scheduler checks.
#pragma once

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <initializer_list>
#include <utility>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
// One block runs at a time, so a function-scope static is the block's shared memory.
#define __shared__ static

struct uint3 { unsigned x, y, z; };
struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};
struct alignas(16) uint4 { unsigned x, y, z, w; };
struct alignas(8) uint2 { unsigned x, y; };
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(8) float2 { float x, y; };

inline uint3 threadIdx;
inline uint3 blockIdx;
inline dim3 blockDim;
inline dim3 gridDim;

static inline float __int_as_float(int i) { float f; memcpy(&f, &i, 4); return f; }
static inline int __float_as_int(float f) { int i; memcpy(&i, &f, 4); return i; }
static inline unsigned __float_as_uint(float f) { unsigned i; memcpy(&i, &f, 4); return i; }
static inline float __uint_as_float(unsigned i) { float f; memcpy(&f, &i, 4); return f; }
static inline double __longlong_as_double(long long i) { double d; memcpy(&d, &i, 8); return d; }
static inline long long __double_as_longlong(double d) { long long i; memcpy(&i, &d, 8); return i; }

namespace mcpc_emu {

[[noreturn]] inline void fail(const char* what) {
  fprintf(stderr, "cuda emulator: %s\n", what);
  fflush(stderr);
  abort();
}

constexpr int kMaxThreads = 1024;
constexpr size_t kStackBytes = 64 * 1024;

struct Fiber {
  void* sp = nullptr;
  bool done = false;
  long barriers = 0;
  /** Where the fiber waits: the return address of its current __syncthreads() call. */
  void* site = nullptr;
};

inline bool g_fiber_mode = false;
inline Fiber g_fibers[kMaxThreads];
inline char* g_stacks = nullptr;
inline int g_current = 0;
inline void* g_scheduler_sp = nullptr;
inline void (*g_invoke)(void*) = nullptr;
inline void* g_invoke_ctx = nullptr;

}  // namespace mcpc_emu

extern "C" void mcpc_emu_fiber_main();

// Fibers switch with a few instructions on x86-64 (ucontext's swapcontext makes a system call per
// switch); other machines, or -DMCPC_EMU_UCONTEXT, use ucontext.
#if defined(__x86_64__) && !defined(MCPC_EMU_UCONTEXT)
// switch(save, load): pushes the callee-saved registers, stores the stack pointer in *save, loads
// `load` and pops the registers saved there (System V x86-64).
extern "C" void mcpc_emu_switch(void** save, void* load);
asm(R"(
  .text
  .globl mcpc_emu_switch
  .type mcpc_emu_switch, @function
mcpc_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size mcpc_emu_switch, .-mcpc_emu_switch
)");

namespace mcpc_emu {
/** A new fiber's stack: six zero registers, then a return into mcpc_emu_fiber_main. */
inline void* fiber_stack(char* base) {
  uintptr_t top = (reinterpret_cast<uintptr_t>(base) + kStackBytes) & ~uintptr_t(15);
  void** sp = reinterpret_cast<void**>(top);
  *--sp = nullptr;                                              // fiber_main's (unused) return address
  *--sp = reinterpret_cast<void*>(&mcpc_emu_fiber_main);        // popped by `ret`
  for (int i = 0; i < 6; i++) *--sp = nullptr;                  // r15 r14 r13 r12 rbx rbp
  return sp;
}
inline void to_fiber(int t) { mcpc_emu_switch(&g_scheduler_sp, g_fibers[t].sp); }
inline void to_scheduler() { mcpc_emu_switch(&g_fibers[g_current].sp, g_scheduler_sp); }
}  // namespace mcpc_emu
#else
#include <ucontext.h>
namespace mcpc_emu {
inline ucontext_t g_sched_ctx;
inline ucontext_t g_ctx[kMaxThreads];
inline void* fiber_stack(char* base) {
  ucontext_t& c = g_ctx[g_current];
  getcontext(&c);
  c.uc_stack.ss_sp = base;
  c.uc_stack.ss_size = kStackBytes;
  c.uc_link = nullptr;
  makecontext(&c, mcpc_emu_fiber_main, 0);
  return &c;
}
inline void to_fiber(int t) { swapcontext(&g_sched_ctx, static_cast<ucontext_t*>(g_fibers[t].sp)); }
inline void to_scheduler() { swapcontext(static_cast<ucontext_t*>(g_fibers[g_current].sp), &g_sched_ctx); }
}  // namespace mcpc_emu
#endif

extern "C" inline void mcpc_emu_fiber_main() {
  using namespace mcpc_emu;
  g_invoke(g_invoke_ctx);
  g_fibers[g_current].done = true;
  to_scheduler();
  fail("a finished fiber was resumed");
}

// Not inlined, so that its return address tells the call sites apart.
__attribute__((noinline)) static void __syncthreads() {
  using namespace mcpc_emu;
  if (!g_fiber_mode) fail("__syncthreads() in a kernel launched without barriers");
  g_fibers[g_current].barriers++;
  g_fibers[g_current].site = __builtin_return_address(0);
  to_scheduler();
}

namespace mcpc_emu {

/**
 * A rendezvous of all threads of the block for a warp-collective operation: what each thread
 * staged before it is visible to all after it. Not inlined, so all collectives share one site.
 */
__attribute__((noinline)) inline void collective_rendezvous() {
  if (!g_fiber_mode) fail("a warp-collective operation in a kernel launched without barriers");
  if ((blockDim.x * blockDim.y * blockDim.z) % 32 != 0) fail("a warp-collective operation in a block that is not whole warps");
  g_fibers[g_current].barriers++;
  g_fibers[g_current].site = __builtin_return_address(0);
  to_scheduler();
}

/** Per-thread staging of warp-collective operations (indexed by the thread's linear id). */
inline unsigned long long g_stage[kMaxThreads][8];

inline uint3 coords(unsigned t, dim3 d) { return uint3{t % d.x, (t / d.x) % d.y, t / (d.x * d.y)}; }

/** Runs one block whose threads synchronize: round-robin over fibers, one barrier per round. */
inline void run_block_fibers(int n) {
  if (!g_stacks) {
    g_stacks = static_cast<char*>(aligned_alloc(64, kStackBytes * kMaxThreads));
    if (!g_stacks) fail("out of memory for fiber stacks");
  }
  for (int t = 0; t < n; t++) {
    g_current = t;
    g_fibers[t] = Fiber{};
    g_fibers[t].sp = fiber_stack(g_stacks + size_t(t) * kStackBytes);
  }
  int alive = n;
  while (alive > 0) {
    const Fiber* first = nullptr;
    for (int t = 0; t < n; t++) {
      if (g_fibers[t].done) continue;
      g_current = t;
      threadIdx = coords(unsigned(t), blockDim);
      to_fiber(t);
      if (g_fibers[t].done) {
        alive--;
      } else if (!first) {
        first = &g_fibers[t];
      } else if (g_fibers[t].barriers != first->barriers || g_fibers[t].site != first->site) {
        fail("threads of a block wait at different __syncthreads() calls");
      }
    }
  }
}

/** Runs `invoke(ctx)` as every thread of every block of the grid. */
inline void run_grid(const char* name, dim3 grid, dim3 block, bool barriers, void (*invoke)(void*), void* ctx) {
  const unsigned long long threads = 1ull * block.x * block.y * block.z;
  if (threads == 0 || threads > 1024 || block.z > 64) {
    fprintf(stderr, "cuda emulator: %s: block %ux%ux%u exceeds CUDA limits\n", name, block.x, block.y, block.z);
    abort();
  }
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > 2147483647u || grid.y > 65535 || grid.z > 65535) {
    fprintf(stderr, "cuda emulator: %s: grid %ux%ux%u exceeds CUDA limits\n", name, grid.x, grid.y, grid.z);
    abort();
  }
  gridDim = grid;
  blockDim = block;
  g_invoke = invoke;
  g_invoke_ctx = ctx;
  for (unsigned z = 0; z < grid.z; z++)
    for (unsigned y = 0; y < grid.y; y++)
      for (unsigned x = 0; x < grid.x; x++) {
        blockIdx = uint3{x, y, z};
        if (barriers) {
          g_fiber_mode = true;
          run_block_fibers(int(threads));
          g_fiber_mode = false;
        } else {
          for (unsigned t = 0; t < threads; t++) {
            threadIdx = coords(t, block);
            invoke(ctx);
          }
        }
      }
}

}  // namespace mcpc_emu

/** Lane l gets `v` of lane l ^ laneMask (full warps only, as every use in generated code). */
template <class T>
static inline T __shfl_xor_sync(unsigned mask, T v, int laneMask, int width = 32) {
  using namespace mcpc_emu;
  static_assert(sizeof(T) <= 8, "shuffle of a type over 8 bytes");
  if (mask != 0xffffffffu || width != 32 || laneMask < 0 || laneMask > 31) fail("__shfl_xor_sync with a partial mask or width");
  const int me = g_current;
  memcpy(&g_stage[me][0], &v, sizeof(T));
  collective_rendezvous();
  T r;
  memcpy(&r, &g_stage[(me & ~31) | ((me & 31) ^ laneMask)][0], sizeof(T));
  collective_rendezvous();
  return r;
}

namespace mcpc_emu {

template <class... P, size_t... I>
inline void call_with(void (*fn)(P...), void* const* a, std::index_sequence<I...>) {
  fn(static_cast<P>(a[I])...);
}

/** Launches kernel `fn` with device pointers `args` (one per parameter). */
template <class... P>
inline void launch(const char* name, void (*fn)(P...), std::initializer_list<void*> args, dim3 grid, dim3 block, unsigned sharedBytes, bool barriers) {
  if (args.size() != sizeof...(P)) {
    fprintf(stderr, "cuda emulator: %s takes %zu arguments, the launch passes %zu\n", name, sizeof...(P), args.size());
    abort();
  }
  if (sharedBytes > 48 * 1024) fail("dynamic shared memory over 48 KiB");
  void* a[sizeof...(P) + 1];
  size_t k = 0;
  for (void* p : args) a[k++] = p;
  struct Ctx {
    void (*fn)(P...);
    void** a;
  } ctx{fn, a};
  run_grid(name, grid, block, barriers, [](void* c) {
    Ctx* x = static_cast<Ctx*>(c);
    call_with(x->fn, x->a, std::index_sequence_for<P...>{});
  }, &ctx);
}

}  // namespace mcpc_emu
