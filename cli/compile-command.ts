// mcpc compile: reads an ONNX model, runs the pipeline and writes the artifact (or the IR at an
// earlier phase), with progress on a terminal and a JSON summary on request.

import { writeFileSync } from 'node:fs';
import { basename, extname, join, dirname } from 'node:path';
import type { Precision, Target } from '../compiler/artifact/format.js';
import { writeArtifactFile } from '../compiler/artifact/writer.js';
import { compileModel, PRECISIONS, readModelFile, TARGETS } from '../compiler/compile.js';
import { diagnostic } from '../compiler/diagnostics.js';
import { printGraph } from '../compiler/ir/printer.js';
import { PHASES, type Phase } from '../compiler/passes/pipeline.js';
import { parseCommandArgs, type Io } from './main.js';
import { COMPILE_FLAGS, formatFlags, parseArgsConfig } from './options.js';
import { formatBytes } from './format.js';
import { describeRangeCheck, rangeCheck, rangeOptions, readCalibrationInputs } from './calibrate.js';

export const COMPILE_USAGE = `Usage: mcpc compile MODEL.onnx [options]

Compiles an ONNX model (IR 3 to 14, opsets 1 to 28) into an artifact for the runtime.

Options:
${formatFlags(COMPILE_FLAGS)}

Examples:
  mcpc compile resnet50.onnx -o resnet50.mcp
  mcpc compile bert.onnx --shape input_ids=1x128 --shape attention_mask=1x128
  mcpc compile model.onnx --compile-to=optimized > model.mcir
  mcpc compile reshape.onnx --value shape=2,-1 -o reshape.mcp
  mcpc compile model.onnx --print-after=fold-constants -o /dev/null
  mcpc compile model.onnx -O0 -o model.mcp      (no kernel fusion)
  mcpc compile mobilenet_v2.onnx --target cuda --precision fp16 --calibration-input input=images.npy

fp16 on cuda first runs the model once in float32 on the cpu (generated inputs unless given) and
keeps in float32 the nodes whose values float16 cannot hold (below 2^-10 or above 2^15 at most).
`;

export function parseShapeBinding(text: string): [string, number[]] {
  const eq = text.lastIndexOf('=');
  if (eq <= 0) throw diagnostic('badShapeBinding', { binding: text, reason: 'expected NAME=DxDxD, e.g. input_ids=1x128' });
  const name = text.slice(0, eq);
  const dimsText = text.slice(eq + 1);
  const dims = dimsText === '' ? [] : dimsText.split(/[x,]/).map((d) => Number(d));
  if (dims.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    throw diagnostic('badShapeBinding', { binding: text, reason: `'${dimsText}' is not a list of sizes like 1x128` });
  }
  return [name, dims];
}

export function parseValueBinding(text: string): [string, number[]] {
  const eq = text.lastIndexOf('=');
  if (eq <= 0) throw diagnostic('badShapeBinding', { binding: text, reason: 'expected NAME=V,V,..., e.g. shape=1,-1' });
  const values = text.slice(eq + 1).split(',').filter((x) => x !== '').map(Number);
  if (values.some((v) => !Number.isFinite(v))) throw diagnostic('badShapeBinding', { binding: text, reason: 'values must be numbers' });
  return [text.slice(0, eq), values];
}

/** Reads the repeatable --value flags. */
export function valueBindings(flags: (string | boolean)[] | string | boolean | undefined): Map<string, number[]> {
  const values = new Map<string, number[]>();
  for (const v of (flags as string[] | undefined) ?? []) {
    const [name, numbers] = parseValueBinding(v);
    if (values.has(name)) throw diagnostic('badShapeBinding', { binding: v, reason: `input '${name}' is bound twice` });
    values.set(name, numbers);
  }
  return values;
}

