// Recurrent layers: RNN, GRU and LSTM, forward, reverse or bidirectional, with per-batch sequence
// lengths, initial states, optional activations and the layout attribute of opset 14+. The
// reference runs the recurrence step by step in float64; kernels treat the whole op as opaque.

import { isFloat } from '../ir/dtype.js';
import { defineOp, UnsupportedError, type InferContext } from '../ir/ops.js';
import type { Dim, TensorType } from '../ir/types.js';
import { Attrs, OpError, TensorData, requireInput } from './common.js';

type Kind = 'RNN' | 'GRU' | 'LSTM';

/** Gates per kind, and the activations each direction takes (with their defaults). */
const SPEC: Record<Kind, { gates: number; acts: string[]; outputs: number; inputs: number }> = {
  RNN: { gates: 1, acts: ['Tanh'], outputs: 2, inputs: 6 },
  GRU: { gates: 3, acts: ['Sigmoid', 'Tanh'], outputs: 2, inputs: 6 },
  LSTM: { gates: 4, acts: ['Sigmoid', 'Tanh', 'Tanh'], outputs: 3, inputs: 8 },
};

type Act = (x: number) => number;

const ALPHA_DEFAULTS: Record<string, [number, number] | undefined> = {
  Affine: [1, 0], LeakyRelu: [0.01, 0], ThresholdedRelu: [1, 0], ScaledTanh: [1, 1], HardSigmoid: [0.2, 0.5], Elu: [1, 0],
};
const USES_BETA = new Set(['Affine', 'ScaledTanh', 'HardSigmoid']);

function makeAct(name: string, a: number, b: number): Act {
  switch (name.toLowerCase()) {
    case 'relu': return (x) => Math.max(0, x);
    case 'tanh': return Math.tanh;
    case 'sigmoid': return (x) => 1 / (1 + Math.exp(-x));
    case 'affine': return (x) => a * x + b;
    case 'leakyrelu': return (x) => (x >= 0 ? x : a * x);
    case 'thresholdedrelu': return (x) => (x > a ? x : 0);
    case 'scaledtanh': return (x) => a * Math.tanh(b * x);
    case 'hardsigmoid': return (x) => Math.max(0, Math.min(1, a * x + b));
    case 'elu': return (x) => (x >= 0 ? x : a * (Math.exp(x) - 1));
    case 'softsign': return (x) => x / (1 + Math.abs(x));
    case 'softplus': return (x) => Math.log1p(Math.exp(x));
    default: throw new UnsupportedError(`activation '${name}' is not supported`);
  }
}

const CANONICAL = ['Relu', 'Tanh', 'Sigmoid', 'Affine', 'LeakyRelu', 'ThresholdedRelu', 'ScaledTanh', 'HardSigmoid', 'Elu', 'Softsign', 'Softplus'];

/** The activations of each direction; alpha/beta lists are consumed by the functions that use them. */
function activations(kind: Kind, attrs: Attrs, dirs: number): Act[][] {
  const per = SPEC[kind].acts.length;
  const names = attrs.has('activations') ? attrs.strings('activations') : [];
  const list = names.length === 0 ? Array.from({ length: dirs }, () => SPEC[kind].acts).flat() : names.length === per && dirs === 2 ? [...names, ...names] : names;
  if (list.length !== per * dirs) throw new OpError(`attribute 'activations' must list ${per * dirs} functions, got ${names.length}`);
  const alphas = attrs.has('activation_alpha') ? attrs.floats('activation_alpha') : [];
  const betas = attrs.has('activation_beta') ? attrs.floats('activation_beta') : [];
  let ai = 0;
  let bi = 0;
  const fns = list.map((n) => {
    const canon = CANONICAL.find((c) => c.toLowerCase() === n.toLowerCase()) ?? n;
    const d = ALPHA_DEFAULTS[canon];
    const a = d ? (ai < alphas.length ? alphas[ai++]! : d[0]) : 0;
    const b = d && USES_BETA.has(canon) ? (bi < betas.length ? betas[bi++]! : d[1]) : 0;
    return makeAct(canon, a, b);
  });
  return Array.from({ length: dirs }, (_, k) => fns.slice(k * per, (k + 1) * per));
}

function directionCount(attrs: Attrs): number {
  const d = attrs.string('direction', 'forward');
  if (d === 'forward' || d === 'reverse') return 1;
  if (d === 'bidirectional') return 2;
  throw new OpError(`attribute 'direction' must be forward, reverse or bidirectional, got '${d}'`);
}

