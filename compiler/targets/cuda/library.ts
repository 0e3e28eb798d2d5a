// Library anchors: MatMul and Gemm run in cuBLASLt, Conv and its channels-last form NhwcConv (2-D,
// any group) in cuDNN, into the kernel's output slot (contract in compiler/artifact/format.ts
// CudaKernelCode). What the library call leaves out runs after it as one generated pointwise
// launch, in place on the output: Gemm's beta * C (C numpy-broadcast to [M, N]), Conv's bias B[m]
// (m the channel, NhwcConv's innermost index), then the kernel's epilogue steps ({acc} is the value
// after those). cuBLASLt itself takes what its epilogues can (a scalar factor, a residual or Gemm's
// C, a bias row, Relu or tanh Gelu: cublasLtEpilogue), so most MatMuls need no launch after. A
// biased convolution whose epilogue is exactly [+ residual] [Relu] also names it in
// `fusedEpilogue`, so the runtime can fold the launch into cuDNN's conv-bias-activation call (the
// launch stays as its fallback). No launch when there is nothing to add. The library writes the
// anchor's dtype, so an epilogue that ends in another dtype is refused.

import type { CudaKernelCode, FusedOperand, FusedStep, LibraryEpilogue, ValueSlot } from '../../artifact/format.js';
import type { KernelContext } from './context.js';
import { pointwiseKernel, type AnchorEnv } from './elementwise.js';
import { attrFloat, attrString } from './plan-attrs.js';
import { computeType, intLit, isFloatDtype, literal, numel, type Val } from './source.js';

export const LIBRARY_OPS: ReadonlySet<string> = new Set(['MatMul', 'Gemm', 'Conv', 'NhwcConv']);

const CONV_OPS: ReadonlySet<string> = new Set(['Conv', 'NhwcConv']);

export function generateLibrary(ctx: KernelContext): CudaKernelCode {
  const k = ctx.kernel;
  const a = ctx.requireInput(0);
  const w = ctx.requireInput(1);
  const out = ctx.output();
  if (ctx.prologue.length) throw ctx.refuse('with a prologue');
  if (!isFloatDtype(a.dtype) || w.dtype !== a.dtype) throw ctx.refuse(`on ${a.dtype} x ${w.dtype}`);
  if (out.dtype !== a.dtype) throw ctx.refuse(`with an epilogue producing ${out.dtype} from ${a.dtype} (the library writes ${a.dtype})`);
  let anchor: ((env: AnchorEnv) => Val) | undefined;
  if (CONV_OPS.has(k.op)) {
    if (a.shape.length !== 4 || w.shape.length !== 4) throw ctx.refuse(`with ${a.shape.length - 2}-D input (cuda runs 2-D convolutions)`);
    const bias = ctx.input(2);
    if (bias) {
      const channelsLast = k.op === 'NhwcConv';
      const M = out.shape[channelsLast ? 3 : 1]!;
      const plane = channelsLast ? 1 : numel(out.shape.slice(2));
      anchor = ({ loads, index, self }) => {
        const c = plane === 1 ? `${index} % ${intLit(M)}` : `(${index} / ${intLit(plane)}) % ${intLit(M)}`;
        const b = loads.inputAt(2, c, 'bias');
        return add(self!, b);
      };
    }
  } else if (k.op !== 'Gemm' && k.op !== 'MatMul') {
    throw ctx.refuse();
  }
  const code: CudaKernelCode = { library: CONV_OPS.has(k.op) ? 'cudnn' : 'cublaslt', before: [], after: [] };
  let steps = ctx.epilogue;
  if (CONV_OPS.has(k.op)) {
    const fused = cudnnEpilogue(ctx);
    if (fused) code.fusedEpilogue = fused;
  } else {
    const fused = cublasLtEpilogue(ctx, out);
    if (fused.epilogue) code.libraryEpilogue = fused.epilogue;
    anchor = fused.anchor;
    steps = fused.steps;
  }
  if (!anchor && !steps.length) return code;
  let n = 0;
  const plus = anchor;
  code.after.push(pointwiseKernel(ctx, {
    entry: ctx.entry(),
    out,
    inPlace: true,
    anchor: plus && ((env) => {
      const v = plus(env);
      env.lines.push(`const ${computeType(v.dtype)} acc${++n} = ${v.expr};`);
      return { expr: `acc${n}`, dtype: v.dtype };
    }),
    steps,
  }));
  return code;
}

