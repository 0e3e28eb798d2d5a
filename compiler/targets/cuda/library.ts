// Library anchors: MatMul and Gemm run in cuBLASLt, Conv and its channels-last form NhwcConv (2-D,
// any group) in cuDNN, into the kernel's output slot (contract in compiler/artifact/format.ts
// CudaKernelCode). What the library call leaves out runs after it as one generated pointwise
// launch, in place on the output: Gemm's beta * C (C numpy-broadcast to [M, N]), Conv's bias B[m]
// (m the channel, NhwcConv's innermost index), then the kernel's epilogue steps
// ({acc} is the value after those). No launch when there is nothing to add. The library writes
// the anchor's dtype, so an epilogue that ends in another dtype is refused. A biased convolution
// whose epilogue is exactly [+ residual] [Relu] also names it in `fusedEpilogue`, so the runtime can
// fold the launch into cuDNN's conv-bias-activation call (the launch stays as its fallback).

import type { CudaKernelCode, FusedOperand } from '../../artifact/format.js';
import type { KernelContext } from './context.js';
import { pointwiseKernel, type AnchorEnv } from './elementwise.js';
import { attrFloat } from './plan-attrs.js';
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
  } else if (k.op === 'Gemm') {
    const c = ctx.input(2);
    const beta = attrFloat(k.attrs, 'beta', 1);
    if (c && beta !== 0) {
      anchor = ({ loads, self, lines }) => {
        const cv = loads.input(2);
        if (beta === 1) return add(self!, cv);
        const ct = computeType(self!.dtype);
        lines.push(`const ${ct} bc = ${literal(beta, self!.dtype)} * ${cast(cv, ct)};`);
        return add(self!, { expr: 'bc', dtype: self!.dtype });
      };
    }
  } else if (k.op !== 'MatMul') {
    throw ctx.refuse();
  }
  const code: CudaKernelCode = { library: CONV_OPS.has(k.op) ? 'cudnn' : 'cublaslt', before: [], after: [] };
  const fused = CONV_OPS.has(k.op) ? cudnnEpilogue(ctx) : undefined;
  if (fused) code.fusedEpilogue = fused;
  if (!anchor && !ctx.epilogue.length) return code;
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
    steps: ctx.epilogue,
  }));
  return code;
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
    if (slot.dtype !== out.dtype || slot.shape.length !== out.shape.length || slot.shape.some((d, j) => d !== out.shape[j])) return undefined;
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

function cast(v: Val, ct: string): string {
  return computeType(v.dtype) === ct ? v.expr : `(${ct})${v.expr}`;
}

function add(x: Val, y: Val): Val {
  return { expr: `${x.expr} + ${cast(y, computeType(x.dtype))}`, dtype: x.dtype };
}
