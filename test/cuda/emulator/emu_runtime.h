// The emulated device memory of a plan (test/cuda): one buffer per input, output and weight slot
// and one arena holding the arena slots at their offsets, all 256-byte aligned like the runtime's.
// Inputs and weights are read from <dir>/s<slot>.bin; everything else starts as 0xff bytes (NaN
// for floats) so that a read of a value never written shows up. Each buffer is followed by guard
// bytes, checked after the run; outputs are written to <dir>/o<slot>.bin.
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

namespace mcpc_emu {

constexpr size_t kGuard = 256;
constexpr unsigned char kGuardByte = 0xa5;

struct SlotInfo {
  long long bytes;
  int kind;  // 0 input, 1 output, 2 weight, 3 arena
  long long offset;
};

class Memory {
 public:
  Memory(const char* dir, const SlotInfo* slots, int n, long long arenaBytes) : dir_(dir), slots_(slots), n_(n) {
    ptr = static_cast<void**>(calloc(size_t(n) + 1, sizeof(void*)));
    own_ = static_cast<unsigned char**>(calloc(size_t(n) + 1, sizeof(void*)));
    arena_ = alloc(arenaBytes);
    arenaBytes_ = arenaBytes;
    for (int i = 0; i < n; i++) {
      const SlotInfo& s = slots[i];
      if (s.kind == 3) {
        if (s.offset + s.bytes > arenaBytes) fail("an arena slot lies outside the arena");
        ptr[i] = arena_ + s.offset;
        continue;
      }
      own_[i] = alloc(s.bytes);
      ptr[i] = own_[i];
      if (s.kind == 0 || s.kind == 2) load(i);
    }
  }

  void** ptr;

  /**
   * A library call's workspace in the arena (CudaKernelCode.scratch): overwritten with 0xff bytes
   * (NaN in every float type) as a library may, so a live slot placed there shows in the outputs.
   */
  void clobber(long long offset, long long bytes) {
    if (offset < 0 || offset + bytes > arenaBytes_) fail("a scratch region lies outside the arena");
    memset(arena_ + offset, 0xff, size_t(bytes));
  }

  /** Aborts if any guard byte changed: a kernel wrote past a buffer. */
  void check() const {
    checkGuard(arena_, arenaBytes_, "the arena");
    for (int i = 0; i < n_; i++) {
      if (!own_[i]) continue;
      char what[64];
      snprintf(what, sizeof what, "slot %d", i);
      checkGuard(own_[i], slots_[i].bytes, what);
    }
  }

  void write(int slot) const {
    char path[4096];
    snprintf(path, sizeof path, "%s/o%d.bin", dir_, slot);
    FILE* f = fopen(path, "wb");
    if (!f) fail("cannot write an output file");
    if (slots_[slot].bytes && fwrite(ptr[slot], 1, size_t(slots_[slot].bytes), f) != size_t(slots_[slot].bytes)) fail("short write");
    fclose(f);
  }

 private:
  static unsigned char* alloc(long long bytes) {
    const size_t size = (size_t(bytes) + 255) / 256 * 256 + kGuard;
    unsigned char* p = static_cast<unsigned char*>(aligned_alloc(256, size));
    if (!p) fail("out of memory");
    memset(p, 0xff, size_t(bytes));
    memset(p + bytes, kGuardByte, size - size_t(bytes));
    return p;
  }

  static void checkGuard(const unsigned char* p, long long bytes, const char* what) {
    const size_t size = (size_t(bytes) + 255) / 256 * 256 + kGuard;
    for (size_t i = size_t(bytes); i < size; i++) {
      if (p[i] != kGuardByte) {
        fprintf(stderr, "cuda emulator: a kernel wrote past the end of %s (byte %zu of %lld)\n", what, i, bytes);
        abort();
      }
    }
  }

  void load(int slot) {
    char path[4096];
    snprintf(path, sizeof path, "%s/s%d.bin", dir_, slot);
    FILE* f = fopen(path, "rb");
    if (!f) {
      fprintf(stderr, "cuda emulator: cannot read %s\n", path);
      abort();
    }
    const size_t want = size_t(slots_[slot].bytes);
    if (want && fread(ptr[slot], 1, want, f) != want) fail("short read of an input or weight file");
    fclose(f);
  }

  const char* dir_;
  const SlotInfo* slots_;
  int n_;
  unsigned char* arena_;
  long long arenaBytes_;
  unsigned char** own_;
};

}  // namespace mcpc_emu
