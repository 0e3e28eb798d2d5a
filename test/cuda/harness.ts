// Runs a cuda plan on the CPU emulator (test/cuda/emulator): prints a C++ main that lays out the
// plan's slots (emu_runtime.h), computes each library anchor with the reference implementations
// (emu_library.h) and launches every generated kernel with its grid, block and arguments, compiles
// it with the plan's CUDA source using g++ (cached per source hash under the OS temp dir), feeds it
// binary input and weight files and reads the outputs back.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { ArtifactDType, CudaLaunch, KernelPlan, LibraryEpilogue, Precision } from '../../compiler/artifact/format.js';
import { skippedPasses } from '../../compiler/compile.js';
import type { Graph, Value } from '../../compiler/ir/graph.js';
import { TensorData } from '../../compiler/ir/tensor.js';
import { importOnnx } from '../../compiler/onnx/import.js';
import { planWindow } from '../../compiler/ops/pooling.js';
import { runPipeline } from '../../compiler/passes/pipeline.js';
import { emitPlan } from '../../compiler/plan/emit-plan.js';
import { emitCudaCode } from '../../compiler/targets/cuda/index.js';
import { irAttrs } from '../../compiler/targets/cuda/plan-attrs.js';

export const EMULATOR_DIR = join(import.meta.dirname, 'emulator');
const CXX = process.env.CXX ?? 'g++';
/** MCPC_EMU_CXXFLAGS adds flags (e.g. -DMCPC_EMU_UCONTEXT to test the portable fiber switch). */
const CXX_FLAGS = ['-O1', '-std=c++20', '-pthread', '-w', ...(process.env.MCPC_EMU_CXXFLAGS ?? '').split(/\s+/).filter(Boolean)];

export interface CudaCompiled {
  plan: KernelPlan;
  /** The optimized graph the plan was emitted from (the reference interpreter runs it). */
  graph: Graph;
  /** Constants in weight-index order. */
  weights: Value[];
}

/**
 * Compiles ONNX bytes for --target cuda as compileModel does (the cuda pipeline, emit-plan), then
 * generates the CUDA code with the plan's weights, so shape-like weights can be baked in.
 */
export function compileCuda(
  bytes: Uint8Array,
  options: {
    precision?: Precision; path?: string; shapes?: ReadonlyMap<string, readonly number[]>; skip?: readonly string[]; enable?: readonly string[];
    /** Calibrated largest |x| by value name (the fp16 range guard, cli/calibrate.ts). */
    valueRanges?: ReadonlyMap<string, number>;
  } = {},
): CudaCompiled {
  const precision = options.precision ?? 'fp32';
  const graph = importOnnx(bytes, { path: options.path, baseDir: options.path ? dirname(options.path) : undefined }).graph;
  // `enable` runs passes the target skips today (kernels the generator has but plans do not use).
  const skip = [...skippedPasses('cuda', precision).filter((p) => !options.enable?.includes(p)), ...(options.skip ?? [])];
  runPipeline(graph, { skip, verify: true, shapeBindings: options.shapes, floatStorage: floatStorage(precision), valueRanges: options.valueRanges });
  const emitted = emitPlan(graph, 'cuda');
  emitted.plan.precision = precision;
  emitCudaCode(emitted.plan, precision, emitted.weights, emitted.scratch);
  return { plan: emitted.plan, graph, weights: emitted.weights };
}

/** The pipeline's float storage for a precision (as compileModel chooses it). */
export function floatStorage(p: Precision): 'f32' | 'f16' | 'bf16' {
  return p === 'fp16' ? 'f16' : p === 'bf16' ? 'bf16' : 'f32';
}

/** Launch configurations outside CUDA's limits, as messages (empty when all are valid). */
export function launchProblems(plan: KernelPlan): string[] {
  const problems: string[] = [];
  for (const k of plan.kernels) {
    for (const l of [...(k.cuda?.before ?? []), ...(k.cuda?.after ?? [])]) {
      const [gx, gy, gz] = l.grid;
      const threads = l.block[0] * l.block[1] * l.block[2];
      if (gx < 1 || gx > 2 ** 31 - 1 || gy < 1 || gy > 65535 || gz < 1 || gz > 65535) problems.push(`${l.entry}: grid ${l.grid}`);
      if (threads < 1 || threads > 1024) problems.push(`${l.entry}: block ${l.block}`);
      if (l.sharedBytes > 48 * 1024) problems.push(`${l.entry}: ${l.sharedBytes} bytes of shared memory`);
      if (!plan.cuda!.source.includes(`void ${l.entry}(`)) problems.push(`${l.entry}: not in the source`);
    }
  }
  return problems;
}

