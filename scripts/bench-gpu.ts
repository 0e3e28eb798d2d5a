// The mcpc side of `npm run bench:gpu` (scripts/bench-gpu.sh): reads what
// scripts/bench_gpu_torch.py wrote (ONNX models, inputs and onnxruntime's float32 outputs as .npy,
// PyTorch's fp16 timings, the card's measured copy bandwidth and matrix rate), compiles every model
// for --target cuda at each batch in fp32 and fp16, runs it on the GPU with inputs and outputs kept
// on the device (as PyTorch's timings are), and checks its outputs against onnxruntime's float32 ones
// (fp32 within 1e-4, fp16 within 1e-2 relative). Writes the side-by-side table to
// docs/PERFORMANCE.md between <!-- bench:gpu --> markers.
//
// Usage: node dist/scripts/bench-gpu.js [--dir bench-gpu] [--runs 200] [--out docs/PERFORMANCE.md]

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { readNpy } from '../cli/npy.js';
import type { Precision } from '../compiler/artifact/format.js';
import { artifactToBuffer } from '../compiler/artifact/writer.js';
import { describeRangeCheck, rangeCheck, rangeOptions } from '../cli/calibrate.js';
import { compileModel } from '../compiler/compile.js';
import { profileNodes } from '../compiler/plan/profile.js';
import { DeviceTensor, Session, Tensor, cudaDevices } from '../runtime/index.js';

const ROOT = resolve(import.meta.dirname, '..', '..');

interface TorchEntry {
  model: string;
  batch: number;
  case: string;
  inputs: string[];
  outputs: string[];
  eagerMs: number;
  eagerPeakBytes: number;
  compiledMs?: number;
  /** PyTorch eager fp16 against the same onnxruntime reference (max rel error). */
  torchFp16VsOrt?: number;
}

interface TorchReport {
  torch: string;
  card: { copyGBs: number; fp16Tflops: number; device: string };
  models: TorchEntry[];
  /** How the CNNs were initialised (export-models.py --weights); absent in older reports: conditioned. */
  weights?: 'conditioned' | 'plain';
}

interface Row {
  model: string;
  batch: number;
  precision: Precision;
  kernels: number;
  /** Nodes the fp16 range check kept in float32. */
  float32Nodes: number;
  loadMs: number;
  medianMs: number;
  p90Ms: number;
  deviceBytes: number;
  flops: number;
  bytesMoved: number;
  maxRelError: number;
  ok: boolean;
  torch: TorchEntry;
}

const TOLERANCE: Record<string, number> = { fp32: 1e-4, tf32: 1e-2, fp16: 1e-2, bf16: 3e-2 };

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(Number(actual[i]) - Number(expected[i])));
    scale = Math.max(scale, Math.abs(Number(expected[i])));
  }
  return diff / (scale || 1);
}

async function benchCase(dir: string, entry: TorchEntry, precision: Precision, runs: number): Promise<Row> {
  const caseDir = join(dir, entry.case);
  const feeds: Record<string, Tensor> = {};
  for (const name of entry.inputs) feeds[name] = readNpy(readFileSync(join(caseDir, `${name}.npy`)), name) as Tensor;
  const shapes = new Map(Object.entries(feeds).map(([k, t]) => [k, t.dims as number[]]));
  const modelPath = join(dir, `${entry.model}.onnx`);
  const source = { bytes: readFileSync(modelPath), path: modelPath };
  // As `mcpc compile` does: fp16 plans run the range check first (generated inputs, batch 1).
  const range = await rangeCheck(source, { target: 'cuda', precision }, { shapes });
  if (range && 'skipped' in range) console.log(`${entry.case} ${precision}: ${describeRangeCheck(range, []).trim()}`);
  const compiled = compileModel(source, { target: 'cuda', precision, shapes, ...rangeOptions(range) });
  const float32Nodes = compiled.pipeline.ctx.float32Nodes?.length ?? 0;
  const artifact = compiled.artifact!;
  const bytes = artifactToBuffer(artifact);
  const t0 = performance.now();
  const session = await Session.load(bytes, { device: 'cuda:0' });
  const loadMs = performance.now() - t0;
  try {
    // Inputs uploaded once and outputs left on the device: the timed work is the model's.
    const onDevice: Record<string, DeviceTensor> = {};
    for (const [k, t] of Object.entries(feeds)) onDevice[k] = await DeviceTensor.fromHost(t, 'cuda:0');
    const check = await session.run(feeds);
    let maxRelError = 0;
    for (const name of entry.outputs) {
      const want = readNpy(readFileSync(join(caseDir, `${name}.expected.npy`)), name);
      maxRelError = Math.max(maxRelError, relativeError(check[name]!.data as ArrayLike<number>, want.data as ArrayLike<number>));
    }
    const times: number[] = [];
    for (let i = 0; i < 20 + runs; i++) {
      const s = performance.now();
      const out = await session.run(onDevice, { outputLocation: 'device' });
      if (i >= 20) times.push(performance.now() - s);
      for (const t of Object.values(out)) (t as DeviceTensor).dispose();
    }
    for (const t of Object.values(onDevice)) t.dispose();
    times.sort((a, b) => a - b);
    const profile = profileNodes(compiled.graph.nodes, compiled.emitted!.arena.size);
    return {
      model: entry.model,
      batch: entry.batch,
      precision,
      kernels: compiled.emitted!.plan.kernels.length,
      float32Nodes,
      loadMs,
      medianMs: percentile(times, 0.5),
      p90Ms: percentile(times, 0.9),
      deviceBytes: session.deviceBytes ?? 0,
      flops: profile.flops,
      bytesMoved: profile.bytesMoved,
      maxRelError,
      ok: maxRelError <= TOLERANCE[precision]!,
      torch: entry,
    };
  } finally {
    session.dispose();
  }
}

