// The CPU emulator itself: its prelude rounds f16/bf16 exactly as the reference dtype code does,
// __syncthreads() really separates the phases of a block's threads, and misuse is reported
// (barriers in a launch without fibers, threads at different barriers, launch limits).

import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { bf16BitsToNumber, f16BitsToNumber, numberToBF16Bits, numberToF16Bits } from '../../compiler/ir/dtype.js';
import { buildProgram } from './harness.js';
import { uniform } from './helpers.js';

const run = (bin: string, args: string[] = []) => execFileSync(bin, args, { encoding: 'utf8', stdio: 'pipe', maxBuffer: 64 << 20 });

function f32Bits(x: number): number {
  const b = new DataView(new ArrayBuffer(4));
  b.setFloat32(0, x, true);
  return b.getUint32(0, true);
}

describe('cuda emulator', () => {
  it('converts every f16 to f32 and rounds f32 to f16 and bf16 like the reference', () => {
    // Tricky floats: ties, subnormal boundaries, overflow threshold, plus random ones of all scales.
    const special = [0, -0, 1, -1, 65504, 65519.99, 65520, 65536, 2 ** -14, 2 ** -24, 2 ** -25, 2 ** -25 * 1.0000001, 3 * 2 ** -26,
      1 + 2 ** -11, 1 + 3 * 2 ** -11, 1 + 2 ** -8, 1 + 3 * 2 ** -8, Infinity, -Infinity, 1e-10, 6.1e-5, 1e30];
    const rand = uniform(4000, 11, 1).map((u, i) => u * 2 ** ((i % 60) - 30));
    const floats = [...special, ...rand].map((x) => Math.fround(x));
    const main = `#include "mcpc_prelude.cuh"
int main(int argc, char** argv) {
  for (unsigned h = 0; h < 65536; h++) printf("%08x\\n", (unsigned)__float_as_int(mcpc_f16_to_f32((mcpc_f16)h)));
  for (int i = 1; i < argc; i++) {
    unsigned u = (unsigned)strtoul(argv[i], nullptr, 16);
    float f = __int_as_float((int)u);
    printf("%04x %04x\\n", (unsigned)mcpc_f32_to_f16(f), (unsigned)mcpc_f32_to_bf16(f));
  }
  return 0;
}
`;
    const out = run(buildProgram({ 'main.cpp': main }), floats.map((x) => f32Bits(x).toString(16))).trim().split('\n');
    for (let h = 0; h < 65536; h++) {
      const want = f16BitsToNumber(h);
      const got = new DataView(Uint32Array.of(parseInt(out[h]!, 16)).buffer).getFloat32(0, true);
      if (Number.isNaN(want)) expect(Number.isNaN(got)).toBe(true);
      else expect(Object.is(got, want) || got === want, `f16 ${h.toString(16)}`).toBe(true);
    }
    floats.forEach((x, i) => {
      const [h, b] = out[65536 + i]!.split(' ').map((s) => parseInt(s, 16)) as [number, number];
      expect(h, `f16 of ${x}`).toBe(numberToF16Bits(x));
      expect(b, `bf16 of ${x}`).toBe(numberToBF16Bits(x));
    });
    expect(bf16BitsToNumber(numberToBF16Bits(1.00390625))).toBe(1);
  });

  it('synchronizes a block at __syncthreads(): a shared-memory reversal and a tree sum', () => {
    const main = `#include "mcpc_prelude.cuh"
__global__ void reverse(const int* in, int* out) {
  __shared__ int buf[256];
  buf[threadIdx.x] = in[blockIdx.x * blockDim.x + threadIdx.x];
  __syncthreads();
  out[blockIdx.x * blockDim.x + threadIdx.x] = buf[blockDim.x - 1 - threadIdx.x];
}
__global__ void sum(const int* in, int* out) {
  __shared__ int s[128];
  s[threadIdx.x] = in[threadIdx.x];
  __syncthreads();
  for (unsigned k = blockDim.x / 2; k > 0; k >>= 1) {
    if (threadIdx.x < k) s[threadIdx.x] += s[threadIdx.x + k];
    __syncthreads();
  }
  if (threadIdx.x == 0) out[blockIdx.x] = s[0];
}
__global__ void diverge(int* out) {
  if (threadIdx.x < 5) __syncthreads();
  else { __syncthreads(); __syncthreads(); }
  out[0] = 1;
}
int main(int argc, char** argv) {
  int in[512], out[512];
  for (int i = 0; i < 512; i++) in[i] = i * 3 + 1;
  const char* mode = argc > 1 ? argv[1] : "";
  if (!strcmp(mode, "nofibers")) mcpc_emu::launch("reverse", reverse, {in, out}, dim3(2), dim3(256), 0, false);
  if (!strcmp(mode, "diverge")) mcpc_emu::launch("diverge", diverge, {out}, dim3(1), dim3(32), 0, true);
  if (!strcmp(mode, "bigblock")) mcpc_emu::launch("sum", sum, {in, out}, dim3(1), dim3(2048), 0, true);
  mcpc_emu::launch("reverse", reverse, {in, out}, dim3(2), dim3(256), 0, true);
  for (int b = 0; b < 2; b++)
    for (int t = 0; t < 256; t++)
      if (out[b * 256 + t] != in[b * 256 + 255 - t]) { printf("reverse wrong at %d\\n", b * 256 + t); return 1; }
  mcpc_emu::launch("sum", sum, {in, out}, dim3(3), dim3(128), 0, true);
  int want = 0;
  for (int i = 0; i < 128; i++) want += in[i];
  printf("%d %d %d\\n", out[0], out[2], want);
  return 0;
}
`;
    const bin = buildProgram({ 'main.cpp': main });
    const [a, b, want] = run(bin).trim().split(' ').map(Number);
    expect(a).toBe(want);
    expect(b).toBe(want);
    expect(() => run(bin, ['nofibers'])).toThrow(/__syncthreads\(\) in a kernel launched without barriers/);
    expect(() => run(bin, ['diverge'])).toThrow(/different __syncthreads\(\) calls/);
    expect(() => run(bin, ['bigblock'])).toThrow(/exceeds CUDA limits/);
  });
});
