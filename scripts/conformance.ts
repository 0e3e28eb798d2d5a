// Runs the ONNX backend node tests (model.onnx + test_data_set_*/input_N.pb, output_N.pb) through
// the importer and the reference interpreter, and classifies each case as passed, failed
// (wrong values, or an error that is not an "unsupported" diagnostic) or unsupported.
//
// With --engine native, each case is instead compiled for the cpu target (input shapes bound to
// the test's inputs) and run by the native executor through the Session API; a case whose model
// needs a kernel the cpu target lacks, or a data-dependent shape, is unsupported there.
//
// Usage: npm run conformance -- [--engine reference|native] [--dir DIR] [--filter SUBSTRING] [--verbose] [--json FILE]
// DIR defaults to ../shared/onnx-node-tests/node beside the checkout; scripts/make-onnx-node-tests.py
// regenerates the cases where that folder is absent.

import { existsSync, readdirSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DiagnosticError } from '../compiler/diagnostics.js';
import { interpret } from '../compiler/interpreter/interpret.js';
import { decodeTensorProto } from '../compiler/onnx/decode.js';
import { importOnnxFile } from '../compiler/onnx/import.js';
import { tensorFromProto } from '../compiler/onnx/tensor-proto.js';
import { TensorData } from '../compiler/ir/tensor.js';

export type CaseStatus = 'passed' | 'failed' | 'unsupported' | 'crashed';

export interface CaseResult {
  name: string;
  status: CaseStatus;
  reason?: string;
  ms: number;
}

export interface ConformanceReport {
  total: number;
  passed: number;
  failed: number;
  unsupported: number;
  crashed: number;
  cases: CaseResult[];
}

/** Diagnostic codes that mean "the compiler does not support this yet" rather than "wrong". */
const UNSUPPORTED_CODES = new Set(['MCPC2001', 'MCPC2002', 'MCPC2003', 'MCPC2011', 'MCPC1009', 'MCPC1010', 'MCPC1005', 'MCPC2012', 'MCPC2013', 'MCPC2014', 'MCPC2015', 'MCPC4011']);

export type Engine = 'reference' | 'native';

export const RTOL = 1e-3;
export const ATOL = 1e-7;


export function findNodeTestsDir(): string | undefined {
  const candidates = [
    resolve(process.cwd(), '..', 'shared', 'onnx-node-tests', 'node'),
    resolve(process.cwd(), 'build', 'onnx-node-tests', 'node'),
  ];
  return candidates.find((d) => existsSync(d));
}

function loadTensor(path: string): TensorData {
  const proto = decodeTensorProto(readFileSync(path), path);
  return tensorFromProto(proto, path);
}

export function compareTensors(actual: TensorData, expected: TensorData, rtol = RTOL, atol = ATOL): string | undefined {
  if (actual.dtype !== expected.dtype) return `dtype ${actual.dtype}, expected ${expected.dtype}`;
  if (actual.dims.length !== expected.dims.length || actual.dims.some((d, i) => d !== expected.dims[i])) {
    return `shape [${actual.dims.join(',')}], expected [${expected.dims.join(',')}]`;
  }
  const a = actual.values;
  const e = expected.values;
  let worst = -1;
  let worstErr = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = e[i]!;
    if (Number.isNaN(y) && Number.isNaN(x)) continue;
    if (x === y) continue;
    const err = Math.abs(x - y);
    if (!(err <= atol + rtol * Math.abs(y))) {
      if (worst < 0 || !(err <= worstErr)) {
        worst = i;
        worstErr = err;
      }
    }
  }
  if (worst >= 0) return `element ${worst}: got ${a[worst]}, expected ${e[worst]} (and possibly others)`;
  return undefined;
}

function caseFeeds(graphInputs: readonly { name: string }[], dir: string): Map<string, TensorData> {
  const feeds = new Map<string, TensorData>();
  graphInputs.forEach((input, i) => {
    const p = join(dir, `input_${i}.pb`);
    if (existsSync(p)) feeds.set(input.name, loadTensor(p));
  });
  return feeds;
}

/** Compiles the case's model for the cpu target with its inputs' shapes, and runs it natively. */
async function runNative(modelPath: string, feeds: Map<string, TensorData>): Promise<Map<string, TensorData>> {
  const { compileModel, readModelFile } = await import('../compiler/compile.js');
  const { artifactToBuffer } = await import('../compiler/artifact/writer.js');
  const { Session } = await import('../runtime/index.js');
  const shapes = new Map([...feeds].map(([k, t]) => [k, [...t.dims]]));
  const source = readModelFile(modelPath);
  let result;
  try {
    result = compileModel(source, { target: 'cpu', shapes });
  } catch (e) {
    // Shape tensors fed as inputs (Reshape's shape, Slice's starts...) make shapes data-dependent;
    // an AOT compile needs their values, as TensorRT needs those of its shape tensors.
    if (!(e instanceof DiagnosticError) || (e.code !== 'MCPC2013' && e.code !== 'MCPC2014')) throw e;
    const values = new Map([...feeds].filter(([, t]) => isShapeTensor(t)).map(([k, t]) => [k, Array.from(t.values)]));
    if (values.size === 0) throw e;
    for (const k of values.keys()) shapes.delete(k);
    result = compileModel(source, { target: 'cpu', shapes, values });
  }
  const session = await Session.load(artifactToBuffer(result.artifact!), { threads: 1 });
  try {
    const ins: Record<string, { type: string; dims: number[]; data: unknown }> = {};
    for (const [k, t] of feeds) ins[k] = toRuntimeTensor(t);
    const out = await session.run(ins as never);
    return new Map(Object.entries(out).map(([k, v]) => [k, fromRuntimeTensor(v.dtype, v.dims, v.data)]));
  } finally {
    session.dispose();
  }
}

