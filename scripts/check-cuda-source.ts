// Compiles the generated CUDA source of cuda plans with NVRTC, as the runtime will at load time, and
// reports errors: a check for machines with a CUDA toolkit (not part of `npm test`; CI has none).
//
//   node dist/scripts/check-cuda-source.js [--precision fp32|tf32|fp16|bf16] [--arch sm_90]
//        [--cuda-home DIR] [--keep DIR] [--skip pass,...] model.onnx|source.cu ...
//
// NVRTC comes from --cuda-home, $CUDA_HOME or /usr/local/cuda (lib64/libnvrtc.so); the prelude
// (native/cuda/mcpc_prelude.cuh) is passed as a named header, options --gpu-architecture=<arch>
// -std=c++17. A tiny C++ helper that dlopens libnvrtc is compiled with g++ into the OS temp dir.
// Exit status: 0 when every source is generated and compiles, 1 otherwise.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import type { Precision } from '../compiler/artifact/format.js';
import { readModelFile, skippedPasses } from '../compiler/compile.js';
import { importOnnx } from '../compiler/onnx/import.js';
import { runPipeline } from '../compiler/passes/pipeline.js';
import { emitPlan } from '../compiler/plan/emit-plan.js';
import { emitCudaCode } from '../compiler/targets/cuda/index.js';

// Run from scripts/ (sources) or dist/scripts/ (built).
const ROOT = resolve(import.meta.dirname, basename(resolve(import.meta.dirname, '..')) === 'dist' ? '../..' : '..');
const PRELUDE = join(ROOT, 'native/cuda/mcpc_prelude.cuh');

const HELPER = String.raw`
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <chrono>
#include <string>
typedef int nvrtcResult;
typedef struct _nvrtcProgram* nvrtcProgram;
typedef nvrtcResult (*Create)(nvrtcProgram*, const char*, const char*, int, const char* const*, const char* const*);
typedef nvrtcResult (*Compile)(nvrtcProgram, int, const char* const*);
typedef nvrtcResult (*LogSize)(nvrtcProgram, size_t*);
typedef nvrtcResult (*Log)(nvrtcProgram, char*);
typedef nvrtcResult (*Destroy)(nvrtcProgram*);
typedef const char* (*ErrorString)(nvrtcResult);
static std::string slurp(const char* path) {
  FILE* f = fopen(path, "rb");
  if (!f) { fprintf(stderr, "cannot read %s\n", path); exit(2); }
  std::string s;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
  fclose(f);
  return s;
}
// usage: helper libnvrtc.so prelude.cuh source.cu arch
int main(int argc, char** argv) {
  if (argc < 5) return 2;
  void* lib = dlopen(argv[1], RTLD_NOW);
  if (!lib) { fprintf(stderr, "dlopen: %s\n", dlerror()); return 2; }
  Create create = (Create)dlsym(lib, "nvrtcCreateProgram");
  Compile compile = (Compile)dlsym(lib, "nvrtcCompileProgram");
  LogSize logSize = (LogSize)dlsym(lib, "nvrtcGetProgramLogSize");
  Log log = (Log)dlsym(lib, "nvrtcGetProgramLog");
  Destroy destroy = (Destroy)dlsym(lib, "nvrtcDestroyProgram");
  ErrorString err = (ErrorString)dlsym(lib, "nvrtcGetErrorString");
  if (!create || !compile || !logSize || !log || !destroy || !err) { fprintf(stderr, "libnvrtc lacks a symbol\n"); return 2; }
  std::string prelude = slurp(argv[2]), source = slurp(argv[3]);
  const char* headers[] = {prelude.c_str()};
  const char* names[] = {"mcpc_prelude.cuh"};
  nvrtcProgram prog;
  nvrtcResult r = create(&prog, source.c_str(), "plan.cu", 1, headers, names);
  if (r) { fprintf(stderr, "nvrtcCreateProgram: %s\n", err(r)); return 2; }
  std::string arch = std::string("--gpu-architecture=") + argv[4];
  const char* opts[] = {arch.c_str(), "-std=c++17"};
  auto t0 = std::chrono::steady_clock::now();
  r = compile(prog, 2, opts);
  auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  size_t n = 0;
  logSize(prog, &n);
  std::string text(n, '\0');
  if (n) log(prog, &text[0]);
  destroy(&prog);
  printf("%s %.0f ms\n", r ? err(r) : "ok", ms);
  if (n > 1) fputs(text.c_str(), stdout);
  return r ? 1 : 0;
}
`;

