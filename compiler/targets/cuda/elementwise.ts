// Pointwise kernels: one thread per output element (grid-stride loop), computing an optional
// prologue, an optional anchor value and a chain of elementwise steps, then storing the result.
// This covers 'Elementwise' fused DAGs, every plain elementwise/broadcast op, inference
// BatchNormalization, and the in-place epilogue launches of library anchors (library.ts).
// Operands numpy-broadcast to the output shape through baked strides (0 on broadcast axes). When
// the output's elements are 2 or 4 bytes and their count is a multiple of 16 bytes' worth, each
// thread handles 16 bytes: operands of the output's shape and element size are read as one uint4,
// the others element by element.

import type { ArtifactDType, CudaLaunch, FusedOperand, ValueSlot } from '../../artifact/format.js';
import { KernelContext, refuseStep } from './context.js';
import { attrFloat, attrInt, type PlanAttrs } from './plan-attrs.js';
import { scalarExpr } from './scalar-ops.js';
import {
  broadcastOffset, computeType, convert, elementBytes, fromStorage, gridStride, gridStrideLoop, hasStorage, indent, indexType, intLit,
  KernelParams, literal, load, numel, storageType, toStorage, type Val,
} from './source.js';

/** A fused step, or a plain op as one step (an omitted optional input is an undefined operand). */
export interface StepLike {
  op: string;
  attrs: PlanAttrs;
  args: readonly (FusedOperand | undefined)[];
  dtype: ArtifactDType;
  source: string;
}

/**
 * Appends `const T <prefix>k = ...;` for each step to `lines` and returns the last step's value.
 * `operand` resolves kernel inputs and the anchor's result; it may append loads to `lines`.
 */
export function emitSteps(steps: readonly StepLike[], operand: (o: FusedOperand) => Val, prefix: string, lines: string[]): Val {
  const vals: Val[] = [];
  steps.forEach((s, k) => {
    if (!hasStorage(s.dtype)) throw refuseStep(s, `on ${s.dtype} tensors`);
    const args = s.args.map((o) => {
      if (o === undefined) return undefined;
      if ('step' in o) {
        const v = vals[o.step];
        if (!v) throw new Error(`cuda: step ${k} (${s.op}) reads step ${o.step}, which does not come before it`);
        return v;
      }
      return operand(o);
    });
    const expr = scalarExpr(s.op, s.attrs, args, s.dtype);
    if (expr === undefined) throw refuseStep(s, s.dtype === 'f32' ? undefined : `to ${s.dtype}`);
    const name = `${prefix}${k}`;
    lines.push(`const ${computeType(s.dtype)} ${name} = ${expr};`);
    vals.push({ expr: name, dtype: s.dtype });
  });
  const last = vals[vals.length - 1];
  if (!last) throw new Error('cuda: emitSteps needs at least one step');
  return last;
}

/** How one grid-stride kernel reads 16-byte vectors: `v` vectors of `width` elements. */
interface VectorMode {
  width: number;
  bytes: number;
  /** Union locals to declare and load, by parameter. */
  unions: Map<string, { name: string; type: string; load: boolean }>;
}

/**
 * Loads of kernel inputs at flat index `index` of `dims` (each input broadcast to it), cached so
 * that each input is loaded once per element.
 */
export class OperandLoads {
  private readonly cache = new Map<string, Val>();

  constructor(
    private readonly ctx: KernelContext,
    private readonly params: KernelParams,
    private readonly dims: readonly number[],
    private readonly index: string,
    private readonly lines: string[],
    private readonly prefix: string,
    private readonly vector?: VectorMode,
  ) {}

  /** Kernel input `k` at the current element. */
  input(k: number): Val {
    const slot = this.ctx.input(k);
    if (!slot) throw new Error(`cuda: kernel ${this.ctx.kernel.id} reads input ${k}, which is omitted`);
    return this.slotAt(slot, broadcastOffset(slot.shape, this.dims, this.index), `${this.prefix}${k}`);
  }

  /** Kernel input `k` at an explicit offset (per-channel parameters). */
  inputAt(k: number, offset: string, name: string): Val {
    const slot = this.ctx.input(k);
    if (!slot) throw new Error(`cuda: kernel ${this.ctx.kernel.id} reads input ${k}, which is omitted`);
    return this.slotAt(slot, offset, name);
  }

