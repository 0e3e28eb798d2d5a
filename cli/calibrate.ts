// fp16 range calibration: runs the model once in float32 on the CPU runtime and measures the
// largest |x| of every value, so an fp16 compile can keep in float32 the nodes whose values float16
// cannot hold (lower-precision's range guard, compiler/passes/lower-precision.ts).
//
// The calibration plan is the cpu pipeline's optimized graph without the fuse pass and with
// fuse-attention (as fp16 cuda plans run it): one kernel per node, so every value the cuda
// pipeline's lower-precision sees by name was a kernel output here (values made later, layout
// changes and batch-sibling-matmuls' slices, take the range of what they move). Inputs are the caller's
// (--calibration-input) or generated ones: floats uniform in [-1, 1), integers 1 (a valid token id,
// mask bit and type id), booleans true. A model whose leading input dims are bound above 1 is
// calibrated at batch 1 when it accepts that (symbolic batch), which takes 1/N of the time.

import { artifactToBuffer } from '../compiler/artifact/writer.js';
import { compileModel, type ModelSource } from '../compiler/compile.js';
import { diagnostic, DiagnosticError } from '../compiler/diagnostics.js';
import { Session, Tensor, type TensorDType, type TensorInfo } from '../runtime/index.js';
import { mulberry32 } from '../scripts/model-inputs.js';
import { readNpyFlag } from './npy.js';

export interface CalibrationOptions {
  /** Input shapes (--shape), as the compile binds them. */
  shapes?: ReadonlyMap<string, readonly number[]>;
  /** Input contents fixed at compile time (--value). */
  values?: ReadonlyMap<string, readonly number[]>;
  /** Calibration inputs by name (--calibration-input); inputs not given are generated. */
  inputs?: Readonly<Record<string, Tensor>>;
  /** CPU threads for the calibration run (default: the runtime's). */
  threads?: number;
  /** The compile's own pass selection (--disable-pass, -O0), so the calibration graph's values are its values. */
  disablePasses?: readonly string[];
  optimize?: boolean;
}

export interface Calibration {
  /** Largest finite |x| of each float32 value, by value name (CompileOptions.valueRanges). */
  ranges: Map<string, number>;
  /** Values that held a NaN or an infinity on these inputs. */
  nonFinite: string[];
  /** The batch the run used (the bound leading dim, or 1 where the model allowed it). */
  batch: number | undefined;
  /** Inputs the caller gave and inputs generated here. */
  given: string[];
  generated: string[];
  ms: number;
}

/** A generated calibration input for `spec` (see the header), or undefined for dtypes it does not make. */
function generatedInput(spec: TensorInfo, index: number): Tensor | undefined {
  const n = spec.shape.reduce((a, d) => a * d, 1);
  const next = mulberry32(0x5eed + index);  // the same inputs every compile
  const dtype: TensorDType = spec.dtype;
  switch (dtype) {
    case 'f32': return new Tensor('f32', Float32Array.from({ length: n }, () => next() * 2 - 1), spec.shape);
    case 'f64': return new Tensor('f64', Float64Array.from({ length: n }, () => next() * 2 - 1), spec.shape);
    case 'i64': return new Tensor('i64', new BigInt64Array(n).fill(1n), spec.shape);
    case 'i32': return new Tensor('i32', new Int32Array(n).fill(1), spec.shape);
    case 'bool': return new Tensor('bool', new Uint8Array(n).fill(1), spec.shape);
    default: return undefined;
  }
}

/** Shapes with every leading dim above 1 set to 1 (undefined if none is). */
function batchOne(shapes: ReadonlyMap<string, readonly number[]> | undefined): Map<string, number[]> | undefined {
  if (!shapes || ![...shapes.values()].some((d) => (d[0] ?? 1) > 1)) return undefined;
  return new Map([...shapes].map(([k, d]) => [k, d.length ? [1, ...d.slice(1)] : [...d]]));
}

/**
 * Compiles `source` for the cpu without kernel fusion, runs it once and returns each float32
 * value's largest |x|. Throws a DiagnosticError or RuntimeError when the model cannot run on the
 * cpu runtime (an op it lacks, an input dtype it cannot generate): callers compile without ranges.
 */