export async function runCompile(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, parseArgsConfig(COMPILE_FLAGS));
  if (values['help']) {
    io.out(COMPILE_USAGE);
    return 0;
  }
  if (positionals.length !== 1) {
    throw diagnostic('badFlag', { reason: positionals.length ? `expected one model, got ${positionals.length}: ${positionals.join(' ')}` : 'no model given (mcpc compile MODEL.onnx)' });
  }
  const modelPath = positionals[0]!;
  const target = (values['target'] as string | undefined) ?? 'cpu';
  if (!TARGETS.includes(target as Target)) throw diagnostic('badFlag', { reason: `--target must be one of ${TARGETS.join(', ')}, got '${target}'` });
  const precision = (values['precision'] as string | undefined) ?? 'fp32';
  if (!PRECISIONS.includes(precision as Precision)) throw diagnostic('badFlag', { reason: `--precision must be one of ${PRECISIONS.join(', ')}, got '${precision}'` });
  const compileTo = values['compile-to'] as string | undefined;
  if (compileTo !== undefined && !PHASES.includes(compileTo as Phase)) {
    throw diagnostic('unknownPhase', { phase: compileTo, phases: PHASES.join(', ') });
  }
  const optLevel = values['opt-level'] as string | undefined;
  if (optLevel !== undefined && optLevel !== '0' && optLevel !== '1') throw diagnostic('badFlag', { reason: `-O must be 0 or 1, got '${optLevel}'` });
  const shapes = new Map<string, number[]>();
  for (const s of (values['shape'] as string[] | undefined) ?? []) {
    const [name, dims] = parseShapeBinding(s);
    if (shapes.has(name)) throw diagnostic('badShapeBinding', { binding: s, reason: `input '${name}' is bound twice` });
    shapes.set(name, dims);
  }
  const printAfter = ((values['print-after'] as string[] | undefined) ?? []).flatMap((p) => p.split(','));
  const json = !!values['json'];
  const quiet = !!values['quiet'];
  const progress = io.tty && !quiet && !json;
  const status = (s: string) => progress && io.err(`\r\x1b[2K${s}`);

  const calibrationInputs = readCalibrationInputs((values['calibration-input'] as string[] | undefined) ?? []);
  const noCalibration = !!values['no-calibration'];
  if ((Object.keys(calibrationInputs).length || noCalibration) && !(target === 'cuda' && precision === 'fp16')) {
    throw diagnostic('badFlag', { reason: `--calibration-input and --no-calibration apply to --target cuda --precision fp16 (the range check), not to ${target} ${precision}` });
  }
  if (Object.keys(calibrationInputs).length && noCalibration) throw diagnostic('badFlag', { reason: '--calibration-input and --no-calibration contradict each other' });

  const t0 = performance.now();
  const source = readModelFile(modelPath);
  const readMs = performance.now() - t0;
  // The range check runs only where lower-precision will (a compile that stops earlier has no use for it).
  const lowers = compileTo === undefined || PHASES.indexOf(compileTo as Phase) >= PHASES.indexOf('plan');
  const shapeBindingsAndValues = { shapes, values: valueBindings(values['value']) };
  if (!noCalibration && lowers && target === 'cuda' && precision === 'fp16') status(`mcpc: range check ${basename(modelPath)}`);
  const disablePasses = (values['disable-pass'] as string[] | undefined) ?? [];
  const optimize = optLevel !== undefined ? { optimize: optLevel === '1' } : {};
  const range = noCalibration || !lowers
    ? undefined
    : await rangeCheck(source, { target, precision }, { ...shapeBindingsAndValues, inputs: calibrationInputs, disablePasses, ...optimize });
  const result = compileModel(source, {
    target: target as Target,
    precision: precision as Precision,
    ...shapeBindingsAndValues,
    ...rangeOptions(range),
    printAfter,
    print: (t) => io.err(t),
    compileTo: compileTo as Phase | undefined,
    verify: !!values['verify-ir'],
    disablePasses,
    enablePasses: (values['enable-pass'] as string[] | undefined) ?? [],
    ...optimize,
    onStage: (s) => status(`mcpc: ${s} ${basename(modelPath)}`),
    onPass: (p, i, n) => status(`mcpc: pass ${i + 1}/${n} ${p.name}`),
  });
  if (progress) io.err('\r\x1b[2K');

  let written: string | undefined;
  const outPath = values['output'] as string | undefined;
  const t1 = performance.now();
  if (result.artifact) {
    written = outPath ?? join(dirname(modelPath), `${basename(modelPath, extname(modelPath))}.mcp`);
    writeArtifactFile(written, result.artifact);
  } else {
    const text = result.emitted ? `${JSON.stringify(result.emitted.plan, null, 1)}\n` : printGraph(result.graph);
    if (outPath) {
      writeFileSync(outPath, text);
      written = outPath;
    } else if (!json) io.out(text);
  }
  const outputMs = performance.now() - t1;
  const seconds = (performance.now() - t0) / 1000;
  const timings = { read: readMs, ...result.timings, output: outputMs };
  const summary = {
    model: modelPath,
    output: written ?? null,
    target,
    precision,
    phase: result.reached,
    onnxNodes: result.onnxNodeCount,
    irNodes: result.graph.nodes.length,
    kernels: result.emitted?.plan.kernels.length ?? null,
    fusedKernels: result.emitted ? result.emitted.plan.kernels.filter((k) => k.epilogue || k.prologue).length : null,
    weightBytes: result.emitted ? result.emitted.weights.reduce((a, w) => a + w.constant!.byteLength, 0) : null,
    arena: result.emitted?.arena ?? null,
    artifactBytes: result.artifact?.byteLength ?? null,
    seconds: Number(seconds.toFixed(3)),
    timingsMs: Object.fromEntries(Object.entries(timings).map(([k, v]) => [k, Number(v.toFixed(1))])),
    passes: Object.fromEntries(result.pipeline.ctx.stats),
    rangeCheck: !range ? null : 'skipped' in range ? { skipped: range.skipped } : {
      ms: Number(range.calibration.ms.toFixed(1)),
      batch: range.calibration.batch ?? null,
      given: range.calibration.given,
      generated: range.calibration.generated,
      float32Nodes: result.pipeline.ctx.float32Nodes ?? [],
    },
  };
  if (json) io.out(`${JSON.stringify(summary, null, 2)}\n`);
  else if (!quiet && range) io.err(describeRangeCheck(range, result.pipeline.ctx.float32Nodes ?? []));
  if (!json && !quiet && result.artifact) {
    io.err(
      `compiled ${basename(modelPath)} -> ${written} (${target}, ${precision}): ${summary.onnxNodes} ONNX nodes -> ${summary.kernels} kernels, ` +
        `weights ${formatBytes(summary.weightBytes ?? 0)}, arena ${formatBytes(summary.arena?.size ?? 0)}, ${seconds.toFixed(2)} s\n`,
    );
  }
  return 0;
}
