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
}

export interface NativeSession {
  /** Inputs in model order; optional preallocated outputs. Resolves with the outputs in model order. */
  run(inputs: ArrayBufferView[], outputs?: (ArrayBufferView | undefined)[]): Promise<TensorData[]>;
  /** Releases the arena and kernels (after an in-flight run finishes). Idempotent. */
  dispose(): void;
  readonly threads: number;
  readonly arenaBytes: number;
  /** Bytes of mapped weight pages given back after load (0 when loaded from bytes). */
  readonly releasedWeightBytes: number;
}

export interface NativeAddon {
  loadSession(args: NativeLoadArgs): Promise<NativeSession>;
  /** IR ops with a registered CPU kernel, sorted. */
  kernelNames(): string[];
  cpuFeatures(): { avx2: boolean; avx512: boolean };
  buildInfo(): { cuda: boolean; napiVersion: number; duplicateKernels: string[] };
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
