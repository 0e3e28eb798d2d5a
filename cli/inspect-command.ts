// mcpc inspect: a readable summary of an artifact (I/O specs, modules, kernels by family and op,
// weights, arena), optional kernel, fusion and memory listings, and --json for tools.

import type { FusedOperand, FusedStep, Kernel, KernelPlan } from '../compiler/artifact/format.js';
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

function formatOperand(a: FusedOperand, stepPrefix: string): string {
  return 'acc' in a ? 'acc' : 'input' in a ? `in${a.input}` : `${stepPrefix}${a.step}`;
}

function formatSteps(steps: readonly FusedStep[], prefix: string): string {
  return steps.map((st, i) => `${prefix}${i}=${st.op}(${st.args.map((a) => formatOperand(a, prefix)).join(',')})`).join(' ');
}

/** What fusion made of the plan: per kernel its family, op, steps and sources, and totals. */
export function fusionSummary(plan: KernelPlan) {
  const fused = plan.kernels.filter((k) => k.epilogue || k.prologue);
  const sources = plan.kernels.reduce((acc, k) => acc + k.sources.length, 0);
  const stepOps = new Map<string, number>();
  for (const k of fused) for (const st of [...(k.prologue ?? []), ...(k.epilogue ?? [])]) stepOps.set(st.op, (stepOps.get(st.op) ?? 0) + 1);
  return {
    kernels: plan.kernels.length,
    sourceNodes: sources,
    fusedKernels: fused.length,
    fusedByFamily: Object.fromEntries(countBy(fused, (k) => k.family)),
    stepOps: Object.fromEntries([...stepOps.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))),
    list: plan.kernels.map((k) => ({ id: k.id, family: k.family, op: k.op, prologue: k.prologue ?? [], epilogue: k.epilogue ?? [], sources: k.sources })),
  };
}

function broadcastShape(shapes: readonly number[][]): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  return Array.from({ length: rank }, (_, i) => Math.max(1, ...shapes.map((s) => s[s.length - rank + i] ?? 1)));
}

/**
 * Values that live only inside fused kernels (tier 'register'): each kernel's anchor result when
 * it has an epilogue, its prologue steps, and its epilogue steps but the last (the kernel output).
 */
export function registerValues(plan: KernelPlan): { kernel: number; name: string; op: string; source: string; dtype: string; shape: number[] }[] {
  const out: ReturnType<typeof registerValues> = [];
  for (const k of plan.kernels) {
    const result = plan.slots[k.outputs[0]!]!;
    const inputShape = (i: number) => plan.slots[k.inputs[i]!]?.shape ?? [];
    if (k.prologue?.length) {
      const shape = broadcastShape(k.prologue.flatMap((st) => st.args.flatMap((a) => ('input' in a ? [inputShape(a.input)] : []))));
      k.prologue.forEach((st, i) => out.push({ kernel: k.id, name: `p${i}`, op: st.op, source: st.source, dtype: st.dtype, shape }));
    }
    if (k.epilogue?.length) {
      const anchored = k.op !== 'Elementwise';
      const casts = k.epilogue.some((st) => st.op === 'Cast' || st.op === 'CastLike');
      if (anchored) out.push({ kernel: k.id, name: 'acc', op: k.op, source: k.sources.find((s) => !k.epilogue!.some((st) => st.source === s) && !(k.prologue ?? []).some((st) => st.source === s)) ?? '', dtype: casts ? '?' : result.dtype, shape: result.shape });
      k.epilogue.slice(0, -1).forEach((st, i) => out.push({ kernel: k.id, name: `e${i}`, op: st.op, source: st.source, dtype: st.dtype, shape: result.shape }));
    }
  }
  return out;
}

/** Where a slot lives: io, weights, the L2 window of a GPU plan's arena, the DRAM arena, or memory allocated at run time. */
function slotTier(slot: { kind: string; index: number }, l2Window: number): string {
  if (slot.kind === 'arena') return slot.index < l2Window ? 'l2' : 'dram';
  if (slot.kind === 'heap') return 'heap';
  return slot.kind === 'weight' ? 'weights' : 'io';
}