/** Small inputs whose contents can decide an output shape (shapes, scales, counts, limits). */
function isShapeTensor(t: TensorData): boolean {
  return ['i64', 'i32', 'f32', 'f64'].includes(t.dtype) && t.rank <= 1 && t.size <= 64;
}

const ORT_NAMES: Record<string, string> = {
  f32: 'float32', f16: 'float16', bf16: 'bfloat16', f64: 'float64', i64: 'int64', i32: 'int32', i16: 'int16', i8: 'int8',
  u64: 'uint64', u32: 'uint32', u16: 'uint16', u8: 'uint8', bool: 'bool',
  f8e4m3fn: 'float8e4m3fn', f8e4m3fnuz: 'float8e4m3fnuz', f8e5m2: 'float8e5m2', f8e5m2fnuz: 'float8e5m2fnuz', f8e8m0: 'float8e8m0',
  f4e2m1: 'float4e2m1', i4: 'int4', u4: 'uint4', i2: 'int2', u2: 'uint2',
};

function toRuntimeTensor(t: TensorData): { type: string; dims: number[]; data: unknown } {
  const b = t.bytes;
  const copy = new Uint8Array(b).buffer; // a fresh buffer: b may view a larger pool
  const arrays: Record<string, (buf: ArrayBuffer) => unknown> = {
    f32: (x) => new Float32Array(x), f64: (x) => new Float64Array(x), f16: (x) => new Uint16Array(x), bf16: (x) => new Uint16Array(x),
    i64: (x) => new BigInt64Array(x), u64: (x) => new BigUint64Array(x), i32: (x) => new Int32Array(x), u32: (x) => new Uint32Array(x),
    i16: (x) => new Int16Array(x), u16: (x) => new Uint16Array(x), i8: (x) => new Int8Array(x), u8: (x) => new Uint8Array(x), bool: (x) => new Uint8Array(x),
  };
  // Low-precision types travel as their bytes, packed as TensorData.bytes packs them.
  for (const d of ['f8e4m3fn', 'f8e4m3fnuz', 'f8e5m2', 'f8e5m2fnuz', 'f8e8m0', 'f4e2m1', 'i4', 'u4', 'i2', 'u2']) arrays[d] = (x) => new Uint8Array(x);
  const make = arrays[t.dtype];
  if (!make) throw new DiagnosticError('unsupportedDtype', { what: 'a test input', dtype: t.dtype });
  return { type: ORT_NAMES[t.dtype]!, dims: [...t.dims], data: make(copy) };
}

function fromRuntimeTensor(dtype: string, dims: readonly number[], data: ArrayBufferView): TensorData {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return TensorData.fromBytes(dtype as TensorData['dtype'], dims, bytes);
}

export async function runCase(caseDir: string, engine: Engine = 'reference'): Promise<CaseResult> {
  const name = caseDir.split(/[\\/]/).pop()!;
  const start = performance.now();
  const done = (status: CaseStatus, reason?: string): CaseResult => ({ name, status, reason, ms: performance.now() - start });
  try {
    const modelPath = join(caseDir, 'model.onnx');
    const { graph } = importOnnxFile(modelPath);
    const sets = readdirSync(caseDir).filter((d) => d.startsWith('test_data_set_')).sort();
    for (const set of sets) {
      const dir = join(caseDir, set);
      const feeds = caseFeeds(graph.inputs, dir);
      const outputs = engine === 'native' ? await runNative(modelPath, feeds) : interpret(graph, feeds);
      for (let i = 0; i < graph.outputs.length; i++) {
        const p = join(dir, `output_${i}.pb`);
        if (!existsSync(p)) continue;
        const expected = loadTensor(p);
        const actual = outputs.get(graph.outputs[i]!.name)!;
        const mismatch = compareTensors(actual, expected);
        if (mismatch) return done('failed', `${set} output ${i} (${graph.outputs[i]!.name}): ${mismatch}`);
      }
    }
    return done('passed');
  } catch (e) {
    if (e instanceof DiagnosticError) {
      return done(UNSUPPORTED_CODES.has(e.code) ? 'unsupported' : 'failed', `${e.code} ${e.message}`);
    }
    const coded = e as Error & { code?: unknown };
    if (typeof coded.code === 'string' && /^MCPC\d{4}$/.test(coded.code)) {
      return done(UNSUPPORTED_CODES.has(coded.code) ? 'unsupported' : 'failed', `${coded.code} ${coded.message}`);
    }
    const err = e as Error;
    return done('crashed', `${err.name}: ${err.message}\n${err.stack?.split('\n').slice(1, 4).join('\n')}`);
  }
}