const DT_CODE: Partial<Record<ArtifactDType, number>> = { f32: 0, f16: 1, bf16: 2, f64: 3 };
const KIND_CODE = { input: 0, output: 1, weight: 2, arena: 3 } as const;

/** Entries whose kernels synchronize or exchange values within a warp (they run as fibers in the emulator). */
function barrierEntries(source: string): Set<string> {
  const out = new Set<string>();
  const re = /extern "C" __global__ void (\w+)\(/g;
  const starts: { name: string; at: number }[] = [];
  for (let m = re.exec(source); m; m = re.exec(source)) starts.push({ name: m[1]!, at: m.index });
  starts.forEach((s, i) => {
    const body = source.slice(s.at, starts[i + 1]?.at ?? source.length);
    if (/__syncthreads|mcpc_block_|mcpc_warp_|__shfl/.test(body)) out.add(s.name);
  });
  return out;
}

/**
 * The C++ main that runs `plan` on the emulator, or with `gpu` on a CUDA device through
 * test/cuda/device/gpu_runtime.h (same names, real kernels and prelude).
 */
export function emulatorMain(plan: KernelPlan, gpu = false): string {
  const slots = plan.slots;
  const arenaBytes = Math.max(
    0, ...slots.filter((s) => s.kind === 'arena').map((s) => s.index + s.byteLength), ...plan.kernels.map((k) => (k.cuda?.scratch ? k.cuda.scratch.offset + k.cuda.scratch.bytes : 0)),
  );
  const barriers = barrierEntries(plan.cuda!.source);
  const S = (id: number) => `S[${id}]`;
  const lines: string[] = [
    ...(gpu ? ['#include "gpu_runtime.h"', '#include "kernels.cu"'] : ['#include "cuda_emulator.h"', '#include "mcpc_prelude.cuh"', '#include "kernels.cu"', '#include "emu_library.h"', '#include "emu_runtime.h"']),
    '',
    `static const mcpc_emu::SlotInfo kSlots[] = {${slots.map((s) => `{${s.byteLength}, ${KIND_CODE[s.kind as keyof typeof KIND_CODE]}, ${s.kind === 'arena' ? s.index : 0}}`).join(', ') || '{0, 0, 0}'}};`,
    '',
    'int main(int argc, char** argv) {',
    '  if (argc < 2) return 2;',
    `  mcpc_emu::Memory mem(argv[1], kSlots, ${slots.length}, ${arenaBytes});`,
    '  void** S = mem.ptr;',
  ];
  const launch = (l: CudaLaunch) =>
    `  mcpc_emu::launch("${l.entry}", ${l.entry}, {${l.args.map(S).join(', ')}}, dim3(${l.grid.join(', ')}), dim3(${l.block.join(', ')}), ${l.sharedBytes}, ${barriers.has(l.entry)});`;
  for (const k of plan.kernels) {
    const code = k.cuda;
    if (!code) throw new Error(`kernel ${k.id} (${k.op}) has no cuda code`);
    lines.push(`  // kernel ${k.id}: ${k.op} (${k.sources[0] ?? ''})`.replace(/\*\//g, ''));
    for (const l of code.before) lines.push(launch(l));
    // A library writes its workspace before and while it writes its output: the region is
    // clobbered on both sides of the call, so an overlap with an input or the output shows.
    if (code.scratch) lines.push(`  mem.clobber(${code.scratch.offset}, ${code.scratch.bytes});`);
    if (code.library) lines.push(`  ${libraryCall(plan, k.id)}`);
    if (code.scratch) lines.push(`  mem.clobber(${code.scratch.offset}, ${code.scratch.bytes});`);
    if (code.libraryEpilogue) lines.push(`  ${libraryEpilogueCall(plan, k.id, code.libraryEpilogue)}`);
    // A fused cuDNN epilogue replaces the `after` launch, as the runtime runs it where cuDNN can.
    if (code.fusedEpilogue) lines.push(`  ${fusedEpilogueCall(plan, k.id)}`);
    else for (const l of code.after) lines.push(launch(l));
  }
  lines.push('  mem.check();');
  for (const id of new Set(plan.outputSlots)) lines.push(`  mem.write(${id});`);
  lines.push('  return 0;', '}', '');
  return lines.join('\n');
}

function libraryCall(plan: KernelPlan, id: number): string {
  const k = plan.kernels[id]!;
  const slot = (i: number) => plan.slots[i]!;
  const a = slot(k.inputs[0]!);
  const b = slot(k.inputs[1]!);
  const y = slot(k.outputs[0]!);
  const dt = DT_CODE[a.dtype];
  if (dt === undefined) throw new Error(`library ${k.op} on ${a.dtype}`);
  const attr = (name: string, fallback: number) => {
    const v = k.attrs[name];
    return v && 'i' in v ? v.i : v && 'f' in v ? Number(v.f) : fallback;
  };
  const args = `S[${a.id}], S[${b.id}], S[${y.id}], ${dt}`;
  if (k.op === 'MatMul') {
    return `{ const long long ad[] = {${a.shape.join(', ')}}; const long long bd[] = {${b.shape.join(', ')}}; mcpc_emu::matmul(${args}, ${a.shape.length}, ad, ${b.shape.length}, bd); }`;
  }
  if (k.op === 'Gemm') {
    const [M, N] = y.shape as [number, number];
    const transA = attr('transA', 0);
    const K = transA ? a.shape[0]! : a.shape[1]!;
    return `mcpc_emu::gemm(${args}, ${M}, ${N}, ${K}, ${transA}, ${attr('transB', 0)}, ${attr('alpha', 1)});`;
  }
  if (k.op === 'Conv' || k.op === 'NhwcConv') {
    // NhwcConv: X [N,H,W,C], W [M,KH,KW,C/group], Y [N,OH,OW,M].
    const cl = k.op === 'NhwcConv';
    const nchw = (s: readonly number[]) => (cl ? [s[0]!, s[3]!, s[1]!, s[2]!] : [...s]) as [number, number, number, number];
    const [N, C, H, W] = nchw(a.shape);
    const [M, , KH, KW] = nchw(b.shape);
    const [, , OH, OW] = nchw(y.shape);
    const p = planWindow(irAttrs(k.attrs), [H, W], [KH, KW], false);
    return `mcpc_emu::conv2d(${args}, ${N}, ${C}, ${H}, ${W}, ${M}, ${KH}, ${KW}, ${OH}, ${OW}, ${p.strides[0]}, ${p.strides[1]}, ${p.pads[0]}, ${p.pads[1]}, ${p.dilations[0]}, ${p.dilations[1]}, ${attr('group', 1)}, ${cl ? 1 : 0});`;
  }
  throw new Error(`no emulated library call for ${k.op}`);
}

function libraryEpilogueCall(plan: KernelPlan, id: number, e: LibraryEpilogue): string {
  const k = plan.kernels[id]!;
  const y = plan.slots[k.outputs[0]!]!;
  const input = (i: number | undefined) => (i === undefined ? 'nullptr' : `S[${k.inputs[i]!}]`);
  const act = e.activation === 'relu' ? 1 : e.activation === 'gelu-tanh' ? 2 : 0;
  const numel = (shape: readonly number[]) => shape.reduce((p, d) => p * d, 1);
  const [M, N] = [y.shape[y.shape.length - 2] ?? 1, y.shape[y.shape.length - 1] ?? 1];
  const biasCount = e.bias === undefined ? 0 : numel(plan.slots[k.inputs[e.bias]!]!.shape);
  return `mcpc_emu::library_epilogue(S[${y.id}], ${DT_CODE[y.dtype]}, ${numel(y.shape)}, ${M}, ${N}, ${e.alpha ?? 1}, ${input(e.c)}, ${e.beta ?? 1}, ${input(e.bias)}, ${biasCount}, ${act});`;
}

function fusedEpilogueCall(plan: KernelPlan, id: number): string {
  const k = plan.kernels[id]!;
  const f = k.cuda!.fusedEpilogue!;
  const y = plan.slots[k.outputs[0]!]!;
  const cl = k.op === 'NhwcConv';
  const M = cl ? y.shape[3]! : y.shape[1]!;
  const plane = cl ? 1 : y.shape.slice(2).reduce((a, b) => a * b, 1);
  const count = y.shape.reduce((a, b) => a * b, 1);
  const z = f.residual === undefined ? 'nullptr' : `S[${k.inputs[f.residual]!}]`;
  return `mcpc_emu::bias_act(S[${y.id}], S[${k.inputs[2]!}], ${z}, ${DT_CODE[y.dtype]}, ${count}, ${M}, ${plane}, ${cl ? 1 : 0}, ${f.relu ? 1 : 0});`;
}

const HEADERS = ['cuda_emulator.h', 'mcpc_prelude.cuh', 'emu_library.h', 'library_reference.h', 'emu_runtime.h'];

/** Compiles the emulator program of `plan` (once per content hash) and returns the binary's path. */
export function buildEmulator(plan: KernelPlan): string {
  return buildProgram({ 'main.cpp': emulatorMain(plan), 'kernels.cu': plan.cuda!.source });
}

/**
 * Compiles `files['main.cpp']` (with the other files beside it and the emulator headers on the
 * include path) with g++, once per content hash under the OS temp dir; returns the binary's path.
 */
export function buildProgram(files: Record<string, string>): string {
  const hash = createHash('sha256');
  for (const [name, text] of Object.entries(files)) hash.update(name).update('\0').update(text).update('\0');
  for (const part of [CXX, ...CXX_FLAGS, ...HEADERS.map((h) => readFileSync(join(EMULATOR_DIR, h), 'utf8'))]) hash.update(part).update('\0');
  const key = hash.digest('hex').slice(0, 32);
  const root = join(tmpdir(), 'mcpc-cuda-emulator');
  const dir = join(root, key);
  const bin = join(dir, 'emu');
  if (existsSync(bin)) return bin;
  mkdirSync(root, { recursive: true });
  const work = mkdtempSync(join(root, `${key}.tmp-`));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(work, name), text);
  try {
    execFileSync(CXX, [...CXX_FLAGS, '-I', EMULATOR_DIR, '-I', work, '-x', 'c++', join(work, 'main.cpp'), '-o', join(work, 'emu')], { stdio: 'pipe' });
  } catch (e) {
    const err = e as { stderr?: Buffer };
    throw new Error(`g++ failed (sources in ${work}):\n${err.stderr?.toString().slice(0, 6000) ?? e}`);
  }
  try {
    renameSync(work, dir);
  } catch {
    rmSync(work, { recursive: true, force: true }); // another worker built it first
  }
  return bin;
}

/**
 * Runs `plan` on the emulator with `feeds` (one per plan input, in order) and the plan's `weights`;
 * returns the outputs in plan output order.
 */
export function runEmulated(plan: KernelPlan, weights: readonly Value[], feeds: readonly TensorData[]): TensorData[] {
  const bin = buildEmulator(plan);
  const data = mkdtempSync(join(tmpdir(), 'mcpc-cuda-run-'));
  try {
    plan.inputSlots.forEach((id, i) => writeFileSync(join(data, `s${id}.bin`), feeds[i]!.bytes));
    for (const s of plan.slots) {
      if (s.kind !== 'weight') continue;
      const c = weights[s.index]?.constant;
      if (!c) throw new Error(`weight slot ${s.id} (${s.name}) has no constant`);
      writeFileSync(join(data, `s${s.id}.bin`), c.bytes);
    }
    try {
      execFileSync(bin, [data], { stdio: 'pipe', maxBuffer: 64 << 20 });
    } catch (e) {
      const err = e as { stderr?: Buffer; status?: number; signal?: string };
      throw new Error(`emulated plan failed (${err.signal ?? `exit ${err.status}`}): ${err.stderr?.toString().slice(0, 4000)}`);
    }
    return plan.outputSlots.map((id) => {
      const s = plan.slots[id]!;
      return TensorData.fromBytes(s.dtype as never, s.shape, new Uint8Array(readFileSync(join(data, `o${id}.bin`))));
    });
  } finally {
    rmSync(data, { recursive: true, force: true });
  }
}

/**
 * Writes one case of a GPU bundle (test/cuda/device/run-bundle.sh) under `root/<name>`: the plan's
 * kernels.cu and GPU main.cpp, its inputs and weights (data/), and the interpreter's and the
 * emulator's outputs (expected/, emulated/) with a manifest of dtypes, shapes and the tolerance.
 */
export function writeGpuCase(root: string, name: string, c: CudaCompiled, feeds: readonly TensorData[], want: readonly TensorData[], got: readonly TensorData[], tol: number): void {
  const dir = join(root, name.replace(/[^A-Za-z0-9_.-]+/g, '_'));
  for (const sub of ['data', 'expected', 'emulated']) mkdirSync(join(dir, sub), { recursive: true });
  writeFileSync(join(dir, 'main.cpp'), emulatorMain(c.plan, true));
  writeFileSync(join(dir, 'kernels.cu'), c.plan.cuda!.source);
  c.plan.inputSlots.forEach((id, i) => writeFileSync(join(dir, 'data', `s${id}.bin`), feeds[i]!.bytes));
  for (const s of c.plan.slots) if (s.kind === 'weight') writeFileSync(join(dir, 'data', `s${s.id}.bin`), c.weights[s.index]!.constant!.bytes);
  const outputs = c.plan.outputSlots.map((id, i) => {
    writeFileSync(join(dir, 'expected', `o${id}.bin`), want[i]!.bytes);
    writeFileSync(join(dir, 'emulated', `o${id}.bin`), got[i]!.bytes);
    const s = c.plan.slots[id]!;
    return { slot: id, name: c.graph.outputs[i]!.name, dtype: s.dtype, shape: s.shape };
  });
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ name, tol, outputs }, null, 1));
}
