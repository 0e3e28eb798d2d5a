// Benchmark: compiles each model with mcpc and runs it side by side with onnxruntime-node on the
// same inputs and thread count, each runtime in its own child process (so peak RSS belongs to one
// runtime and one model). Reports load time, median and p90 latency, peak RSS, the latency ratio
// mcpc / ORT and the largest relative output difference, and writes the table to
// docs/PERFORMANCE.md with the machine it ran on.
//
// Each model is also compiled with -O0 (no pattern passes, no fusion) and timed, so the table
// shows what the optimizer gains.
//
// Shared machines slow down in bursts of tens of seconds, which would land on whichever child runs
// then: each runtime is measured in --rounds rounds, the children of a round in turn (the order
// rotates), and each keeps its round with the lowest median.
//
// Usage: npm run bench -- [--models resnet50,bert] [--exporter torchscript] [--threads 2]
//        [--runs 30] [--warmup 5] [--rounds 3] [--models-dir models] [--out docs/PERFORMANCE.md]
// Models come from scripts/export-models.py (models/<name>.<exporter>.onnx + .inputs.json).

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { makeInputs, toOrtDtype, type TensorValue } from './model-inputs.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const SELF = resolve(import.meta.dirname, 'bench.js');
const MCPC = join(ROOT, 'bin', 'mcpc.js');

export interface ChildResult {
  runtime: 'mcpc' | 'ort';
  loadMs: number;
  medianMs: number;
  p90Ms: number;
  maxRssMiB: number;
  /** Outputs of the last run, flattened to numbers, for the cross-check. */
  outputs: Record<string, number[]>;
}

function percentile(sorted: number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[i]!;
}

function toNumbers(data: ArrayLike<number | bigint>): number[] {
  return Array.from(data as ArrayLike<number>, (x) => Number(x));
}

async function child(runtime: 'mcpc' | 'ort', model: string, inputsJson: string, threads: number, runs: number, warmup: number): Promise<ChildResult> {
  const feeds = makeInputs(inputsJson);
  const times: number[] = [];
  let loadMs: number;
  let outputs: Record<string, number[]> = {};
  if (runtime === 'mcpc') {
    const { Session } = await import('../runtime/index.js');
    const t0 = performance.now();
    const session = await Session.load(model, { device: 'cpu', threads });
    loadMs = performance.now() - t0;
    const ins = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, { type: toOrtDtype(v.dtype), dims: v.dims, data: v.data }]));
    let last: Record<string, { data: ArrayLike<number | bigint> }> = {};
    for (let i = 0; i < warmup + runs; i++) {
      const s = performance.now();
      last = (await session.run(ins as never)) as never;
      if (i >= warmup) times.push(performance.now() - s);
    }
    outputs = Object.fromEntries(Object.entries(last).map(([k, v]) => [k, toNumbers(v.data)]));
    session.dispose();
  } else {
    const ort = await import('onnxruntime-node');
    const t0 = performance.now();
    const session = await ort.InferenceSession.create(model, {
      executionProviders: ['cpu'], intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
    });
    loadMs = performance.now() - t0;
    const ins = Object.fromEntries(Object.entries(feeds).map(([k, v]: [string, TensorValue]) => [k, new ort.Tensor(toOrtDtype(v.dtype) as never, v.data as never, v.dims)]));
    let last: Record<string, { data: unknown }> = {};
    for (let i = 0; i < warmup + runs; i++) {
      const s = performance.now();
      last = await session.run(ins);
      if (i >= warmup) times.push(performance.now() - s);
    }
    outputs = Object.fromEntries(Object.entries(last).map(([k, v]) => [k, toNumbers(v.data as ArrayLike<number>)]));
    await session.release();
  }
  times.sort((a, b) => a - b);
  return { runtime, loadMs, medianMs: percentile(times, 0.5), p90Ms: percentile(times, 0.9), maxRssMiB: process.resourceUsage().maxRSS / 1024, outputs };
}

function maxRelativeDifference(a: Record<string, number[]>, b: Record<string, number[]>): number {
  let worst = 0;
  for (const [name, ref] of Object.entries(b)) {
    const got = a[name];
    if (!got || got.length !== ref.length) return Infinity;
    let diff = 0;
    let scale = 0;
    for (let i = 0; i < ref.length; i++) {
      diff = Math.max(diff, Math.abs(got[i]! - ref[i]!));
      scale = Math.max(scale, Math.abs(ref[i]!));
    }
    worst = Math.max(worst, diff / (scale || 1));
  }
  return worst;
}

function runChild(args: string[]): ChildResult {
  const out = execFileSync(process.execPath, ['--expose-gc', SELF, '--child', ...args], { encoding: 'utf8', maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'inherit'] });
  return JSON.parse(out.slice(out.indexOf('{'))) as ChildResult;
}