export async function runNativeIsolated(dir: string, filter: string | undefined, onCase?: (c: CaseResult) => void): Promise<ConformanceReport> {
  const names = readdirSync(dir).filter((d) => d.startsWith('test_') && (!filter || d.includes(filter))).sort();
  const cases = await runIsolated(dir, names, 'native', onCase);
  const count = (s: CaseStatus) => cases.filter((c) => c.status === s).length;
  return { total: cases.length, passed: count('passed'), failed: count('failed'), unsupported: count('unsupported'), crashed: count('crashed'), cases };
}

export async function runConformance(
  dir: string,
  filter?: string,
  engine: Engine = 'reference',
  onCase?: (c: CaseResult) => void,
): Promise<ConformanceReport> {
  const names = readdirSync(dir).filter((d) => d.startsWith('test_') && (!filter || d.includes(filter))).sort();
  const cases: CaseResult[] = [];
  for (const n of names) {
    const c = await runCase(join(dir, n), engine);
    onCase?.(c);
    cases.push(c);
  }
  const count = (s: CaseStatus) => cases.filter((c) => c.status === s).length;
  return { total: cases.length, passed: count('passed'), failed: count('failed'), unsupported: count('unsupported'), crashed: count('crashed'), cases };
}

/** The compiled runner (children run plain Node, also when this module is loaded from source by tests). */
function childScript(): string {
  const self = new URL(import.meta.url).pathname;
  return self.endsWith('.js') ? self : resolve(import.meta.dirname, '..', 'dist', 'scripts', 'conformance.js');
}

/**
 * Runs the cases in child processes that report each result as a JSON line, so that a case that
 * kills its process (a native crash) is recorded as crashed and the rest still run.
 */
export async function runIsolated(dir: string, names: string[], engine: Engine, onCase?: (c: CaseResult) => void): Promise<CaseResult[]> {
  const { spawnSync } = await import('node:child_process');
  const results: CaseResult[] = [];
  let rest = names;
  while (rest.length > 0) {
    const r = spawnSync(process.execPath, [childScript(), '--child', '--engine', engine, '--dir', dir], {
      input: rest.join('\n'), encoding: 'utf8', maxBuffer: 1 << 28,
    });
    const done = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as CaseResult);
    for (const c of done) {
      onCase?.(c);
      results.push(c);
    }
    rest = rest.slice(done.length);
    if (rest.length > 0) {
      const crashed: CaseResult = { name: rest[0]!, status: 'crashed', reason: `the process died (${r.signal ?? `exit ${r.status}`})`, ms: 0 };
      onCase?.(crashed);
      results.push(crashed);
      rest = rest.slice(1);
    }
  }
  return results;
}

export function summarize(r: ConformanceReport): string {
  const pct = r.total ? ((100 * r.passed) / r.total).toFixed(1) : '0';
  return `${r.passed} passed, ${r.failed} failed, ${r.unsupported} unsupported, ${r.crashed} crashed of ${r.total} (${pct}% pass)`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      engine: { type: 'string', default: 'reference' },
      child: { type: 'boolean', default: false },
      dir: { type: 'string' },
      filter: { type: 'string' },
      verbose: { type: 'boolean', default: false },
      json: { type: 'string' },
    },
  });
  const dir = values.dir ?? findNodeTestsDir();
  if (!dir || !existsSync(dir)) {
    console.error('conformance: no node tests found; pass --dir or run scripts/make-onnx-node-tests.py');
    process.exit(2);
  }
  const engine = values.engine as Engine;
  if (values.child) {
    const names = readFileSync(0, 'utf8').split('\n').filter(Boolean);
    for (const n of names) writeSync(1, `${JSON.stringify(await runCase(join(dir, n), engine))}\n`);
    return;
  }
  if (engine !== 'reference' && engine !== 'native') {
    console.error(`conformance: --engine must be reference or native, got '${engine}'`);
    process.exit(2);
  }
  const print = (c: CaseResult) => {
    if (c.status === 'passed' && !values.verbose) return;
    writeSync(1, `${c.status.padEnd(11)} ${c.name}${c.reason ? `: ${c.reason}` : ''}\n`);
  };
  // Native cases run in child processes, so that a crash is reported as one crashed case.
  const report = engine === 'native' ? await runNativeIsolated(dir, values.filter, print) : await runConformance(dir, values.filter, engine, print);
  console.log(summarize(report));
  if (values.json) writeFileSync(values.json, JSON.stringify(report, null, 1));
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) await main();
