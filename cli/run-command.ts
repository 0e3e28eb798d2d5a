// mcpc run: loads an artifact (or compiles an .onnx model in memory first), runs it on .npy
// inputs and writes each output to DIR/<name>.npy, or prints a summary of them; --bench N reports
// median and p90 latency over N runs after warm-up.

import { mkdirSync, writeFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { artifactToBuffer } from '../compiler/artifact/writer.js';
import type { Precision } from '../compiler/artifact/format.js';
import { compileModel, PRECISIONS, readModelFile } from '../compiler/compile.js';
import { diagnostic } from '../compiler/diagnostics.js';
import { Session, type Tensor } from '../runtime/index.js';
import { describeRangeCheck, rangeCheck, rangeOptions, readCalibrationInputs } from './calibrate.js';
import { parseShapeBinding } from './compile-command.js';
import { parseCommandArgs, type Io } from './main.js';
import { readNpyFlag, writeNpy } from './npy.js';
import { formatFlags, parseArgsConfig, type FlagSpec } from './options.js';

export const RUN_FLAGS: Record<string, FlagSpec> = {
  input: { type: 'string', short: 'i', multiple: true, value: 'NAME=FILE.npy', help: 'an input tensor (repeatable); NAME= may be left out for a one-input model' },
  out: { type: 'string', short: 'o', value: 'DIR', help: 'write each output to DIR/<name>.npy (default: print a summary)' },
  bench: { type: 'string', value: 'N', help: 'time N runs after warm-up and print median and p90 latency' },
  threads: { type: 'string', value: 'N', help: 'threads for kernels (default: all hardware threads)' },
  device: { type: 'string', value: 'DEVICE', help: "cpu or cuda:N (default: the artifact's target; an .onnx model is compiled for it)" },
  precision: { type: 'string', value: 'P', help: 'for an .onnx model on cuda: fp32, tf32, fp16 or bf16, as in mcpc compile (default fp32)' },
  shape: { type: 'string', multiple: true, value: 'NAME=DxD...', help: 'for an .onnx model: bind an input shape, as in mcpc compile' },
  'no-calibration': { type: 'boolean', help: 'for an .onnx model run in fp16 on cuda: skip the range check (mcpc compile --help), which otherwise calibrates on the named --input files' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
};

export const RUN_USAGE = `Usage: mcpc run MODEL.mcp|MODEL.onnx --input NAME=FILE.npy ... [options]

Runs a compiled artifact on its target's device (an .onnx model is compiled in memory first, for
the cpu unless --device names a CUDA GPU). MCPC_PROFILE=1 prints each kernel's time when it ends.

Options:
${formatFlags(RUN_FLAGS)}

Examples:
  mcpc run tiny-cnn.mcp --input input=x.npy --out results/
  mcpc run bert.onnx --shape input_ids=1x128 -i input_ids=ids.npy -i attention_mask=mask.npy --bench 50
  mcpc run resnet50.onnx --device cuda:0 --precision fp16 -i input=x.npy --bench 100
`;

const WARMUP_RUNS = 3;

function positiveInt(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) throw diagnostic('badFlag', { reason: `--${flag} must be a positive integer, got '${text}'` });
  return n;
}

function readInputs(specs: string[], session: Session): Record<string, Tensor> {
  const feeds: Record<string, Tensor> = {};
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    let name: string;
    let file: string;
    if (eq > 0) {
      name = spec.slice(0, eq);
      file = spec.slice(eq + 1);
    } else if (session.inputs.length === 1) {
      name = session.inputs[0]!.name;
      file = spec;
    } else {
      throw diagnostic('badFlag', { reason: `--input ${spec}: name the input (NAME=FILE.npy); the model has inputs ${session.inputs.map((i) => i.name).join(', ')}` });
    }
    if (feeds[name]) throw diagnostic('badFlag', { reason: `--input ${name} is given twice` });
    feeds[name] = readNpyFlag(file, `--input ${name}`);
  }
  return feeds;
}

