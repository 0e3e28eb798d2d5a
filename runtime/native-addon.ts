// The one loader of the native addon (build/Release/mcpc_native.node, built by CMakeLists.txt on
// npm install) and its TypeScript face. When the addon cannot be loaded it says why and what to
// do: not built, built for another Node ABI or platform, or built from broken sources.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KernelPlan } from '../compiler/artifact/format.js';
import { RuntimeError, RUNTIME_CODES } from './errors.js';
import type { TensorData } from './tensor.js';

export interface NativeLoadArgs {
  plan: KernelPlan;
  arenaSize: number;
  /** The whole artifact; the weights are used in place and the addon keeps it alive. */
  bytes?: Uint8Array;
  /**
   * Instead of bytes: the artifact file, mapped read-only (MAP_PRIVATE) by the addon off the main
   * thread; the weights are used from the mapping and the pages of weights that kernels packed at
   * load (and never read at run time) are given back once every kernel is prepared.
   */
  path?: string;
  weightsOffset: number;
  weightsLength: number;
  weights: { offset: number; byteLength: number }[];
  threads?: number;
  /** 'cpu' (the default), 'cuda' or 'cuda:N': a cuda device loads a NativeCudaSession. */
  device?: string;
}

/** A tensor in GPU memory (cuda builds): what a cuda session returns for outputLocation 'device'. */
export interface NativeDeviceTensor {
  readonly dtype: string;
  readonly dims: number[];
  /** The CUDA device ordinal (-1 once disposed). */
  readonly device: number;
  readonly byteLength: number;
  readonly disposed: boolean;
  /** Copies the tensor to a new TypedArray of its dtype's class. */
  download(): Promise<TensorData>;
  /** Frees the device memory (after a run or download in flight finishes). Idempotent. */
  dispose(): void;
}

/** One kernel output's range in a runObserved run. */
export interface NativeValueRange {
  name: string;
  maxAbs: number;
  nonFinite: boolean;
}

export interface NativeSession {
  /**
   * Inputs in model order (a cuda session also takes device tensors); optional preallocated host
   * outputs. Resolves with the outputs in model order: TypedArrays, or device tensors when a cuda
   * session is asked for outputLocation 'device'.
   */
  /** Outputs with dims known only at run time (cpu) resolve as { data, dims }. */
  run(
    inputs: (ArrayBufferView | NativeDeviceTensor)[],
    outputs?: (ArrayBufferView | undefined)[],
    outputLocation?: 'host' | 'device',
  ): Promise<(TensorData | NativeDeviceTensor | { data: TensorData; dims: number[] })[]>;
  /**
   * cpu sessions only: a run that also scans each kernel's float32 outputs right after the kernel
   * (max finite |x| and whether a NaN or infinity was there), in kernel order.
   */
  runObserved?(inputs: ArrayBufferView[]): Promise<{ outputs: unknown[]; ranges: NativeValueRange[] }>;
  /** Releases the arena and kernels (after an in-flight run finishes). Idempotent. */
  dispose(): void;
  readonly threads: number;
  readonly arenaBytes: number;
  /** Bytes of mapped weight pages given back after load (0 when loaded from bytes). */
  readonly releasedWeightBytes: number;
  /** Cuda sessions: 'cuda:N'. */
  readonly device?: string;
  /** Cuda sessions: 'pending' (before the first run), 'captured', 'off' or 'failed: <why>'. */
  readonly cudaGraph?: string;
  /** CUDA sessions: the L2 tier ("none", "window of N bytes, ...", or "off: <why>"). */
  readonly cudaL2Window?: string;
  /** Cuda sessions: bytes of weights in device memory. */
  readonly weightBytes?: number;
  /** Cuda sessions: bytes of device memory held (weights, arena, I/O buffers, workspace). */
  readonly deviceBytes?: number;
}

export interface CudaDeviceInfo {
  ordinal: number;
  name: string;
  /** major * 10 + minor (90 = sm_90). */
  computeCapability: number;
  memoryBytes: number;
}

export interface NativeAddon {
  loadSession(args: NativeLoadArgs): Promise<NativeSession>;
  /** IR ops with a registered CPU kernel, sorted. */
  kernelNames(): string[];
  cpuFeatures(): { avx2: boolean; avx512: boolean };
  buildInfo(): { cuda: boolean; cudnn: boolean; cudaVersion?: string; cudnnVersion?: string; napiVersion: number; duplicateKernels: string[] };
  /** The CUDA devices of this machine; empty without a CUDA build, driver or device. */
  cudaDevices(): CudaDeviceInfo[];
  /** Copies a host tensor to a new device tensor (device 'cuda' or 'cuda:N', default cuda:0). */
  uploadTensor(args: { data: ArrayBufferView; dtype: string; dims: readonly number[]; device?: string }): Promise<NativeDeviceTensor>;
}

export const ADDON_FILE = 'mcpc_native.node';

/** The package root: the nearest folder above this file with a package.json (works from dist/ and from sources). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'CMakeLists.txt'))) return dir;
    const up = dirname(dir);
    if (up === dir) return dirname(fileURLToPath(import.meta.url));
    dir = up;
  }
}

export function addonPath(): string {
  return join(packageRoot(), 'build', 'Release', ADDON_FILE);
}

/** Why dlopen failed, in words a user can act on. */
export function explainLoadFailure(path: string, message: string): string {
  const rebuild = `rebuild it with 'npx cmake-js rebuild' in ${dirname(dirname(dirname(path)))}`;
  if (/NODE_MODULE_VERSION|different Node\.js version|napi_register_module/i.test(message)) {
    return `the native addon ${path} was built for another Node.js ABI (this is Node ${process.versions.node}, ABI ${process.versions.modules}); ${rebuild}`;
  }
  if (/invalid ELF header|wrong ELF class|not a valid Win32|mach-o/i.test(message)) {
    return `the native addon ${path} was built for another platform or architecture (this is ${process.platform}-${process.arch}); ${rebuild}`;
  }
  if (/GLIBC|GLIBCXX|CXXABI/.test(message)) {
    return `the native addon ${path} needs a newer C/C++ runtime than this system has (${message.split('\n')[0]}); ${rebuild}`;
  }
  if (/undefined symbol/.test(message)) {
    return `the native addon ${path} is incomplete (${message.split('\n')[0]}): a kernel or core source was missing from the build; ${rebuild}`;
  }
  return `the native addon ${path} cannot be loaded: ${message.split('\n')[0]}`;
}

let cached: NativeAddon | undefined;

/** Loads the addon once; throws a RuntimeError (MCPC5005) that explains a failure. */
export function loadNativeAddon(): NativeAddon {
  if (cached) return cached;
  const path = addonPath();
  if (!existsSync(path)) {
    throw new RuntimeError(
      RUNTIME_CODES.addonUnavailable,
      `the native addon is not built (no ${path}): run 'npm install' (or 'npx cmake-js compile') in ${dirname(dirname(dirname(path)))}; it needs cmake and a C++17 compiler`,
    );
  }
  try {
    cached = createRequire(import.meta.url)(path) as NativeAddon;
  } catch (e) {
    throw new RuntimeError(RUNTIME_CODES.addonUnavailable, explainLoadFailure(path, (e as Error).message), { cause: e });
  }
  return cached;
}
