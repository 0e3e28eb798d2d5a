// The ONNX backend node tests on the reference interpreter: the pass count must not fall below the
// recorded floor, nothing may crash, and every non-passing case must carry a diagnostic saying why.
// Uses ../shared/onnx-node-tests when present; otherwise regenerates the cases with
// scripts/make-onnx-node-tests.py if python3 with onnx is available; otherwise it is skipped.

import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findNodeTestsDir, runConformance, runNativeIsolated, summarize } from '../../scripts/conformance.js';

const ROOT = join(import.meta.dirname, '..', '..');
const floor = JSON.parse(readFileSync(join(import.meta.dirname, 'floor.json'), 'utf8')) as { passed: number; nativePassed: number; cases: number };

function nodeTestsDir(): string | undefined {
  const found = findNodeTestsDir();
  if (found) return found;
  const out = join(ROOT, 'build', 'onnx-node-tests', 'node');
  const r = spawnSync('python3', [join(ROOT, 'scripts', 'make-onnx-node-tests.py'), '-o', out], { encoding: 'utf8' });
  return r.status === 0 && existsSync(out) ? out : undefined;
}

const dir = nodeTestsDir();

describe.skipIf(!dir)('ONNX backend node tests on the reference interpreter', () => {
  it(`passes at least the recorded floor (${floor.passed} of ${floor.cases})`, async () => {
    const report = await runConformance(dir!);
    console.log(`onnx node tests: ${summarize(report)}`);
    expect(report.crashed, report.cases.filter((c) => c.status === 'crashed').map((c) => `${c.name}: ${c.reason}`).join('\n')).toBe(0);
    for (const c of report.cases) {
      if (c.status !== 'passed') expect(c.reason, c.name).toMatch(/\S/);
    }
    expect(report.passed).toBeGreaterThanOrEqual(floor.passed);
  });
});

describe.skipIf(!dir)('ONNX backend node tests compiled for the cpu target and run natively', () => {
  it(`passes at least the recorded floor (${floor.nativePassed} of ${floor.cases}), and nothing crashes`, async () => {
    const ROOT_DIST = join(ROOT, 'dist', 'scripts', 'conformance.js');
    expect(existsSync(ROOT_DIST), 'the native runner needs the build (npm run build)').toBe(true);
    const report = await runNativeIsolated(dir!, undefined);
    console.log(`onnx node tests, native: ${summarize(report)}`);
    expect(report.crashed, report.cases.filter((c) => c.status === 'crashed').map((c) => c.name).join('\n')).toBe(0);
    expect(report.passed).toBeGreaterThanOrEqual(floor.nativePassed);
  });
});
