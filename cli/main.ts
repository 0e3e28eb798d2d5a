// The mcpc command line: dispatches to the commands, turns diagnostics into one-line errors and
// exit codes (0 success, 2 user error, 1 internal error), and never prints a stack trace for a user
// error.

import { parseArgs } from 'node:util';
import { DiagnosticError, diagnostic } from '../compiler/diagnostics.js';
import { ArtifactError } from '../runtime/artifact-reader.js';
import { runCompile, COMPILE_USAGE } from './compile-command.js';
import { runInspect, INSPECT_USAGE } from './inspect-command.js';
import { runRun, RUN_USAGE } from './run-command.js';
import { ENVIRONMENT } from './options.js';

export const VERSION = '0.1.0';

const USAGE = `mcpc ${VERSION}: ahead-of-time compiler for ONNX models

Usage: mcpc <command> [options]

Commands:
  compile MODEL.onnx    compile a model into an artifact (.mcp)
  inspect MODEL.mcp     summarize an artifact: inputs, outputs, kernels, weights, memory
  run MODEL.mcp         run an artifact (or an .onnx model) on .npy inputs

Options:
  -h, --help            show help (also: mcpc help <command>)
  -v, --version         print the version

Run 'mcpc <command> --help' for a command's options.
Exit codes: 0 success, 2 usage or model error, 1 internal error.
`;

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  /** Whether standard error is a terminal (progress display). */
  tty: boolean;
}

const defaultIo: Io = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  tty: !!process.stderr.isTTY && !ENVIRONMENT.NO_COLOR,
};

export async function main(argv: string[], io: Io = defaultIo): Promise<number> {
  try {
    const [command, ...rest] = argv;
    switch (command) {
      case undefined:
      case '-h':
      case '--help':
        io.out(USAGE);
        return 0;
      case 'help': {
        const topic = rest[0];
        io.out(topic === 'compile' ? COMPILE_USAGE : topic === 'inspect' ? INSPECT_USAGE : topic === 'run' ? RUN_USAGE : USAGE);
        return 0;
      }
      case '-v':
      case '--version':
        io.out(`mcpc ${VERSION}\n`);
        return 0;
      case 'compile':
        return await runCompile(rest, io);
      case 'inspect':
        return runInspect(rest, io);
      case 'run':
        return await runRun(rest, io);
      default:
        throw diagnostic('badFlag', { reason: `unknown command '${command}' (commands: compile, inspect, run; see mcpc --help)` });
    }
  } catch (e) {
    return reportError(e, io);
  }
}

export function reportError(e: unknown, io: Io): number {
  if (e instanceof DiagnosticError) {
    io.err(`mcpc: error ${e.code}: ${e.message}\n`);
    return 2;
  }
  if (e instanceof ArtifactError) {
    io.err(`mcpc: error ${e.code}: ${e.message}\n`);
    return 2;
  }
  const err = e as Error & { code?: string };
  if (err?.code && /^ERR_PARSE_ARGS/.test(err.code)) {
    io.err(`mcpc: error MCPC3001: ${err.message}\n`);
    return 2;
  }
  io.err(`mcpc: internal error: ${err?.message ?? String(e)}\n`);
  if (ENVIRONMENT.MCPC_DEBUG && err?.stack) io.err(`${err.stack}\n`);
  else io.err('This is a bug in mcpc. Run with MCPC_DEBUG=1 for a stack trace and report it.\n');
  return 1;
}

/** parseArgs with our flag table; its errors become MCPC3001 diagnostics. */
export function parseCommandArgs(
  args: string[],
  options: NonNullable<NonNullable<Parameters<typeof parseArgs>[0]>['options']>,
): { values: Record<string, string | boolean | (string | boolean)[] | undefined>; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args, options, allowPositionals: true, strict: true });
    return { values: values as Record<string, string | boolean | (string | boolean)[] | undefined>, positionals };
  } catch (e) {
    throw diagnostic('badFlag', { reason: (e as Error).message.split('\n')[0]! });
  }
}