/** Items (images or sequences) per second at a batch's median latency, to 3 significant digits. */
function throughput(batch: number, medianMs: number): string {
  return String(Number((batch / (medianMs / 1000)).toPrecision(3)));
}

function table(rows: Row[], report: TorchReport): string {
  // One decimal below 100 MiB, where a model and its eager run differ by less than 1 MiB.
  const mib = (b: number) => (b / 2 ** 20).toFixed(b < 100 * 2 ** 20 ? 1 : 0);
  const lines = [
    `Measured on ${report.card.device} (copy ${report.card.copyGBs.toFixed(0)} GB/s, fp16 matmul ${report.card.fp16Tflops.toFixed(0)} TFLOP/s, both measured), PyTorch ${report.torch}, ${new Date().toISOString().slice(0, 10)}.`,
    'Latency: median of the runs, inputs and outputs on the device (PyTorch: CUDA events; mcpc: wall time of `session.run`, which waits for the GPU); throughput: batch / median latency.',
    'Memory: weights plus the activation arena and workspaces (mcpc) / weights plus peak allocations while running (PyTorch eager).',
    '"of peak": the model\'s FLOPs over its latency, as a fraction of the measured matmul rate.',
    'Errors: max |difference| / max |reference| against onnxruntime (CPU, float32) on the same inputs; "torch fp16 err" is PyTorch eager fp16\'s own.',
    'fp16 plans are compiled as `mcpc compile` does, after the range check: "N nodes float32" counts the nodes it kept in float32 because float16 cannot hold their values.',
    '',
    '| model | batch | precision | mcpc ms (p90) | mcpc items/s | torch eager fp16 ms | torch.compile fp16 ms | mcpc / compile | mcpc MiB | eager MiB | of peak | max rel err | torch fp16 err |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const compiled = r.torch.compiledMs;
    const rate = r.flops / (r.medianMs * 1e-3) / 1e12 / report.card.fp16Tflops;
    lines.push(
      `| ${r.model} | ${r.batch} | ${r.precision} | ${r.medianMs.toFixed(3)} (${r.p90Ms.toFixed(3)}) | ${throughput(r.batch, r.medianMs)} | ${r.torch.eagerMs.toFixed(3)} | ` +
        `${compiled !== undefined ? compiled.toFixed(3) : '-'} | ${compiled !== undefined && r.precision === 'fp16' ? (r.medianMs / compiled).toFixed(2) : '-'} | ` +
        `${mib(r.deviceBytes)} | ${mib(r.torch.eagerPeakBytes)} | ${(100 * rate).toFixed(1)}% | ${r.maxRelError.toExponential(1)}${r.ok ? '' : ' (over)'}` +
        `${r.float32Nodes ? ` (${r.float32Nodes} nodes float32)` : ''} | ` +
        `${r.precision === 'fp16' && r.torch.torchFp16VsOrt !== undefined ? r.torch.torchFp16VsOrt.toExponential(1) : '-'} |`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      dir: { type: 'string', default: 'bench-gpu' },
      runs: { type: 'string', default: '200' },
      precisions: { type: 'string', default: 'fp32,fp16' },
      out: { type: 'string', default: join(ROOT, 'docs', 'PERFORMANCE.md') },
    },
  });
  const dir = resolve(values.dir!);
  const report = JSON.parse(readFileSync(join(dir, 'torch.json'), 'utf8')) as TorchReport;
  const devices = cudaDevices();
  if (!devices.length) throw new Error('bench:gpu needs a CUDA device and an mcpc build with the CUDA backend (npm run test:gpu builds it)');
  const rows: Row[] = [];
  for (const entry of report.models) {
    for (const precision of values.precisions!.split(',') as Precision[]) {
      try {
        const row = await benchCase(dir, entry, precision, Number(values.runs));
        rows.push(row);
        console.log(`${entry.model} b${entry.batch} ${precision}: ${row.medianMs.toFixed(3)} ms (torch.compile ${entry.compiledMs?.toFixed(3) ?? '-'} ms), max rel err ${row.maxRelError.toExponential(2)}`);
      } catch (e) {
        console.log(`${entry.model} b${entry.batch} ${precision}: FAILED ${(e as Error).message.split('\n')[0]}`);
      }
    }
  }
  const out = values.out!;
  const text = table(rows, report);
  console.log(text);
  const previous = existsSync(out) ? readFileSync(out, 'utf8') : '# Performance\n';
  // Models with the libraries' own initialisation (bench_gpu_torch.py --weights plain) get a section of their own.
  const plain = report.weights === 'plain';
  const tag = plain ? 'bench:gpu:plain' : 'bench:gpu';
  const heading = plain ? '## GPU, library-initialised weights (--weights plain)' : '## GPU';
  const section = `<!-- ${tag} -->\n${text}\n<!-- /${tag} -->`;
  const marked = new RegExp(`<!-- ${tag} -->[\\s\\S]*<!-- /${tag} -->`);
  writeFileSync(out, marked.test(previous) ? previous.replace(marked, section) : `${previous.trimEnd()}\n\n${heading}\n\n${section}\n`);
}

main().catch((e) => {
  console.error(`bench:gpu: ${(e as Error).message}`);
  process.exit(1);
});