function fusionListing(plan: KernelPlan): string {
  const f = fusionSummary(plan);
  let out = `\nfusion: ${f.kernels} kernels for ${f.sourceNodes} source nodes (${f.kernels ? (f.sourceNodes / f.kernels).toFixed(2) : '0'} per kernel); ${f.fusedKernels} fused (${Object.entries(f.fusedByFamily).map(([k, n]) => `${n} ${k}`).join(', ') || 'none'})\n`;
  out += `  step ops: ${Object.entries(f.stepOps).map(([o, n]) => `${o} ${n}`).join(', ') || 'none'}\n`;
  // A cuda kernel whose epilogue cuDNN's conv-bias-activation can compute instead of the launch.
  const cudnn = (k: Kernel) => {
    const f = k.cuda?.fusedEpilogue;
    return f ? `cuDNN bias-act(${[...(f.residual === undefined ? [] : [`z=in${f.residual}`]), f.relu ? 'relu' : 'identity'].join(', ')})` : '';
  };
  const steps = (k: Kernel) => [k.prologue?.length ? `prologue ${formatSteps(k.prologue, 'p')}` : '', k.epilogue?.length ? `epilogue ${formatSteps(k.epilogue, 'e')}` : '', cudnn(k)].filter(Boolean).join('; ') || '-';
  out += table([['  #', 'family', 'op', 'fused steps', 'source nodes'], ...plan.kernels.map((k) => [`  ${k.id}`, k.family, k.op, steps(k), k.sources.join(', ')])]);
  return out;
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
    if (values['memory']) {
      extra['slots'] = artifact.plan.slots.map((sl) => ({ ...sl, tier: slotTier(sl, artifact.plan.l2WindowBytes ?? 0) }));
      extra['registers'] = registerValues(artifact.plan);
    }
    if (values['fusion']) extra['fusion'] = fusionSummary(artifact.plan);
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
  out += `\narena: ${formatBytes(ar.size)} (lower bound ${formatBytes(ar.lowerBound)}, naive ${formatBytes(ar.naiveSize)}, ${ar.naiveSize ? ((100 * (1 - ar.size / ar.naiveSize)).toFixed(1)) : '0'}% saved)${ar.l2Window ? `; L2 window ${formatBytes(ar.l2Window)}` : ''}\n`;
  if (values['kernels']) {
    const slot = (id: number) => (id < 0 ? '_' : artifact.plan.slots[id]!.name);
    out += `\nkernel list:\n${table([['  #', 'family', 'op', 'inputs', 'outputs', 'source nodes'], ...artifact.plan.kernels.map((k) => [
      `  ${k.id}`, k.family, k.shapes ? `${k.op} (dims ${k.shapes} at run time)` : k.op, k.inputs.map(slot).join(', '), k.outputs.map(slot).join(', '), k.sources.join(', '),
    ])])}`;
  }
  if (values['fusion']) out += fusionListing(artifact.plan);
  if (values['memory']) {
    // Every value: io (caller's buffers), weights, l2 / dram (arena offset; a view shares its root's), register (inside a kernel).
    const regs = registerValues(artifact.plan);
    out += `\nvalues: ${artifact.plan.slots.length + regs.length} (${regs.length} in registers)\n${table([['  value', 'tier', 'kind', 'index/offset', 'bytes', 'type'], ...artifact.plan.slots.map((sl) => [
      `  ${sl.name}`, slotTier(sl, artifact.plan.l2WindowBytes ?? 0), sl.view ? `view of ${artifact.plan.slots[sl.view.of]!.name}` : sl.kind, String(sl.index), String(sl.byteLength), `${sl.dtype}[${sl.dynamic === 'unbounded' ? sl.shape.map(() => '?').join(',') : sl.shape.join(',')}]${sl.dynamic === 'bounded' ? ' at most' : ''}`,
    ]), ...regs.map((r) => [
      `  kernel#${r.kernel}.${r.name} ${r.op} (${r.source})`, 'register', 'kernel', '-', '0', `${r.dtype}[${r.shape.join(',')}]`,
    ])])}`;
    // cuda: the arena bytes each library call may take as its workspace (free at its step).
    const scratch = artifact.plan.kernels.filter((k) => k.cuda?.library);
    if (scratch.length) {
      out += `
library workspaces in the arena: ${scratch.filter((k) => k.cuda!.scratch).length} of ${scratch.length} library kernels have free arena bytes
`;
      out += table([['  #', 'op', 'library', 'free offset', 'free bytes', 'source node'], ...scratch.map((k) => [
        `  ${k.id}`, k.op, k.cuda!.library!, k.cuda!.scratch ? String(k.cuda!.scratch.offset) : '-', k.cuda!.scratch ? formatBytes(k.cuda!.scratch.bytes) : 'none', k.sources[0] ?? '',
      ])]);
    }
  }
  io.out(out);
  return 0;
}
