// mcpc inspect: a readable summary of an artifact (I/O specs, modules, kernels by family and op,
// weights, arena), optional kernel and memory listings, and --json for tools.

import { readArtifactFile, type Artifact } from '../runtime/artifact-reader.js';
import { diagnostic } from '../compiler/diagnostics.js';
import { parseCommandArgs, type Io } from './main.js';
import { formatFlags, INSPECT_FLAGS, parseArgsConfig } from './options.js';
import { formatBytes, formatCount, table } from './format.js';

export const INSPECT_USAGE = `Usage: mcpc inspect MODEL.mcp [options]

Summarizes a compiled artifact: target, inputs and outputs, modules, kernels, weights and the
activation arena.

Options:
${formatFlags(INSPECT_FLAGS)}
`;

function countBy<T>(items: readonly T[], key: (t: T) => string): [string, number][] {
  const m = new Map<string, number>();
  for (const it of items) m.set(key(it), (m.get(key(it)) ?? 0) + 1);
  return [...m.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
}

export function inspectSummary(a: Artifact) {
  const { header, plan } = a;
  const weightBytes = header.weights.reduce((acc, w) => acc + w.byteLength, 0);
  return {
    path: a.path,
    format: { version: header.formatVersion, producer: header.producer, bytes: a.bytes.byteLength },
    source: header.source,
    target: header.target,
    precision: header.precision,
    options: header.options,
    inputs: header.inputs,
    outputs: header.outputs,
    modules: header.modules,
    kernels: {
      count: plan.kernels.length,
      byFamily: Object.fromEntries(countBy(plan.kernels, (k) => k.family)),
      byOp: Object.fromEntries(countBy(plan.kernels, (k) => k.op)),
    },
    weights: {
      count: header.weights.length,
      bytes: weightBytes,
      largest: [...header.weights].sort((x, y) => y.byteLength - x.byteLength).slice(0, 5).map((w) => ({ name: w.name, dtype: w.dtype, shape: w.shape, bytes: w.byteLength })),
    },
    arena: header.arena,
  };
}

export function runInspect(args: string[], io: Io): number {
  const { values, positionals } = parseCommandArgs(args, parseArgsConfig(INSPECT_FLAGS));
  if (values['help']) {
    io.out(INSPECT_USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw diagnostic('badFlag', { reason: 'expected one artifact (mcpc inspect MODEL.mcp)' });
  const artifact = readArtifactFile(positionals[0]!);
  const s = inspectSummary(artifact);
  if (values['json']) {
    const extra: Record<string, unknown> = {};
    if (values['kernels']) extra['kernelList'] = artifact.plan.kernels;
    if (values['memory']) extra['slots'] = artifact.plan.slots;
    io.out(`${JSON.stringify({ ...s, ...extra }, null, 2)}\n`);
    return 0;
  }
  const spec = (t: { name: string; dtype: string; shape: number[] }) => [`  ${t.name}`, `${t.dtype}[${t.shape.join(',')}]`];
  let out = `${s.path}: mcpc artifact v${s.format.version} (${formatBytes(s.format.bytes)}), ${s.target} ${s.precision}, from ${s.source.model}${s.source.producer ? ` (${s.source.producer})` : ''}\n`;
  out += `\ninputs:\n${table(s.inputs.map(spec))}outputs:\n${table(s.outputs.map(spec))}`;
  out += `\nmodules: ${s.modules.length}\n`;
  out += table([['  id', 'kernels', 'FLOPs', 'bytes moved', 'weights', 'peak activations'], ...s.modules.map((m) => [
    `  ${m.id}`, String(m.kernels[1] - m.kernels[0]), formatCount(m.profile.flops), formatBytes(m.profile.bytesMoved), formatBytes(m.profile.weightBytes), formatBytes(m.profile.peakActivationBytes),
  ])]);
  out += `\nkernels: ${s.kernels.count} (${Object.entries(s.kernels.byFamily).map(([f, n]) => `${n} ${f}`).join(', ')})\n`;
  out += `  ops: ${Object.entries(s.kernels.byOp).map(([o, n]) => `${o} ${n}`).join(', ')}\n`;
  out += `\nweights: ${s.weights.count} tensors, ${formatBytes(s.weights.bytes)}\n`;
  out += table(s.weights.largest.map((w) => [`  ${w.name}`, `${w.dtype}[${w.shape.join(',')}]`, formatBytes(w.bytes)]));
  const ar = s.arena;
  out += `\narena: ${formatBytes(ar.size)} (lower bound ${formatBytes(ar.lowerBound)}, naive ${formatBytes(ar.naiveSize)}, ${ar.naiveSize ? ((100 * (1 - ar.size / ar.naiveSize)).toFixed(1)) : '0'}% saved)\n`;
  if (values['kernels']) {
    const slot = (id: number) => (id < 0 ? '_' : artifact.plan.slots[id]!.name);
    out += `\nkernel list:\n${table([['  #', 'family', 'op', 'inputs', 'outputs', 'source nodes'], ...artifact.plan.kernels.map((k) => [
      `  ${k.id}`, k.family, k.op, k.inputs.map(slot).join(', '), k.outputs.map(slot).join(', '), k.sources.join(', '),
    ])])}`;
  }
  if (values['memory']) {
    out += `\nbuffers:\n${table([['  slot', 'kind', 'index/offset', 'bytes', 'type'], ...artifact.plan.slots.map((sl) => [
      `  ${sl.name}`, sl.kind, String(sl.index), String(sl.byteLength), `${sl.dtype}[${sl.shape.join(',')}]`,
    ])])}`;
  }
  io.out(out);
  return 0;
}