interface CublasLtFusion {
  epilogue?: LibraryEpilogue;
  /** What `after` still adds before the remaining steps (Gemm's beta * C when the library cannot). */
  anchor?: (env: AnchorEnv) => Val;
  /** Epilogue steps left for `after`, renumbered (the library's result is their `acc`). */
  steps: readonly FusedStep[];
}

/**
 * How much of a MatMul/Gemm epilogue cuBLASLt computes: Gemm's beta * C, then a leading chain of
 * steps, each taking the previous result: first a MatMul's Mul by a constant scalar (alpha), Add
 * of an input of the output's shape (C, once), Add of a row vector (bias, once), and last Relu or
 * tanh-approximated Gelu. cuBLASLt adds C and the bias
 * to the product in float and applies the activation before storing, as the steps would. The chain
 * stops at the first step it cannot take, or one whose operands the remaining steps still need.
 */
function cublasLtEpilogue(ctx: KernelContext, out: ValueSlot): CublasLtFusion {
  const k = ctx.kernel;
  const epi: LibraryEpilogue = {};
  let anchor: ((env: AnchorEnv) => Val) | undefined;
  const N = out.shape[out.shape.length - 1] ?? 1;
  const fullShape = (s: ValueSlot): boolean => sameType(s, out);
  const rowVector = (s: ValueSlot): boolean => s.dtype === out.dtype && s.shape.length >= 1 && s.shape[s.shape.length - 1] === N && numel(s.shape) === N;
  // A bias per batch and column (GPT-2's head-split projection biases, [1, H, 1, D]): cuBLASLt's bias
  // batch stride, in its strided-batched mode (A without batch, or A and B with the same batch).
  const batchedRow = (s: ValueSlot): boolean => {
    if (k.op !== 'MatMul' || s.dtype !== out.dtype || out.shape.length < 3 || s.shape.length > out.shape.length) return false;
    const padded = [...Array<number>(out.shape.length - s.shape.length).fill(1), ...s.shape];
    const r = out.shape.length;
    if (padded[r - 1] !== N || padded[r - 2] !== 1 || !padded.slice(0, r - 2).every((d, i) => d === out.shape[i])) return false;
    const a = ctx.requireInput(0).shape, b = ctx.requireInput(1).shape;
    const batchOf = (shape: readonly number[]) => shape.slice(0, -2);
    const bBatch = numel(batchOf(b)), aBatch = numel(batchOf(a));
    const sameBatch = batchOf(a).length === batchOf(b).length && batchOf(a).every((d, i) => d === batchOf(b)[i]);
    return bBatch > 1 && (aBatch === 1 || sameBatch);
  };
  if (k.op === 'Gemm') {
    const c = ctx.input(2);
    const beta = attrFloat(k.attrs, 'beta', 1);
    if (c && beta !== 0) {
      if (fullShape(c)) {
        epi.c = 2;
        if (beta !== 1) epi.beta = beta;
      } else if (rowVector(c) && beta === 1) {
        epi.bias = 2;
      } else {
        anchor = ({ loads, self, lines }) => {
          const cv = loads.input(2);
          if (beta === 1) return add(self!, cv);
          const ct = computeType(self!.dtype);
          lines.push(`const ${ct} bc = ${literal(beta, self!.dtype)} * ${cast(cv, ct)};`);
          return add(self!, { expr: 'bc', dtype: self!.dtype });
        };
      }
    }
  }
  const all = ctx.epilogue;
  // With a 1-D B the output has no column dimension for a bias to follow.
  if (k.op === 'MatMul' && ctx.requireInput(1).shape.length < 2) return { epilogue: undefined, anchor, steps: all };
  let taken = 0;
  // Only a chain from the library's own result (no after-launch anchor in between) can continue it.
  while (!anchor && taken < all.length && !epi.activation) {
    const step = all[taken]!;
    const prev: FusedOperand = taken === 0 ? { acc: true } : { step: taken - 1 };
    const fromPrev = (o: FusedOperand): boolean => ('acc' in o && 'acc' in prev) || ('step' in o && 'step' in prev && o.step === prev.step);
    if (step.dtype !== out.dtype) break;
    if (step.op === 'Mul' && step.args.length === 2 && taken === 0 && k.op === 'MatMul') {
      // A constant scalar factor right after the product is cuBLASLt's alpha (attention's 1/sqrt(d)).
      const [x, y] = step.args as [FusedOperand, FusedOperand];
      const other = fromPrev(x) ? y : fromPrev(y) ? x : undefined;
      const factor = other && 'input' in other ? ctx.constantScalar(other.input) : undefined;
      if (factor === undefined || !Number.isFinite(factor)) break;
      epi.alpha = factor;
    } else if (step.op === 'Add' && step.args.length === 2) {
      const [x, y] = step.args as [FusedOperand, FusedOperand];
      const other = fromPrev(x) ? y : fromPrev(y) ? x : undefined;
      if (!other || !('input' in other)) break;
      const slot = ctx.input(other.input);
      if (!slot) break;
      if (epi.c === undefined && fullShape(slot)) epi.c = other.input;
      else if (epi.bias === undefined && (rowVector(slot) || batchedRow(slot))) epi.bias = other.input;
      else break;
    } else if (step.op === 'Relu' && step.args.length === 1 && fromPrev(step.args[0]!)) {
      epi.activation = 'relu';
    } else if (step.op === 'Gelu' && step.args.length === 1 && fromPrev(step.args[0]!) && attrString(step.attrs, 'approximate', 'none') === 'tanh') {
      epi.activation = 'gelu-tanh';
    } else {
      break;
    }
    taken++;
  }
  // The remaining steps may read only the chain's last result: not `acc`, nor an earlier step.
  const rest = all.slice(taken);
  const readsTaken = (o: FusedOperand): boolean => ('acc' in o && taken > 0) || ('step' in o && o.step < taken - 1);
  if (taken > 0 && rest.some((s) => s.args.some(readsTaken))) return cublasLtEpilogueWithout(ctx, epi, anchor);
  const renumber = (o: FusedOperand): FusedOperand => ('step' in o ? (o.step === taken - 1 ? { acc: true } : { step: o.step - taken }) : o);
  const steps = taken ? rest.map((s) => ({ ...s, args: s.args.map(renumber) })) : rest;
  return { epilogue: Object.keys(epi).length ? epi : undefined, anchor, steps };
}