  private slotAt(slot: ValueSlot, offset: string, name: string): Val {
    const key = `${slot.id}@${offset}`;
    const known = this.cache.get(key);
    if (known) return known;
    this.ctx.checkDtype(slot.dtype);
    const p = this.params.read(slot.id, slot.dtype);
    let value: string;
    const v = this.vector;
    if (v && offset === this.index && elementBytes(slot.dtype) === v.bytes) {
      const u = this.unionOf(p, slot.dtype, true);
      value = fromStorage(slot.dtype, `${u}.e[j]`);
    } else {
      value = load(slot.dtype, p, offset);
    }
    this.lines.push(`const ${computeType(slot.dtype)} ${name} = ${value};`);
    const val = { expr: name, dtype: slot.dtype };
    this.cache.set(key, val);
    return val;
  }

  /** The union local through which parameter `p` is read (and/or written) 16 bytes at a time. */
  unionOf(p: string, dtype: ArtifactDType, loadIt: boolean): string {
    const v = this.vector!;
    const known = v.unions.get(p);
    if (known) {
      known.load ||= loadIt;
      return known.name;
    }
    const name = `u${v.unions.size}`;
    v.unions.set(p, { name, type: storageType(dtype), load: loadIt });
    return name;
  }
}

/** What an anchor's code sees: the loads, the lines to append to, the element index. */
export interface AnchorEnv {
  loads: OperandLoads;
  lines: string[];
  index: string;
  /** In place: the output's current value at the element (a library's result). */
  self?: Val;
  /** With a prologue: the anchor's input 0 at the element. */
  x0?: Val;
}

export interface PointwiseSpec {
  entry: string;
  out: ValueSlot;
  /** The output already holds the anchor's result (a library call); steps update it in place. */
  inPlace?: boolean;
  /** Steps computing the anchor's input 0 (operands broadcast to the output shape). */
  prologue?: readonly StepLike[];
  /** The value steps see as {acc}; default: the output's current value (in place). */
  anchor?: (env: AnchorEnv) => Val;
  steps: readonly StepLike[];
}

/** Generates one grid-stride pointwise kernel and returns its launch. */
export function pointwiseKernel(ctx: KernelContext, spec: PointwiseSpec): CudaLaunch {
  const out = spec.out;
  ctx.checkDtype(out.dtype);
  const dims = out.shape;
  const n = numel(dims);
  const ob = elementBytes(out.dtype);
  const width = ob === 2 || ob === 4 ? 16 / ob : 0;
  const vectorized = width > 0 && n % width === 0 && n >= width;
  const vector: VectorMode | undefined = vectorized ? { width, bytes: ob, unions: new Map() } : undefined;
  const params = new KernelParams();
  const outParam = spec.inPlace ? params.inPlace(out.id, out.dtype) : undefined;
  const it = indexType(n);
  const body: string[] = [];
  const loads = new OperandLoads(ctx, params, dims, 'i', body, 'x', vector);

  let self: Val | undefined;
  if (spec.inPlace) {
    const raw = vector ? `${loads.unionOf(outParam!, out.dtype, true)}.e[j]` : `${outParam}[i]`;
    body.push(`const ${computeType(out.dtype)} acc0 = ${fromStorage(out.dtype, raw)};`);
    self = { expr: 'acc0', dtype: out.dtype };
  }
  let x0: Val | undefined;
  if (spec.prologue?.length) x0 = emitSteps(spec.prologue, (o) => operand(o, undefined), 'q', body);
  const acc = spec.anchor ? spec.anchor({ loads, lines: body, index: 'i', self, x0 }) : self;
  function operand(o: FusedOperand, a: Val | undefined): Val {
    if ('input' in o) return loads.input(o.input);
    if ('acc' in o) {
      if (!a) throw new Error(`cuda: kernel ${ctx.kernel.id} has a step reading the anchor's result, but no anchor`);
      return a;
    }
    throw new Error('cuda: unexpected operand');
  }
  let result = spec.steps.length ? emitSteps(spec.steps, (o) => operand(o, acc), 's', body) : acc;
  if (!result) throw new Error(`cuda: kernel ${ctx.kernel.id} computes nothing`);
  if (result.dtype !== out.dtype) result = { expr: convert(result, out.dtype), dtype: out.dtype };

  const outName = outParam ?? params.write(out.id, out.dtype);
  const lines: string[] = [];
  if (vector) {
    const uo = loads.unionOf(outName, out.dtype, !!spec.inPlace);
    const nv = n / width;
    lines.push(`${gridStrideLoop('v', nv)} {`);
    for (const [p, u] of vector.unions) {
      lines.push(`  union { uint4 u; ${u.type} e[${width}]; } ${u.name};`);
      if (u.load) lines.push(`  ${u.name}.u = reinterpret_cast<const uint4*>(${p})[v];`);
    }
    lines.push('#pragma unroll', `  for (int j = 0; j < ${width}; j++) {`);
    if (body.some((l) => /\bi\b/.test(l))) lines.push(`    const ${it} i = v * ${width} + j;`);
    lines.push(...indent(body, 4), `    ${uo}.e[j] = ${toStorage(out.dtype, result.expr)};`, '  }');
    lines.push(`  reinterpret_cast<uint4*>(${outName})[v] = ${uo}.u;`, '}');
  } else {
    lines.push(`${gridStrideLoop('i', n)} {`, ...indent(body, 2), `  ${outName}[i] = ${toStorage(out.dtype, result.expr)};`, '}');
  }
  const entry = ctx.module.addKernel(spec.entry, params.declaration, indent(lines, 2).join('\n') + '\n');
  return { entry, ...gridStride(vectorized ? n / width : n), args: params.slots };
}

