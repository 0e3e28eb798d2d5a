// Every flag of every mcpc command, declared once: the parser, the help text and the JSON summary
// read these tables. Environment variables the CLI honours are listed here too.

import type { ParseArgsConfig } from 'node:util';

export interface FlagSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  value?: string;
  help: string;
}

export const COMPILE_FLAGS: Record<string, FlagSpec> = {
  output: { type: 'string', short: 'o', value: 'FILE', help: 'where to write the artifact (default: the model path with .mcp)' },
  target: { type: 'string', value: 'cpu|cuda', help: 'target to compile for (default: cpu)' },
  precision: { type: 'string', value: 'fp32|tf32|fp16|bf16', help: 'arithmetic precision of the plan (default: fp32)' },
  shape: { type: 'string', multiple: true, value: 'NAME=DxD...', help: 'fix the shape of an input, binding its symbolic dims (repeatable), e.g. input_ids=1x128' },
  value: { type: 'string', multiple: true, value: 'NAME=V,V...', help: 'fix the contents of a small input at compile time (a shape tensor, Resize scales); feeds must then equal it (repeatable)' },
  'print-after': { type: 'string', multiple: true, value: 'PASS|all', help: 'print the IR to standard error after a pass (repeatable)' },
  'compile-to': { type: 'string', value: 'PHASE', help: 'stop at a phase: import, canonical, optimized (print .mcir), plan (print the kernel plan JSON) or artifact' },
  'verify-ir': { type: 'boolean', help: 'run the IR verifier after every pass' },
  'disable-pass': { type: 'string', multiple: true, value: 'PASS', help: 'do not run an optimizer pass (repeatable), e.g. channels-last' },
  'enable-pass': { type: 'string', multiple: true, value: 'PASS', help: 'run an optimizer pass the target would skip at this batch or precision (repeatable), e.g. fuse-projection-views' },
  'calibration-input': { type: 'string', multiple: true, value: 'NAME=FILE.npy', help: 'fp16 on cuda: an input for the range check (repeatable); inputs not given are generated' },
  'no-calibration': { type: 'boolean', help: 'fp16 on cuda: skip the range check (a float32 cpu run that keeps in float32 the nodes whose values float16 cannot hold)' },
  'opt-level': { type: 'string', short: 'O', value: '0|1', help: 'optimization level: -O0 turns kernel fusion off (one kernel per node), -O1 fuses (default where the target runs fused kernels)' },
  json: { type: 'boolean', help: 'print a machine-readable summary on standard output' },
  quiet: { type: 'boolean', short: 'q', help: 'print nothing but errors' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
};

export const INSPECT_FLAGS: Record<string, FlagSpec> = {
  json: { type: 'boolean', help: 'print the summary as JSON' },
  kernels: { type: 'boolean', help: 'list every kernel with its family, op and source nodes' },
  memory: { type: 'boolean', help: 'list every value of the plan with its tier (io, weights, dram offset, register) and size' },
  fusion: { type: 'boolean', help: 'list every kernel with its family, op, fused prologue/epilogue steps and source nodes' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
};

/** Environment variables read by the CLI. */
export const ENVIRONMENT = {
  /** Set to any value to disable colour and progress output. */
  NO_COLOR: process.env['NO_COLOR'],
  /** Set to 1 to print stack traces of internal errors. */
  MCPC_DEBUG: process.env['MCPC_DEBUG'],
} as const;

export function parseArgsConfig(flags: Record<string, FlagSpec>): NonNullable<ParseArgsConfig['options']> {
  return Object.fromEntries(
    Object.entries(flags).map(([name, f]) => [name, { type: f.type, ...(f.short ? { short: f.short } : {}), ...(f.multiple ? { multiple: true } : {}) }]),
  );
}

export function formatFlags(flags: Record<string, FlagSpec>): string {
  const rows = Object.entries(flags).map(([name, f]) => {
    const left = `${f.short ? `-${f.short}, ` : '    '}--${name}${f.value ? ` ${f.value}` : ''}`;
    return [left, f.help] as const;
  });
  const width = Math.max(...rows.map(([l]) => l.length)) + 2;
  return rows.map(([l, h]) => `  ${l.padEnd(width)}${h}`).join('\n');
}