export async function calibrateRanges(source: ModelSource, options: CalibrationOptions = {}): Promise<Calibration> {
  const t0 = performance.now();
  const given = options.inputs ?? {};
  const disablePasses = [...new Set([...(options.disablePasses ?? []), 'fuse'])];
  // fp16 cuda plans fuse attention, so the calibration graph does too (the cpu target leaves it
  // decomposed for speed): then the projections and the attention output carry the names the cuda
  // graph's do.
  const enablePasses = disablePasses.includes('fuse-attention') ? [] : ['fuse-attention'];
  const compileAt = (shapes: ReadonlyMap<string, readonly number[]> | undefined) => compileModel(source, {
    target: 'cpu', precision: 'fp32', shapes, values: options.values, disablePasses, enablePasses,
    ...(options.optimize !== undefined ? { optimize: options.optimize } : {}),
  });
  // Batch 1 only where the model's batch is symbolic and no given input fixes a larger one.
  const one = Object.keys(given).length ? undefined : batchOne(options.shapes);
  let compiled;
  let batch: number | undefined;
  try {
    compiled = one ? compileAt(one) : compileAt(options.shapes);
    batch = one ? 1 : undefined;
  } catch (e) {
    if (!one || !(e instanceof DiagnosticError)) throw e;
    compiled = compileAt(options.shapes);
  }
  const session = await Session.load(artifactToBuffer(compiled.artifact!), options.threads ? { threads: options.threads } : {});
  try {
    const feeds: Record<string, Tensor> = {};
    const generated: string[] = [];
    session.inputs.forEach((spec, i) => {
      const t = given[spec.name] ?? generatedInput(spec, i);
      if (!t) throw diagnostic('badFeed', { reason: `calibration: input ${spec.name} has dtype ${spec.dtype}, for which no calibration data can be generated; give calibration data for it (mcpc compile --calibration-input ${spec.name}=FILE.npy)` });
      if (!given[spec.name]) generated.push(spec.name);
      feeds[spec.name] = t;
    });
    for (const name of Object.keys(given)) {
      if (!session.inputs.some((s) => s.name === name)) {
        throw diagnostic('badFeed', { reason: `calibration: the model has no input ${name} (inputs: ${session.inputs.map((s) => s.name).join(', ')})` });
      }
    }
    batch ??= session.inputs.map((s) => s.shape[0]).find((d) => d !== undefined);
    const measured = await session.valueRanges(feeds);
    const ranges = new Map<string, number>();
    const nonFinite: string[] = [];
    for (const [name, r] of measured) {
      ranges.set(name, r.maxAbs);
      if (r.nonFinite) nonFinite.push(name);
    }
    return { ranges, nonFinite, batch, given: Object.keys(given), generated, ms: performance.now() - t0 };
  } finally {
    session.dispose();
  }
}

/** Reads --calibration-input NAME=FILE.npy flags (each input once). */
export function readCalibrationInputs(specs: readonly string[]): Record<string, Tensor> {
  const inputs: Record<string, Tensor> = {};
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    if (eq <= 0) throw diagnostic('badFlag', { reason: `--calibration-input ${spec}: expected NAME=FILE.npy` });
    const name = spec.slice(0, eq);
    const file = spec.slice(eq + 1);
    if (inputs[name]) throw diagnostic('badFlag', { reason: `--calibration-input ${name} is given twice` });
    inputs[name] = readNpyFlag(file, `--calibration-input ${name}`);
  }
  return inputs;
}

/** What an fp16 compile did about ranges: calibrated (with the ranges), or skipped and why. */
export type RangeCheck = { calibration: Calibration } | { skipped: string };

/**
 * The range calibration an fp16 cuda compile runs by default (mcpc compile, mcpc run on .onnx):
 * undefined when the plan is not fp16 on cuda. A model the cpu runtime cannot run is compiled
 * without ranges (every float stored in float16), with the reason in `skipped`; with inputs the
 * caller gave, any failure is an error.
 */
export async function rangeCheck(
  source: ModelSource,
  plan: { target: string; precision: string },
  options: CalibrationOptions,
): Promise<RangeCheck | undefined> {
  if (plan.target !== 'cuda' || plan.precision !== 'fp16') return undefined;
  try {
    return { calibration: await calibrateRanges(source, options) };
  } catch (e) {
    // Inputs the caller gave ask for this calibration: its failure is theirs to see.
    if (Object.keys(options.inputs ?? {}).length > 0) {
      // Runtime errors (a feed of the wrong shape or dtype) carry an MCPC code, as diagnostics do.
      const code = (e as { code?: unknown }).code;
      if (!(e instanceof DiagnosticError) && e instanceof Error && typeof code === 'string' && /^MCPC\d{4}$/.test(code)) {
        throw diagnostic('badFeed', { reason: `calibration with --calibration-input: ${e.message}` });
      }
      throw e;
    }
    return { skipped: (e as Error).message.split('\n')[0]! };
  }
}

/** The compile options a range check gives: its measured ranges, none when it was skipped or not run. */
export function rangeOptions(check: RangeCheck | undefined): { valueRanges?: Map<string, number> } {
  return check && 'calibration' in check ? { valueRanges: check.calibration.ranges } : {};
}

/** One line for standard error about the range check and the nodes it kept in float32. */
export function describeRangeCheck(check: RangeCheck, kept: readonly { node: string; why: string }[]): string {
  if ('skipped' in check) return `fp16 range check skipped (${check.skipped}): every float is stored in float16\n`;
  const c = check.calibration;
  const inputs = [c.given.length ? `${c.given.length} given` : '', c.generated.length ? `${c.generated.length} generated` : ''].filter(Boolean).join(' and ');
  const head = `fp16 range check (${inputs} input${c.given.length + c.generated.length === 1 ? '' : 's'}, batch ${c.batch ?? '?'}, ${(c.ms / 1000).toFixed(1)} s on the cpu)`;
  if (!kept.length) return `${head}: every value fits float16\n`;
  return `${head}: ${kept.length} node${kept.length === 1 ? '' : 's'} keep float32, first ${kept[0]!.node}: ${kept[0]!.why}\n`;
}