function infer(kind: Kind, ctx: InferContext): TensorType[] {
  const x = ctx.input(0);
  const w = ctx.input(1);
  const r = ctx.input(2);
  if (!isFloat(x.dtype)) throw new OpError(`${kind} input X must be float, got ${x.dtype}`);
  if (x.shape.length !== 3) throw new OpError(`${kind} input X must have rank 3, got [${x.shape.join(',')}]`);
  const layout = ctx.attrs.int('layout', 0);
  if (layout !== 0 && layout !== 1) throw new OpError(`attribute 'layout' must be 0 or 1, got ${layout}`);
  const dirs = directionCount(ctx.attrs);
  const H = ctx.attrs.has('hidden_size') ? ctx.attrs.int('hidden_size') : r.shape[2]!;
  if (typeof H === 'number' && H <= 0) throw new OpError(`attribute 'hidden_size' must be positive, got ${H}`);
  const G = SPEC[kind].gates;
  const check = (t: TensorType, what: string, want: Dim[]) => {
    const ok = t.shape.length === want.length && t.shape.every((d, k) => typeof d !== 'number' || typeof want[k] !== 'number' || d === want[k]);
    if (!ok) throw new OpError(`${kind} input ${what} must have shape [${want.join(',')}], got [${t.shape.join(',')}]`);
  };
  const Gh: Dim = typeof H === 'number' ? G * H : ctx.freshDim();
  check(w, 'W', [dirs, Gh, x.shape[2]!]);
  check(r, 'R', [dirs, Gh, H]);
  const [seq, batch] = layout === 0 ? [x.shape[0]!, x.shape[1]!] : [x.shape[1]!, x.shape[0]!];
  const b = ctx.optionalInput(3);
  if (b) check(b, 'B', [dirs, typeof H === 'number' ? 2 * G * H : b.shape[1]!]);
  activations(kind, ctx.attrs, dirs);
  const y: Dim[] = layout === 0 ? [seq, dirs, batch, H] : [batch, seq, dirs, H];
  const state: Dim[] = layout === 0 ? [dirs, batch, H] : [batch, dirs, H];
  const types = [{ dtype: x.dtype, shape: y }, { dtype: x.dtype, shape: state }];
  if (kind === 'LSTM') types.push({ dtype: x.dtype, shape: state });
  return types;
}

/** State tensors [dirs, batch, H] (or [batch, dirs, H] with layout 1) as per-direction arrays. */
function readState(t: TensorData | undefined, dirs: number, batch: number, H: number, layout: number): Float64Array[] {
  return Array.from({ length: dirs }, (_, d) => {
    const s = new Float64Array(batch * H);
    if (!t) return s;
    const v = t.values;
    for (let b = 0; b < batch; b++) {
      for (let h = 0; h < H; h++) s[b * H + h] = v[(layout === 0 ? d * batch + b : b * dirs + d) * H + h]!;
    }
    return s;
  });
}