interface Options {
  precision: Precision;
  arch: string;
  cudaHome: string;
  keep?: string;
  /** Passes not to run (as --skip in the pipeline), e.g. fuse. */
  skip: string[];
  files: string[];
}

function parseArgs(argv: string[]): Options {
  const o: Options = { precision: 'fp32', arch: 'sm_90', cudaHome: process.env.CUDA_HOME ?? '/usr/local/cuda', skip: [], files: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--precision') o.precision = value() as Precision;
    else if (a === '--arch') o.arch = value();
    else if (a === '--cuda-home') o.cudaHome = value();
    else if (a === '--keep') o.keep = value();
    else if (a === '--skip') o.skip.push(...value().split(','));
    else o.files.push(a);
  }
  return o;
}

function buildHelper(): string {
  const dir = join(tmpdir(), 'mcpc-nvrtc-check');
  const bin = join(dir, `check-${createHash('sha256').update(HELPER).digest('hex').slice(0, 16)}`);
  if (existsSync(bin)) return bin;
  mkdirSync(dir, { recursive: true });
  const src = `${bin}.cpp`;
  writeFileSync(src, HELPER);
  execFileSync(process.env.CXX ?? 'g++', ['-O1', '-std=c++17', src, '-o', bin, '-ldl'], { stdio: 'inherit' });
  return bin;
}

/** The CUDA source of a model compiled for cuda (weights passed so shape inputs can be baked in). */
export function cudaSourceOf(path: string, precision: Precision, skip: readonly string[] = []): { source: string; kernels: number; launches: number } {
  const src = readModelFile(path);
  const graph = importOnnx(src.bytes, { path, baseDir: dirname(path) }).graph;
  runPipeline(graph, { skip: [...skippedPasses('cuda', precision), ...skip], floatStorage: precision === 'fp16' ? 'f16' : precision === 'bf16' ? 'bf16' : 'f32' });
  const emitted = emitPlan(graph, 'cuda');
  emitted.plan.precision = precision;
  emitCudaCode(emitted.plan, precision, emitted.weights, emitted.scratch);
  const launches = emitted.plan.kernels.reduce((n, k) => n + (k.cuda?.after.length ?? 0) + (k.cuda?.before.length ?? 0), 0);
  return { source: emitted.plan.cuda!.source, kernels: emitted.plan.kernels.length, launches };
}

function main(): number {
  const o = parseArgs(process.argv.slice(2));
  const lib = join(o.cudaHome, 'lib64', 'libnvrtc.so');
  if (!existsSync(lib)) {
    console.error(`no NVRTC at ${lib} (set --cuda-home or CUDA_HOME)`);
    return 2;
  }
  const helper = buildHelper();
  const tmp = o.keep ?? join(tmpdir(), 'mcpc-nvrtc-check', 'sources');
  mkdirSync(tmp, { recursive: true });
  let failed = 0;
  for (const file of o.files) {
    let cu = file;
    let what = '';
    if (!file.endsWith('.cu')) {
      const t0 = performance.now();
      let generated: ReturnType<typeof cudaSourceOf>;
      try {
        generated = cudaSourceOf(file, o.precision, o.skip);
      } catch (e) {
        failed++;
        console.log(`${file} (${o.precision}): NOT GENERATED: ${e instanceof Error ? e.message : String(e)}`);
        continue;
      }
      const { source, kernels, launches } = generated;
      cu = join(tmp, `${basename(file)}.${o.precision}.cu`);
      writeFileSync(cu, source);
      const functions = (source.match(/extern "C" __global__/g) ?? []).length;
      what = `${kernels} plan kernels, ${launches} launches, ${functions} generated functions, ${(source.length / 1024).toFixed(0)} KiB, generated in ${(performance.now() - t0).toFixed(0)} ms; `;
    }
    try {
      const out = execFileSync(helper, [lib, PRELUDE, cu, o.arch], { env: { ...process.env, LD_LIBRARY_PATH: join(o.cudaHome, 'lib64') }, encoding: 'utf8' });
      console.log(`${file} (${o.precision}): ${what}NVRTC ${out.trim()}`);
    } catch (e) {
      failed++;
      const err = e as { stdout?: string; stderr?: string };
      console.log(`${file} (${o.precision}): ${what}FAILED\n${(err.stdout ?? '').slice(0, 8000)}${err.stderr ?? ''}`);
    }
  }
  return failed ? 1 : 0;
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) process.exitCode = main();