/** An 'Elementwise' fused DAG, or a plain elementwise/broadcast op as a one-step DAG. */
export function generateElementwise(ctx: KernelContext): CudaLaunch[] {
  const k = ctx.kernel;
  if (k.outputs.length !== 1) throw ctx.refuse(`with ${k.outputs.length} outputs`);
  const out = ctx.output();
  const steps: readonly StepLike[] = k.op === 'Elementwise'
    ? (k.epilogue ?? [])
    : [{ op: k.op, attrs: k.attrs, args: k.inputs.map((s, i) => (s < 0 ? undefined : { input: i })), dtype: out.dtype, source: k.sources[0] ?? k.op }];
  if (!steps.length) throw ctx.refuse('without steps');
  return [pointwiseKernel(ctx, { entry: ctx.entry(), out, steps })];
}

/**
 * Inference BatchNormalization as a pointwise anchor: y = x * k + (B - mean * k) with
 * k = scale / sqrt(var + epsilon), per channel (axis 1); with prologue and epilogue steps.
 */
export function generateBatchNorm(ctx: KernelContext): CudaLaunch[] {
  const k = ctx.kernel;
  if (attrInt(k.attrs, 'training_mode', 0) !== 0) throw ctx.refuse('in training mode');
  if (k.outputs.length !== 1) throw ctx.refuse(`with ${k.outputs.length} outputs`);
  const out = ctx.output();
  const dims = out.shape;
  if (dims.length < 2) throw ctx.refuse(`on a rank-${dims.length} input`);
  for (const i of [1, 2, 3, 4]) ctx.requireInput(i);
  const C = dims[1]!;
  const inner = numel(dims.slice(2));
  const eps = attrFloat(k.attrs, 'epsilon', 1e-5);
  const launch = pointwiseKernel(ctx, {
    entry: ctx.entry(),
    out,
    prologue: ctx.prologue,
    anchor: ({ loads, lines, index, x0 }) => {
      const x = x0 ?? loads.input(0);
      const xt = x.dtype;
      const ct = computeType(xt);
      const c = inner === 1 ? `(${index} % ${intLit(C)})` : `((${index} / ${intLit(inner)}) % ${intLit(C)})`;
      lines.push(`const ${indexType(numel(dims))} c = ${c};`);
      const [scale, bias, mean, variance] = [1, 2, 3, 4].map((i) => loads.inputAt(i, 'c', `bn${i}`));
      const cv = (v: Val) => (computeType(v.dtype) === ct ? v.expr : `(${ct})${v.expr}`);
      const sqrt = ct === 'double' ? 'sqrt' : 'sqrtf';
      lines.push(`const ${ct} bnk = ${cv(scale!)} / ${sqrt}(${cv(variance!)} + ${literal(eps, xt)});`);
      lines.push(`const ${ct} bna = ${x.expr} * bnk + (${cv(bias!)} - ${cv(mean!)} * bnk);`);
      return { expr: 'bna', dtype: xt };
    },
    steps: ctx.epilogue,
  });
  return [launch];
}

/** The dtype of a reduction or pointwise anchor's input 0: the slot's, or the last prologue step's. */
export function anchorInputDtype(ctx: KernelContext): ArtifactDType {
  const pro = ctx.prologue;
  if (pro.length) return pro[pro.length - 1]!.dtype;
  return ctx.requireInput(0).dtype;
}