function evaluate(kind: Kind, inputs: readonly (TensorData | undefined)[], attrs: Attrs, outputCount: number): TensorData[] {
  const x = requireInput(inputs, 0, kind);
  const W = requireInput(inputs, 1, kind).values;
  const R = requireInput(inputs, 2, kind).values;
  const layout = attrs.int('layout', 0);
  const dirs = directionCount(attrs);
  const reverseOnly = attrs.string('direction', 'forward') === 'reverse';
  const [seq, batch, I] = layout === 0 ? [x.dims[0]!, x.dims[1]!, x.dims[2]!] : [x.dims[1]!, x.dims[0]!, x.dims[2]!];
  const H = attrs.has('hidden_size') ? attrs.int('hidden_size') : inputs[2]!.dims[2]!;
  const G = SPEC[kind].gates;
  const Bv = inputs[3]?.values;
  const lens = inputs[4]?.values;
  const h0 = readState(inputs[5], dirs, batch, H, layout);
  const c0 = readState(kind === 'LSTM' ? inputs[6] : undefined, dirs, batch, H, layout);
  const P = kind === 'LSTM' ? inputs[7]?.values : undefined;
  const clip = attrs.has('clip') ? attrs.float('clip') : Infinity;
  const inputForget = attrs.int('input_forget', 0) !== 0;
  const lbr = attrs.int('linear_before_reset', 0) !== 0;
  const acts = activations(kind, attrs, dirs);
  const xv = x.values;
  const xAt = (t: number, b: number) => (layout === 0 ? t * batch + b : b * seq + t) * I;
  const Y = new Float64Array(seq * dirs * batch * H);
  const yAt = (t: number, d: number, b: number) => (layout === 0 ? (t * dirs + d) * batch + b : (b * seq + t) * dirs + d) * H;
  const cl = (v: number) => Math.max(-clip, Math.min(clip, v));

  for (let d = 0; d < dirs; d++) {
    const back = reverseOnly || d === 1;
    const [f, g, hAct] = acts[d]!;
    const Wd = (row: number, k: number) => W[(d * G * H + row) * I + k]!;
    const Rd = (row: number, k: number) => R[(d * G * H + row) * H + k]!;
    const wb = (row: number) => (Bv ? Bv[d * 2 * G * H + row]! : 0);
    const rb = (row: number) => (Bv ? Bv[d * 2 * G * H + G * H + row]! : 0);
    const hs = h0[d]!;
    const cs = c0[d]!;
    for (let b = 0; b < batch; b++) {
      const L = lens ? lens[b]! : seq;
      if (L < 0 || L > seq) throw new OpError(`sequence_lens value ${L} is out of range for sequence length ${seq}`);
      const h = hs.subarray(b * H, (b + 1) * H);
      const c = cs.subarray(b * H, (b + 1) * H);
      // Per-gate input and recurrent projections of one step.
      const xp = new Float64Array(G * H);
      const hp = new Float64Array(G * H);
      for (let s = 0; s < L; s++) {
        const t = back ? L - 1 - s : s;
        const xo = xAt(t, b);
        for (let row = 0; row < G * H; row++) {
          let a = wb(row);
          for (let k = 0; k < I; k++) a += Wd(row, k) * xv[xo + k]!;
          xp[row] = a;
          let r2 = rb(row);
          for (let k = 0; k < H; k++) r2 += Rd(row, k) * h[k]!;
          hp[row] = r2;
        }
        const next = new Float64Array(H);
        if (kind === 'RNN') {
          for (let j = 0; j < H; j++) next[j] = f!(cl(xp[j]! + hp[j]!));
        } else if (kind === 'GRU') {
          // Gate rows: update z, reset r, hidden h.
          const r = new Float64Array(H);
          for (let j = 0; j < H; j++) r[j] = f!(cl(xp[H + j]! + hp[H + j]!));
          for (let j = 0; j < H; j++) {
            const z = f!(cl(xp[j]! + hp[j]!));
            let rec: number;
            if (lbr) rec = r[j]! * hp[2 * H + j]!;
            else {
              rec = rb(2 * H + j);
              for (let k = 0; k < H; k++) rec += Rd(2 * H + j, k) * r[k]! * h[k]!;
            }
            const hh = g!(cl(xp[2 * H + j]! + rec));
            next[j] = (1 - z) * hh + z * h[j]!;
          }
        } else {
          // Gate rows: input i, output o, forget f, cell c; peepholes P: i, o, f.
          for (let j = 0; j < H; j++) {
            const pi = P ? P[d * 3 * H + j]! : 0;
            const po = P ? P[d * 3 * H + H + j]! : 0;
            const pf = P ? P[d * 3 * H + 2 * H + j]! : 0;
            const ig = f!(cl(xp[j]! + hp[j]! + pi * c[j]!));
            const fg = inputForget ? 1 - ig : f!(cl(xp[2 * H + j]! + hp[2 * H + j]! + pf * c[j]!));
            const cc = g!(cl(xp[3 * H + j]! + hp[3 * H + j]!));
            const ct = fg * c[j]! + ig * cc;
            const og = f!(cl(xp[H + j]! + hp[H + j]! + po * ct));
            c[j] = ct;
            next[j] = og * hAct!(ct);
          }
        }
        h.set(next);
        Y.set(next, yAt(t, d, b));
      }
    }
  }
  const stateDims = layout === 0 ? [dirs, batch, H] : [batch, dirs, H];
  const writeState = (s: Float64Array[]) => {
    const v = new Float64Array(dirs * batch * H);
    for (let d = 0; d < dirs; d++) {
      for (let b = 0; b < batch; b++) v.set(s[d]!.subarray(b * H, (b + 1) * H), (layout === 0 ? d * batch + b : b * dirs + d) * H);
    }
    return TensorData.fromValues(x.dtype, stateDims, v);
  };
  const out = [
    TensorData.fromValues(x.dtype, layout === 0 ? [seq, dirs, batch, H] : [batch, seq, dirs, H], Y),
    writeState(h0),
  ];
  if (kind === 'LSTM') out.push(writeState(c0));
  return out.slice(0, Math.max(1, outputCount));
}

for (const kind of ['RNN', 'GRU', 'LSTM'] as const) {
  defineOp({
    name: kind,
    fusionClass: 'opaque',
    inputs: [3, SPEC[kind].inputs],
    outputs: [1, SPEC[kind].outputs],
    // Opsets 7-13 have the same semantics without the layout attribute.
    onnxSince: 7,
    infer: (ctx) => infer(kind, ctx),
    evaluate: (inputs, attrs, outputCount) => evaluate(kind, inputs, attrs, outputCount),
  });
}