/** The fallback of cublasLtEpilogue when its chain's intermediate results are read later: Gemm's C only. */
function cublasLtEpilogueWithout(ctx: KernelContext, epi: LibraryEpilogue, anchor: ((env: AnchorEnv) => Val) | undefined): CublasLtFusion {
  const gemmOnly: LibraryEpilogue = {};
  if (ctx.kernel.op === 'Gemm') {
    if (epi.c === 2) Object.assign(gemmOnly, { c: 2, ...(epi.beta !== undefined ? { beta: epi.beta } : {}) });
    if (epi.bias === 2) gemmOnly.bias = 2;
  }
  return { epilogue: Object.keys(gemmOnly).length ? gemmOnly : undefined, anchor, steps: ctx.epilogue };
}

/**
 * The epilogue of a biased convolution as cuDNN's conv-bias-activation computes it,
 * Y = act(conv + B + Z), when the steps are exactly [Add(acc, Z)] [Relu] with Z a kernel input of
 * the output's shape and dtype (either, both or none of the two steps); undefined otherwise.
 */
function cudnnEpilogue(ctx: KernelContext): CudaKernelCode['fusedEpilogue'] {
  const out = ctx.output();
  if (!ctx.input(2)) return undefined;
  const steps = ctx.epilogue;
  if (steps.some((s) => s.dtype !== out.dtype)) return undefined;
  let i = 0;
  let residual: number | undefined;
  const step0 = steps[0];
  if (step0?.op === 'Add' && step0.args.length === 2) {
    const [p, q] = step0.args as [FusedOperand, FusedOperand];
    const z = 'acc' in p ? q : 'acc' in q ? p : undefined;
    if (!z || !('input' in z)) return undefined;
    const slot = ctx.requireInput(z.input);
    if (!sameType(slot, out)) return undefined;
    residual = z.input;
    i++;
  }
  let relu = false;
  const last = steps[i];
  if (last?.op === 'Relu' && last.args.length === 1) {
    const a = last.args[0]!;
    if (!(i === 0 ? 'acc' in a : 'step' in a && a.step === i - 1)) return undefined;
    relu = true;
    i++;
  }
  if (i !== steps.length) return undefined;
  return residual === undefined ? { relu } : { residual, relu };
}

/** A library's extra operand (a residual, C) must have the output's dtype and shape exactly. */
function sameType(s: ValueSlot, out: ValueSlot): boolean {
  return s.dtype === out.dtype && s.shape.length === out.shape.length && s.shape.every((d, i) => d === out.shape[i]);
}

function cast(v: Val, ct: string): string {
  return computeType(v.dtype) === ct ? v.expr : `(${ct})${v.expr}`;
}

function add(x: Val, y: Val): Val {
  return { expr: `${x.expr} + ${cast(y, computeType(x.dtype))}`, dtype: x.dtype };
}