function summarize(name: string, t: Tensor): string {
  const values = Array.from(t.data as ArrayLike<number | bigint>, Number);
  const finite = values.filter(Number.isFinite);
  const min = finite.length ? Math.min(...finite) : NaN;
  const max = finite.length ? Math.max(...finite) : NaN;
  const mean = finite.reduce((a, v) => a + v, 0) / (finite.length || 1);
  const head = values.slice(0, 8).map((v) => Number(v.toPrecision(6))).join(', ');
  return `${name}  ${t.dtype}[${t.dims.join(',')}]  min ${min.toPrecision(5)}  max ${max.toPrecision(5)}  mean ${mean.toPrecision(5)}  [${head}${values.length > 8 ? ', ...' : ''}]\n`;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

export async function runRun(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, parseArgsConfig(RUN_FLAGS));
  if (values['help']) {
    io.out(RUN_USAGE);
    return 0;
  }
  if (positionals.length !== 1) {
    throw diagnostic('badFlag', { reason: positionals.length ? `expected one model, got ${positionals.length}: ${positionals.join(' ')}` : 'no model given (mcpc run MODEL.mcp --input NAME=FILE.npy)' });
  }
  const modelPath = positionals[0]!;
  const threads = positiveInt('threads', values['threads'] as string | undefined);
  const bench = positiveInt('bench', values['bench'] as string | undefined);
  const shapes = new Map<string, number[]>();
  for (const s of (values['shape'] as string[] | undefined) ?? []) {
    const [name, dims] = parseShapeBinding(s);
    shapes.set(name, dims);
  }
  const isOnnx = extname(modelPath).toLowerCase() === '.onnx';
  if (!isOnnx && shapes.size) throw diagnostic('badFlag', { reason: '--shape applies to an .onnx model; an artifact has its shapes fixed at compile time' });
  const device = values['device'] as string | undefined;
  if (device !== undefined && !/^(cpu(:0)?|cuda(:\d+)?)$/.test(device)) throw diagnostic('badFlag', { reason: `--device must be cpu or cuda:N, got '${device}'` });
  const onCuda = device?.startsWith('cuda') ?? false;
  const precision = (values['precision'] as string | undefined) ?? 'fp32';
  if (values['precision'] !== undefined && !(isOnnx && onCuda)) throw diagnostic('badFlag', { reason: '--precision applies to an .onnx model run on cuda (an artifact has its precision fixed at compile time)' });
  if (!PRECISIONS.includes(precision as Precision)) throw diagnostic('badFlag', { reason: `--precision must be one of ${PRECISIONS.join(', ')}, got '${precision}'` });
  if (values['no-calibration'] && !(isOnnx && onCuda && precision === 'fp16')) throw diagnostic('badFlag', { reason: '--no-calibration applies to an .onnx model run with --device cuda:N --precision fp16 (the range check)' });
  const loadOptions = { ...(threads ? { threads } : {}), ...(device ? { device } : {}) };

  let session: Session;
  try {
    if (isOnnx) {
      const source = readModelFile(modelPath);
      const target = onCuda ? 'cuda' : 'cpu';
      // fp16 on cuda: the range check of mcpc compile, calibrated on the inputs given by name
      // (the others generated).
      const named = ((values['input'] as string[] | undefined) ?? []).filter((spec) => spec.indexOf('=') > 0);
      const range = values['no-calibration'] ? undefined : await rangeCheck(source, { target, precision }, { shapes, inputs: readCalibrationInputs(named), ...(threads ? { threads } : {}) });
      const compiled = compileModel(source, { target, precision: precision as Precision, shapes, ...rangeOptions(range) });
      if (range) io.err(describeRangeCheck(range, compiled.pipeline.ctx.float32Nodes ?? []));
      session = await Session.load(artifactToBuffer(compiled.artifact!), loadOptions);
    } else {
      session = await Session.load(modelPath, loadOptions);
    }
  } catch (e) {
    return runtimeFailure(e, io);
  }
  try {
    const feeds = readInputs((values['input'] as string[] | undefined) ?? [], session);
    let outputs: Record<string, Tensor>;
    try {
      outputs = await session.run(feeds);
      if (bench) {
        for (let i = 1; i < WARMUP_RUNS; ++i) await session.run(feeds);
        const times: number[] = [];
        for (let i = 0; i < bench; ++i) {
          const t0 = performance.now();
          await session.run(feeds);
          times.push(performance.now() - t0);
        }
        times.sort((a, b) => a - b);
        const where = session.device === 'cpu' ? `${session.threads} threads` : session.device;
        io.out(`latency over ${bench} runs (${where}, after ${WARMUP_RUNS} warm-up): median ${percentile(times, 0.5).toFixed(3)} ms, p90 ${percentile(times, 0.9).toFixed(3)} ms\n`);
      }
    } catch (e) {
      return runtimeFailure(e, io);
    }
    const outDir = values['out'] as string | undefined;
    if (outDir) {
      mkdirSync(outDir, { recursive: true });
      for (const [name, t] of Object.entries(outputs)) {
        // Output names may contain '/' (ONNX value names): keep the file inside DIR.
        const file = join(outDir, `${name.replace(/[/\\]/g, '_')}.npy`);
        writeFileSync(file, writeNpy(t));
        io.err(`wrote ${file}\n`);
      }
    } else if (!bench) {
      for (const [name, t] of Object.entries(outputs)) io.out(summarize(name, t));
    }
    return 0;
  } finally {
    session.dispose();
  }
}

/** Runtime errors carry a code but are not compiler diagnostics: reported the same way, exit 2. */
function runtimeFailure(e: unknown, io: Io): number {
  const err = e as Error & { code?: unknown };
  if (err instanceof Error && typeof err.code === 'string' && /^MCPC\d{4}$/.test(err.code)) {
    io.err(`mcpc: error ${err.code}: ${err.message}\n`);
    return 2;
  }
  throw e;
}