function machine(): string {
  const c = cpus();
  return `${c[0]?.model ?? 'unknown CPU'}, ${c.length} hardware threads, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; Node ${process.version}`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      child: { type: 'string' }, model: { type: 'string' }, inputs: { type: 'string' },
      models: { type: 'string', default: 'resnet50,mobilenet_v2,vit_b_16,bert,gpt2' },
      exporter: { type: 'string', default: 'torchscript' },
      threads: { type: 'string', default: '2' }, runs: { type: 'string', default: '20' }, warmup: { type: 'string', default: '3' },
      rounds: { type: 'string', default: '3' },
      'models-dir': { type: 'string', default: join(ROOT, 'models') },
      out: { type: 'string', default: join(ROOT, 'docs', 'PERFORMANCE.md') },
    },
  });
  const threads = Number(values.threads);
  const runs = Number(values.runs);
  const warmup = Number(values.warmup);
  const rounds = Math.max(1, Number(values.rounds));
  if (values.child) {
    const r = await child(values.child as 'mcpc' | 'ort', values.model!, values.inputs!, threads, runs, warmup);
    process.stdout.write(JSON.stringify(r));
    return;
  }
  const dir = values['models-dir']!;
  const cache = join(dir, '.mcpc');
  mkdirSync(cache, { recursive: true });
  const rows: string[] = [];
  for (const name of values.models!.split(',')) {
    const onnx = join(dir, `${name}.${values.exporter}.onnx`);
    const inputs = join(dir, `${name}.${values.exporter}.inputs.json`);
    if (!existsSync(onnx) || !existsSync(inputs)) {
      console.error(`bench: ${onnx} not found; make it with: python3 scripts/export-models.py --out ${dir} --models ${name}`);
      continue;
    }
    const mcp = join(cache, `${basename(onnx, '.onnx')}.mcp`);
    const mcpO0 = join(cache, `${basename(onnx, '.onnx')}.O0.mcp`);
    const t0 = performance.now();
    execFileSync(process.execPath, [MCPC, 'compile', onnx, '-o', mcp, '-q'], { stdio: 'inherit' });
    const compileS = (performance.now() - t0) / 1000;
    execFileSync(process.execPath, [MCPC, 'compile', onnx, '-O0', '-o', mcpO0, '-q'], { stdio: 'inherit' });
    const kernels = (file: string) => (JSON.parse(execFileSync(process.execPath, [MCPC, 'inspect', file, '--json'], { encoding: 'utf8' })) as { kernels: { count: number } }).kernels.count;
    const common = ['--inputs', inputs, '--threads', String(threads), '--runs', String(runs), '--warmup', String(warmup)];
    const jobs: string[][] = [['ort', '--model', onnx, ...common], ['mcpc', '--model', mcp, ...common], ['mcpc', '--model', mcpO0, ...common]];
    const best: (ChildResult | undefined)[] = jobs.map(() => undefined);
    for (let r = 0; r < rounds; r++) {
      for (let k = 0; k < jobs.length; k++) {
        const j = (k + r) % jobs.length;
        const result = runChild(jobs[j]!);
        console.error(`bench: ${name} round ${r + 1}: ${['ort', 'mcpc', 'mcpc -O0'][j]} median ${result.medianMs.toFixed(2)} ms, p90 ${result.p90Ms.toFixed(2)} ms`);
        if (!best[j] || result.medianMs < best[j]!.medianMs) best[j] = result;
      }
    }
    const [ort, mcpc, unoptimized] = best as ChildResult[];
    const diff = maxRelativeDifference(mcpc.outputs, ort.outputs);
    const ratio = mcpc.medianMs / ort.medianMs;
    const row = `| ${name} | ${compileS.toFixed(2)} s | ${mcpc.loadMs.toFixed(0)} / ${ort.loadMs.toFixed(0)} ms | ${mcpc.medianMs.toFixed(2)} / ${mcpc.p90Ms.toFixed(2)} ms | ${ort.medianMs.toFixed(2)} / ${ort.p90Ms.toFixed(2)} ms | **${ratio.toFixed(2)}** | ${mcpc.maxRssMiB.toFixed(0)} / ${ort.maxRssMiB.toFixed(0)} MiB | ${diff.toExponential(1)} | ${kernels(mcpO0)} → ${kernels(mcp)} | ${unoptimized.medianMs.toFixed(2)} → ${mcpc.medianMs.toFixed(2)} ms (${(unoptimized.medianMs / mcpc.medianMs).toFixed(2)}x) |`;
    console.log(row);
    rows.push(row);
  }
  const table = [
    `Batch 1, ${threads} threads, ${values.exporter} exports (scripts/export-models.py, random weights), ${runs} timed runs after ${warmup} warm-up runs, each runtime in its own process; the best of ${rounds} interleaved rounds (lowest median).`,
    `Machine: ${machine()}. onnxruntime-node ${ortVersion()} with all graph optimizations.`,
    '',
    '| model | mcpc compile | load mcpc / ORT | mcpc median / p90 | ORT median / p90 | ratio mcpc / ORT | peak RSS mcpc / ORT | max rel. diff | kernels -O0 → -O1 | median -O0 → -O1 |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
  const out = values.out!;
  mkdirSync(resolve(out, '..'), { recursive: true });
  const previous = existsSync(out) ? readFileSync(out, 'utf8') : '# Performance\n\n<!-- bench:cpu -->\n<!-- /bench:cpu -->\n';
  const marked = /<!-- bench:cpu -->[\s\S]*<!-- \/bench:cpu -->/;
  const section = `<!-- bench:cpu -->\n${table}\n<!-- /bench:cpu -->`;
  writeFileSync(out, marked.test(previous) ? previous.replace(marked, section) : `${previous}\n${section}\n`);
  console.log(`\nwrote ${out}`);
}

function ortVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(ROOT, 'node_modules', 'onnxruntime-node', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

await main();
