// Runs the ONNX backend node tests (model.onnx + test_data_set_*/input_N.pb, output_N.pb) through
// the importer and the reference interpreter, and classifies each case as passed, failed
// (wrong values, or an error that is not an "unsupported" diagnostic) or unsupported.
//
// Usage: npm run build && node dist/scripts/conformance.js [--dir DIR] [--filter SUBSTRING] [--verbose] [--json FILE]
// DIR defaults to ../shared/onnx-node-tests/node beside the checkout; scripts/make-onnx-node-tests.py
// regenerates the cases where that folder is absent.

import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DiagnosticError } from '../compiler/diagnostics.js';
import { interpret } from '../compiler/interpreter/interpret.js';
import { decodeTensorProto } from '../compiler/onnx/decode.js';
import { importOnnxFile } from '../compiler/onnx/import.js';
import { tensorFromProto } from '../compiler/onnx/tensor-proto.js';
import type { TensorData } from '../compiler/ir/tensor.js';

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
const UNSUPPORTED_CODES = new Set(['MCPC2001', 'MCPC2002', 'MCPC2003', 'MCPC2011', 'MCPC1009', 'MCPC1010', 'MCPC1005']);

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

export function runCase(caseDir: string): CaseResult {
  const name = caseDir.split(/[\\/]/).pop()!;
  const start = performance.now();
  const done = (status: CaseStatus, reason?: string): CaseResult => ({ name, status, reason, ms: performance.now() - start });
  try {
    const { graph } = importOnnxFile(join(caseDir, 'model.onnx'));
    const sets = readdirSync(caseDir).filter((d) => d.startsWith('test_data_set_')).sort();
    for (const set of sets) {
      const dir = join(caseDir, set);
      const feeds = new Map<string, TensorData>();
      graph.inputs.forEach((input, i) => {
        const p = join(dir, `input_${i}.pb`);
        if (existsSync(p)) feeds.set(input.name, loadTensor(p));
      });
      const outputs = interpret(graph, feeds);
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
    const err = e as Error;
    return done('crashed', `${err.name}: ${err.message}\n${err.stack?.split('\n').slice(1, 4).join('\n')}`);
  }
}

export function runConformance(dir: string, filter?: string): ConformanceReport {
  const names = readdirSync(dir).filter((d) => d.startsWith('test_') && (!filter || d.includes(filter))).sort();
  const cases = names.map((n) => runCase(join(dir, n)));
  const count = (s: CaseStatus) => cases.filter((c) => c.status === s).length;
  return { total: cases.length, passed: count('passed'), failed: count('failed'), unsupported: count('unsupported'), crashed: count('crashed'), cases };
}

export function summarize(r: ConformanceReport): string {
  const pct = r.total ? ((100 * r.passed) / r.total).toFixed(1) : '0';
  return `${r.passed} passed, ${r.failed} failed, ${r.unsupported} unsupported, ${r.crashed} crashed of ${r.total} (${pct}% pass)`;
}

function main(): void {
  const { values } = parseArgs({
    options: {
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
  const report = runConformance(dir, values.filter);
  for (const c of report.cases) {
    if (c.status === 'passed' && !values.verbose) continue;
    console.log(`${c.status.padEnd(11)} ${c.name}${c.reason ? `: ${c.reason}` : ''}`);
  }
  console.log(summarize(report));
  if (values.json) writeFileSync(values.json, JSON.stringify(report, null, 1));
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) main();
