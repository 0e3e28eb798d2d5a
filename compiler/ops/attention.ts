// Attention and the ops built around LLM decoding: Attention (scaled dot-product with GQA, masks,
// windows and KV cache), RotaryEmbedding, SwiGLU, LinearAttention, CausalConvWithState, TensorScatter.
// Reference implementations round to the tensor dtype where onnx.reference's numpy code does.

import { dtypeFromOnnx, isFloat, roundTo, type DType } from '../ir/dtype.js';
import { defineOp, UnsupportedError, type InferContext } from '../ir/ops.js';
import type { Dim, TensorType } from '../ir/types.js';
import { OpError, TensorData, elementCount, normalizeAxis, requireInput } from './common.js';

const same = (a: Dim, b: Dim) => typeof a !== 'number' || typeof b !== 'number' || a === b;

function checkDim(a: Dim, b: Dim, what: string): void {
  if (!same(a, b)) throw new OpError(`${what}: ${a} does not match ${b}`);
}

/** d / n for a hidden size packing n heads; symbols become fresh dims. */
function divDim(d: Dim, n: number, what: string, ctx: InferContext): Dim {
  if (typeof d !== 'number') return n === 1 ? d : ctx.freshDim();
  if (n <= 0 || d % n !== 0) throw new OpError(`${what} ${d} is not divisible by ${n}`);
  return d / n;
}

function addDim(a: Dim, b: Dim, ctx: InferContext): Dim {
  if (typeof a === 'number' && typeof b === 'number') return a + b;
  if (a === 0) return b;
  if (b === 0) return a;
  return ctx.freshDim('total');
}

function mulDim(d: Dim, n: number, ctx: InferContext): Dim {
  return typeof d === 'number' ? d * n : n === 1 ? d : ctx.freshDim();
}

function floatType(t: TensorType, what: string): void {
  if (!isFloat(t.dtype)) throw new OpError(`${what} must be a float tensor, got ${t.dtype}`);
}

/** Result dtype of numpy arithmetic between two float dtypes (bf16 with f16 widens to f32). */
function promote(a: DType, b: DType): DType {
  if (a === b) return a;
  if (a === 'f64' || b === 'f64') return 'f64';
  return 'f32';
}

const rounder = (d: DType) => (x: number) => roundTo(d, x);

/** Views a [B, S, H*D] tensor as [B, H, S, D] (or takes a 4-D one as is), as flat values. */
function toHeads(t: TensorData, heads: number | undefined): { dims: number[]; v: Float64Array } {
  if (t.rank === 4) return { dims: [...t.dims], v: t.values };
  const [B, S, hidden] = t.dims as [number, number, number];
  const H = heads!;
  const D = Math.trunc(hidden / H);
  const v = new Float64Array(B * H * S * D);
  const src = t.values;
  for (let b = 0; b < B; b++) for (let s = 0; s < S; s++) for (let h = 0; h < H; h++) for (let d = 0; d < D; d++) {
    v[((b * H + h) * S + s) * D + d] = src[(b * S + s) * hidden + h * D + d]!;
  }
  return { dims: [B, H, S, D], v };
}

/** Concatenates [B, H, P, D] and [B, H, S, D] along the sequence axis. */
function concatSeq(past: { dims: number[]; v: Float64Array } | undefined, cur: { dims: number[]; v: Float64Array }) {
  if (!past) return cur;
  const [B, H, P, D] = past.dims as [number, number, number, number];
  const S = cur.dims[2]!;
  if (cur.dims[0] !== B || cur.dims[1] !== H || cur.dims[3] !== D) {
    throw new OpError(`past state [${past.dims}] does not match current [${cur.dims}]`);
  }
  const T = P + S;
  const v = new Float64Array(B * H * T * D);
  for (let bh = 0; bh < B * H; bh++) {
    v.set(past.v.subarray(bh * P * D, (bh + 1) * P * D), bh * T * D);
    v.set(cur.v.subarray(bh * S * D, (bh + 1) * S * D), bh * T * D + P * D);
  }
  return { dims: [B, H, T, D], v };
}

// ---------------------------------------------------------------------------------------------
// Attention (opset 25 form; 23 and 24 are subsets without windows / nonpad_kv_seqlen)

const SOFTMAX_PRECISIONS = new Set([1, 10, 11, 16]);

function attentionAttrs(ctx: InferContext | { attrs: InferContext['attrs'] }) {
  const a = ctx.attrs;
  const mode = a.int('qk_matmul_output_mode', 0);
  if (mode < 0 || mode > 3) throw new OpError(`attribute 'qk_matmul_output_mode' must be 0..3, got ${mode}`);
  const left = a.int('left_window_size', -1);
  const right = a.int('right_window_size', -1);
  if (left < -1) throw new OpError(`attribute 'left_window_size' must be -1 or nonnegative, got ${left}`);
  if (right < -1) throw new OpError(`attribute 'right_window_size' must be -1 or nonnegative, got ${right}`);
  const sp = a.has('softmax_precision') ? a.int('softmax_precision') : undefined;
  if (sp !== undefined && !SOFTMAX_PRECISIONS.has(sp)) throw new OpError(`attribute 'softmax_precision' must be 1, 10, 11 or 16, got ${sp}`);
  return {
    mode, left, right, softmaxDtype: sp === undefined ? undefined : dtypeFromOnnx(sp)!,
    causal: a.int('is_causal', 0) !== 0,
    scale: a.has('scale') ? a.float('scale') : undefined,
    softcap: a.float('softcap', 0),
    qHeads: a.has('q_num_heads') ? a.int('q_num_heads') : undefined,
    kvHeads: a.has('kv_num_heads') ? a.int('kv_num_heads') : undefined,
  };
}

defineOp({
  name: 'Attention',
  // The optimizer recognizes attention as a family of its own rather than fusing through it.
  fusionClass: 'opaque',
  inputs: [3, 7],
  outputs: [1, 4],
  onnxSince: 23,
  onnxLower(ctx) {
    // Opsets 23-24 tolerated head-count attributes beside 4-D inputs; opset 25 forbids them.
    let attrs = ctx.attrs;
    if (ctx.opset < 25 && ctx.inputs[0]?.type.shape.length === 4) {
      attrs = attrs.with('q_num_heads', undefined).with('kv_num_heads', undefined);
    }
    ctx.setOutputs(ctx.emit('Attention', [...ctx.inputs], attrs, ctx.outputCount));
  },
  infer(ctx) {
    const at = attentionAttrs(ctx);
    const [q, k, v] = [ctx.input(0), ctx.input(1), ctx.input(2)];
    floatType(q, 'Attention input Q');
    if (k.dtype !== q.dtype) throw new OpError(`Attention input K has dtype ${k.dtype}, expected ${q.dtype} like Q`);
    if (v.dtype !== q.dtype) throw new UnsupportedError(`Attention with V of dtype ${v.dtype} and Q of dtype ${q.dtype} is not supported`);
    const rank = q.shape.length;
    if ((rank !== 3 && rank !== 4) || k.shape.length !== rank || v.shape.length !== rank) {
      throw new OpError(`Attention inputs Q, K, V must all be 3-D or all 4-D, got [${q.shape}], [${k.shape}], [${v.shape}]`);
    }
    let B: Dim, Hq: Dim, Hkv: Dim, Sq: Dim, Skv: Dim, D: Dim, Dv: Dim;
    if (rank === 3) {
      if (at.qHeads === undefined || at.kvHeads === undefined) throw new OpError(`Attention with 3-D inputs needs attributes 'q_num_heads' and 'kv_num_heads'`);
      if (at.qHeads <= 0 || at.kvHeads <= 0) throw new OpError(`Attention head counts must be positive, got q_num_heads=${at.qHeads}, kv_num_heads=${at.kvHeads}`);
      [B, Sq] = [q.shape[0]!, q.shape[1]!];
      [Hq, Hkv, Skv] = [at.qHeads, at.kvHeads, k.shape[1]!];
      D = divDim(q.shape[2]!, at.qHeads, `Attention Q hidden size`, ctx);
      checkDim(divDim(k.shape[2]!, at.kvHeads, 'Attention K hidden size', ctx), D, 'Attention K head size vs Q head size');
      Dv = divDim(v.shape[2]!, at.kvHeads, 'Attention V hidden size', ctx);
      checkDim(v.shape[1]!, Skv, 'Attention V sequence length vs K');
    } else {
      if (at.qHeads !== undefined || at.kvHeads !== undefined) throw new OpError(`Attention attributes 'q_num_heads' and 'kv_num_heads' must not be set for 4-D inputs`);
      [B, Hq, Sq, D] = q.shape as Dim[] as [Dim, Dim, Dim, Dim];
      [Hkv, Skv] = [k.shape[1]!, k.shape[2]!];
      checkDim(k.shape[3]!, D, 'Attention K head size vs Q head size');
      checkDim(v.shape[1]!, Hkv, 'Attention V heads vs K heads');
      checkDim(v.shape[2]!, Skv, 'Attention V sequence length vs K');
      Dv = v.shape[3]!;
    }
    for (const t of [k, v]) checkDim(t.shape[0]!, B, 'Attention batch size of K/V vs Q');
    if (typeof Hq === 'number' && typeof Hkv === 'number' && Hq % Hkv !== 0) {
      throw new OpError(`Attention q_num_heads ${Hq} is not a multiple of kv_num_heads ${Hkv}`);
    }
    const pk = ctx.optionalInput(4);
    const pv = ctx.optionalInput(5);
    if (!pk !== !pv) throw new OpError(`Attention inputs past_key and past_value must be given together`);
    let P: Dim = 0;
    if (pk && pv) {
      if (pk.shape.length !== 4 || pv.shape.length !== 4) throw new OpError(`Attention past_key and past_value must be 4-D, got [${pk.shape}] and [${pv.shape}]`);
      P = pk.shape[2]!;
      pk.shape.forEach((d, i) => checkDim(d, [B, Hkv, P, D][i]!, `Attention past_key dim ${i}`));
      pv.shape.forEach((d, i) => checkDim(d, [B, Hkv, P, Dv][i]!, `Attention past_value dim ${i}`));
    }
    const np = ctx.optionalInput(6);
    if (np) {
      if (pk) throw new OpError(`Attention input nonpad_kv_seqlen cannot be combined with past_key/past_value`);
      if (np.dtype !== 'i64' || np.shape.length !== 1) throw new OpError(`Attention nonpad_kv_seqlen must be i64 of shape [batch], got ${np.dtype}[${np.shape}]`);
      checkDim(np.shape[0]!, B, 'Attention nonpad_kv_seqlen length vs batch');
    }
    const T = addDim(P, Skv, ctx);
    const mask = ctx.optionalInput(3);
    if (mask) {
      if (mask.dtype !== 'bool' && !isFloat(mask.dtype)) throw new OpError(`Attention attn_mask must be bool or float, got ${mask.dtype}`);
      if (mask.shape.length < 1 || mask.shape.length > 4) throw new OpError(`Attention attn_mask must have rank 1..4, got [${mask.shape}]`);
      const full = [B, Hq, Sq, T].slice(4 - mask.shape.length);
      mask.shape.forEach((d, i) => {
        const last = i === mask.shape.length - 1;
        const ok = last ? typeof d !== 'number' || typeof full[i] !== 'number' || d <= (full[i] as number) : d === 1 || same(d, full[i]!);
        if (!ok) throw new OpError(`Attention attn_mask shape [${mask.shape}] does not broadcast to [${[B, Hq, Sq, T]}]`);
      });
    }
    const y: Dim[] = rank === 3 ? [B, Sq, typeof Dv === 'number' ? (Hq as number) * Dv : mulDim(v.shape[2]!, (Hq as number) / (Hkv as number), ctx)] : [B, Hq, Sq, Dv];
    return [
      { dtype: q.dtype, shape: y },
      { dtype: q.dtype, shape: [B, Hkv, T, D] },
      { dtype: v.dtype, shape: [B, Hkv, T, Dv] },
      { dtype: q.dtype, shape: [B, Hq, Sq, T] },
    ].slice(0, ctx.node.outputs.length);
  },
  evaluate(inputs, attrs, outputCount) {
    const at = attentionAttrs({ attrs });
    const [Q, K, V] = [0, 1, 2].map((i) => requireInput(inputs, i, 'Attention'));
    const [mask, pastK, pastV, nonpad] = [inputs[3], inputs[4], inputs[5], inputs[6]];
    const dt = Q!.dtype;
    const rq = rounder(dt);
    const q = toHeads(Q!, at.qHeads);
    const kAll = concatSeq(pastK && { dims: [...pastK.dims], v: pastK.values }, toHeads(K!, at.kvHeads));
    const vAll = concatSeq(pastV && { dims: [...pastV.dims], v: pastV.values }, toHeads(V!, at.kvHeads));
    const [B, Hq, Sq, D] = q.dims as [number, number, number, number];
    const [, Hkv, T] = kAll.dims as [number, number, number, number];
    const Dv = vAll.dims[3]!;
    if (Hq % Hkv !== 0) throw new OpError(`Attention q_num_heads ${Hq} is not a multiple of kv_num_heads ${Hkv}`);
    const group = Hq / Hkv;
    const packed = Q!.rank === 3;
    const P = pastK ? pastK.dims[2]! : 0;
    const np = nonpad?.values;
    // Q and K are each scaled by sqrt(scale), the factor itself rounded to the input dtype.
    const s = rq(Math.sqrt(at.scale ?? 1 / Math.sqrt(D)));
    const qs = q.v.map((x) => rq(x * s));
    const ks = kAll.v.map((x) => rq(x * s));

    // The additive bias of one (b, h, i, j): mask value (or -inf) plus -inf for each constraint it breaks.
    const maskFloat = mask && mask.dtype !== 'bool';
    const biasDt = maskFloat ? promote(dt, mask.dtype) : dt;
    let maskAt: ((b: number, h: number, i: number, j: number) => number) | undefined;
    if (mask) {
      const md = [...new Array<number>(4 - mask.rank).fill(1), ...mask.dims];
      const L = md[3]!;
      if (L > T) throw new OpError(`Attention attn_mask last dim ${L} exceeds total sequence length ${T}`);
      [B, Hq, Sq].forEach((n, i) => {
        if (md[i] !== 1 && md[i] !== n) throw new OpError(`Attention attn_mask shape [${mask.dims}] does not broadcast to [${[B, Hq, Sq, T]}]`);
      });
      const st = [md[1]! * md[2]! * L, md[2]! * L, L].map((x, i) => (md[i] === 1 ? 0 : x));
      const mv = mask.values;
      maskAt = (b, h, i, j) => {
        if (j >= L) return -Infinity;
        const x = mv[b * st[0]! + h * st[1]! + i * st[2]! + j]!;
        return maskFloat ? x : x ? 0 : -Infinity;
      };
    }
    const offset = (b: number) => (pastK ? P : np ? np[b]! - Sq : 0);
    const bias = (b: number, h: number, i: number, j: number) => {
      let x = maskAt ? maskAt(b, h, i, j) : 0;
      const diff = i + offset(b) - j;
      if (at.causal && diff < 0) x += -Infinity;
      if ((at.left >= 0 && diff > at.left) || (at.right >= 0 && -diff > at.right)) x += -Infinity;
      if (np && j >= np[b]!) x += -Infinity;
      return x;
    };

    const rb = rounder(biasDt);
    const sumDt = at.softmaxDtype ?? biasDt;
    const rs = rounder(sumDt);
    const y = new Float64Array(B * Hq * Sq * Dv);
    const qkOut = new Float64Array(B * Hq * Sq * T);
    const raw = new Float64Array(T);
    const biased = new Float64Array(T);
    const p = new Float64Array(T);
    for (let b = 0; b < B; b++) for (let h = 0; h < Hq; h++) {
      const kvh = Math.floor(h / group);
      const kBase = (b * Hkv + kvh) * T;
      for (let i = 0; i < Sq; i++) {
        const qBase = ((b * Hq + h) * Sq + i) * D;
        let allMasked = true;
        for (let j = 0; j < T; j++) {
          let acc = 0;
          for (let d = 0; d < D; d++) acc += qs[qBase + d]! * ks[(kBase + j) * D + d]!;
          let x = rq(acc);
          if (at.softcap > 0) x = rq(rq(Math.tanh(rq(x / at.softcap))) * at.softcap);
          raw[j] = x;
          const bj = bias(b, h, i, j);
          if (bj !== -Infinity) allMasked = false;
          biased[j] = rb(x + bj);
        }
        // Softmax, guarded so that a row with no attendable key gives zeros rather than NaN.
        let m = -Infinity;
        for (let j = 0; j < T; j++) {
          const x = rs(biased[j]!);
          if (Number.isNaN(x) || Number.isNaN(m)) m = NaN;
          else if (x > m) m = x;
        }
        const safe = m === -Infinity ? 0 : m;
        // numpy sums bfloat16 (an ml_dtypes type) one rounded addition at a time, other floats at once.
        let sum = 0;
        for (let j = 0; j < T; j++) {
          p[j] = rs(Math.exp(rs(rs(biased[j]!) - safe)));
          sum = sumDt === 'bf16' ? rs(sum + p[j]!) : sum + p[j]!;
        }
        sum = rs(sum);
        if (sum === 0) sum = 1;
        for (let j = 0; j < T; j++) p[j] = allMasked ? 0 : rq(rs(p[j]! / sum));
        const row = ((b * Hq + h) * Sq + i) * T;
        for (let j = 0; j < T; j++) {
          qkOut[row + j] = at.mode === 3 ? p[j]! : at.mode === 2 ? biased[j]! : raw[j]!;
        }
        // 3-D inputs give Y as [B, Sq, Hq * Dv].
        const yBase = packed ? ((b * Sq + i) * Hq + h) * Dv : ((b * Hq + h) * Sq + i) * Dv;
        for (let e = 0; e < Dv; e++) {
          let acc = 0;
          for (let j = 0; j < T; j++) acc += p[j]! * vAll.v[(kBase + j) * Dv + e]!;
          y[yBase + e] = acc;
        }
      }
    }
    return [
      TensorData.fromValues(dt, packed ? [B, Sq, Hq * Dv] : [B, Hq, Sq, Dv], y),
      TensorData.fromValues(dt, kAll.dims, kAll.v.slice()),
      TensorData.fromValues(V!.dtype, vAll.dims, vAll.v.slice()),
      TensorData.fromValues(dt, [B, Hq, Sq, T], qkOut),
    ].slice(0, outputCount);
  },
});

// ---------------------------------------------------------------------------------------------
// RotaryEmbedding

defineOp({
  name: 'RotaryEmbedding',
  // Each output pairs two input elements with a gathered cos/sin entry: no simpler class fits.
  fusionClass: 'opaque',
  inputs: [3, 4],
  outputs: [1, 1],
  onnxSince: 23,
  infer(ctx) {
    const x = ctx.input(0);
    floatType(x, 'RotaryEmbedding input X');
    for (const i of [1, 2]) {
      const c = ctx.input(i);
      if (c.dtype !== x.dtype) throw new OpError(`RotaryEmbedding input ${i === 1 ? 'cos_cache' : 'sin_cache'} has dtype ${c.dtype}, expected ${x.dtype}`);
      if (c.shape.length !== 2 && c.shape.length !== 3) throw new OpError(`RotaryEmbedding cache must be 2-D or 3-D, got [${c.shape}]`);
    }
    if (x.shape.length === 3) {
      const h = ctx.attrs.int('num_heads', 0);
      if (h <= 0) throw new OpError(`RotaryEmbedding with a 3-D input needs attribute 'num_heads' > 0, got ${h}`);
      divDim(x.shape[2]!, h, 'RotaryEmbedding hidden size', ctx);
    } else if (x.shape.length !== 4) {
      throw new OpError(`RotaryEmbedding input X must be 3-D or 4-D, got [${x.shape}]`);
    }
    const pos = ctx.optionalInput(3);
    if (pos && (pos.dtype !== 'i64' || pos.shape.length !== 2)) throw new OpError(`RotaryEmbedding position_ids must be i64 [batch, seq], got ${pos.dtype}[${pos.shape}]`);
    return [x];
  },
  evaluate(inputs, attrs) {
    const [X, cosT, sinT] = [0, 1, 2].map((i) => requireInput(inputs, i, 'RotaryEmbedding'));
    const pos = inputs[3]?.values;
    const dt = X!.dtype;
    const r = rounder(dt);
    // Address X as [B, S, H, D] whichever layout it has.
    let B: number, S: number, H: number, D: number, at: (b: number, s: number, h: number, d: number) => number;
    if (X!.rank === 4) {
      [B, H, S, D] = X!.dims as [number, number, number, number];
      at = (b, s, h, d) => ((b * H + h) * S + s) * D + d;
    } else {
      [B, S] = [X!.dims[0]!, X!.dims[1]!];
      H = attrs.int('num_heads');
      D = X!.dims[2]! / H;
      at = (b, s, h, d) => (b * S + s) * H * D + h * D + d;
    }
    const rot = attrs.int('rotary_embedding_dim', 0) || D;
    const half = Math.trunc(rot / 2);
    if (rot > D || rot % 2 !== 0) throw new OpError(`RotaryEmbedding rotary_embedding_dim ${rot} must be even and at most head size ${D}`);
    for (const c of [cosT!, sinT!]) {
      if (c.dims[c.rank - 1] !== half) throw new OpError(`RotaryEmbedding cache last dim ${c.dims[c.rank - 1]} does not match rotary_embedding_dim/2 = ${half}`);
    }
    const interleaved = attrs.int('interleaved', 0) !== 0;
    const xv = X!.values;
    const out = Float64Array.from(xv);
    const maxPos = cosT!.dims[0]!;
    for (let b = 0; b < B; b++) for (let s = 0; s < S; s++) {
      let row = b * S + s;
      if (pos) {
        row = pos[b * S + s]!;
        if (row < 0 || row >= maxPos || !Number.isInteger(row)) throw new OpError(`RotaryEmbedding position_ids value ${row} is out of range [0, ${maxPos})`);
      }
      for (let h = 0; h < H; h++) for (let k = 0; k < half; k++) {
        const c = cosT!.values[row * half + k]!;
        const sn = sinT!.values[row * half + k]!;
        const [i1, i2] = interleaved ? [at(b, s, h, 2 * k), at(b, s, h, 2 * k + 1)] : [at(b, s, h, k), at(b, s, h, k + half)];
        const x1 = xv[i1]!;
        const x2 = xv[i2]!;
        out[i1] = r(r(c * x1) - r(sn * x2));
        out[i2] = r(r(sn * x1) + r(c * x2));
      }
    }
    return [TensorData.fromValues(dt, X!.dims, out)];
  },
});

// ---------------------------------------------------------------------------------------------
// SwiGLU

defineOp({
  name: 'SwiGLU',
  fusionClass: 'elementwise',
  inputs: [2, 2],
  outputs: [1, 1],
  onnxSince: 28,
  infer(ctx) {
    const [a, b] = [ctx.input(0), ctx.input(1)];
    floatType(a, 'SwiGLU input A');
    if (b.dtype !== a.dtype) throw new OpError(`SwiGLU input B has dtype ${b.dtype}, expected ${a.dtype} like A`);
    // No broadcasting: the two inputs must have one shape.
    if (a.shape.length !== b.shape.length || !a.shape.every((d, i) => same(d, b.shape[i]!))) {
      throw new OpError(`SwiGLU inputs must have identical shapes, got [${a.shape}] and [${b.shape}]`);
    }
    return [{ dtype: a.dtype, shape: a.shape.map((d, i) => (typeof d === 'number' ? d : b.shape[i]!)) }];
  },
  evaluate(inputs, attrs) {
    const [A, Bt] = [0, 1].map((i) => requireInput(inputs, i, 'SwiGLU'));
    if (A!.dims.length !== Bt!.dims.length || A!.dims.some((d, i) => d !== Bt!.dims[i])) {
      throw new OpError(`SwiGLU inputs must have identical shapes, got [${A!.dims}] and [${Bt!.dims}]`);
    }
    const r = rounder(A!.dtype);
    const alpha = attrs.float('alpha', 1);
    const av = A!.values;
    const bv = Bt!.values;
    // Rounded like the numpy reference: each of -alpha*a, exp, 1+, 1/ and the two products.
    const out = av.map((a, i) => r(r(a * r(1 / r(1 + r(Math.exp(r(-alpha * a)))))) * bv[i]!));
    return [TensorData.fromValues(A!.dtype, A!.dims, out)];
  },
});

// ---------------------------------------------------------------------------------------------
// LinearAttention

const UPDATE_RULES = ['linear', 'gated', 'delta', 'gated_delta'];

function linearAttentionSetup(attrs: InferContext['attrs'], has: (i: number) => boolean) {
  const rule = attrs.string('update_rule', 'gated_delta');
  if (!UPDATE_RULES.includes(rule)) throw new OpError(`attribute 'update_rule' must be one of ${UPDATE_RULES.join(', ')}, got '${rule}'`);
  const qh = attrs.int('q_num_heads');
  const kvh = attrs.int('kv_num_heads');
  if (qh <= 0 || kvh <= 0 || qh % kvh !== 0) throw new OpError(`attribute 'q_num_heads' (${qh}) must be a positive multiple of 'kv_num_heads' (${kvh})`);
  const gated = rule === 'gated' || rule === 'gated_delta';
  const delta = rule === 'delta' || rule === 'gated_delta';
  if (gated !== has(4)) throw new OpError(`update_rule '${rule}' ${gated ? 'requires' : 'forbids'} input 'decay'`);
  if (delta !== has(5)) throw new OpError(`update_rule '${rule}' ${delta ? 'requires' : 'forbids'} input 'beta'`);
  return { qh, kvh, gated, delta };
}

defineOp({
  name: 'LinearAttention',
  // A recurrence over the sequence carrying state: opaque to fusion.
  fusionClass: 'opaque',
  inputs: [3, 6],
  outputs: [1, 2],
  onnxSince: 27,
  infer(ctx) {
    const { qh, kvh } = linearAttentionSetup(ctx.attrs, (i) => ctx.optionalInput(i) !== undefined);
    const [q, k, v] = [ctx.input(0), ctx.input(1), ctx.input(2)];
    floatType(q, 'LinearAttention input query');
    for (const [t, n] of [[q, 'query'], [k, 'key'], [v, 'value']] as const) {
      if (t.shape.length !== 3) throw new OpError(`LinearAttention input ${n} must be 3-D (B, T, H*D), got [${t.shape}]`);
      if (t.dtype !== q.dtype) throw new OpError(`LinearAttention input ${n} has dtype ${t.dtype}, expected ${q.dtype}`);
    }
    const [B, T] = [q.shape[0]!, q.shape[1]!];
    const dk = divDim(q.shape[2]!, qh, 'LinearAttention query hidden size', ctx);
    checkDim(divDim(k.shape[2]!, kvh, 'LinearAttention key hidden size', ctx), dk, 'LinearAttention key head size vs query');
    const dv = divDim(v.shape[2]!, kvh, 'LinearAttention value hidden size', ctx);
    for (const t of [k, v]) [B, T].forEach((d, i) => checkDim(t.shape[i]!, d, `LinearAttention ${i ? 'sequence length' : 'batch'}`));
    const past = ctx.optionalInput(3);
    if (past) {
      floatType(past, 'LinearAttention input past_state');
      if (past.shape.length !== 4) throw new OpError(`LinearAttention past_state must be 4-D, got [${past.shape}]`);
      past.shape.forEach((d, i) => checkDim(d, [B, kvh, dk, dv][i]!, `LinearAttention past_state dim ${i}`));
    }
    for (const i of [4, 5]) {
      const t = ctx.optionalInput(i);
      if (t && t.shape.length !== 3) throw new OpError(`LinearAttention input ${i === 4 ? 'decay' : 'beta'} must be 3-D, got [${t.shape}]`);
    }
    return [
      { dtype: q.dtype, shape: [B, T, typeof dv === 'number' ? qh * dv : mulDim(v.shape[2]!, qh / kvh, ctx)] },
      { dtype: past?.dtype ?? q.dtype, shape: [B, kvh, dk, dv] },
    ].slice(0, ctx.node.outputs.length);
  },
  evaluate(inputs, attrs, outputCount) {
    const { qh, kvh, gated, delta } = linearAttentionSetup(attrs, (i) => inputs[i] !== undefined);
    const [Qt, Kt, Vt] = [0, 1, 2].map((i) => requireInput(inputs, i, 'LinearAttention'));
    const [past, decay, beta] = [inputs[3], inputs[4], inputs[5]];
    const [B, T] = [Qt!.dims[0]!, Qt!.dims[1]!];
    const dk = Qt!.dims[2]! / qh;
    const dv = Vt!.dims[2]! / kvh;
    const group = qh / kvh;
    const [q, k, v] = [Qt!.values, Kt!.values, Vt!.values];
    const state = past ? Float64Array.from(past.values) : new Float64Array(B * kvh * dk * dv);
    const sc = attrs.float('scale', 0) || 1 / Math.sqrt(dk);
    const dLast = decay?.dims[2];
    if (decay && dLast !== kvh && dLast !== kvh * dk) throw new OpError(`LinearAttention decay last dim ${dLast} must be ${kvh} or ${kvh * dk}`);
    const bLast = beta?.dims[2];
    if (beta && bLast !== kvh && bLast !== 1) throw new OpError(`LinearAttention beta last dim ${bLast} must be ${kvh} or 1`);
    const out = new Float64Array(B * T * qh * dv);
    const vt = new Float64Array(dv);
    for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) {
      for (let h = 0; h < kvh; h++) {
        const S = state.subarray((b * kvh + h) * dk * dv, (b * kvh + h + 1) * dk * dv);
        const kOff = (b * T + t) * kvh * dk + h * dk;
        if (gated) {
          for (let d = 0; d < dk; d++) {
            const g = dLast === kvh ? decay!.values[(b * T + t) * kvh + h]! : decay!.values[(b * T + t) * kvh * dk + h * dk + d]!;
            const f = Math.exp(g);
            for (let m = 0; m < dv; m++) S[d * dv + m]! *= f;
          }
        }
        for (let m = 0; m < dv; m++) vt[m] = v[(b * T + t) * kvh * dv + h * dv + m]!;
        if (delta) {
          const bt = beta!.values[(b * T + t) * bLast! + (bLast === 1 ? 0 : h)]!;
          for (let m = 0; m < dv; m++) {
            let got = 0;
            for (let d = 0; d < dk; d++) got += S[d * dv + m]! * k[kOff + d]!;
            vt[m] = bt * (vt[m]! - got);
          }
        }
        for (let d = 0; d < dk; d++) for (let m = 0; m < dv; m++) S[d * dv + m]! += k[kOff + d]! * vt[m]!;
      }
      // Each query head reads the state of the KV head it shares.
      for (let h = 0; h < qh; h++) {
        const S = state.subarray((b * kvh + Math.floor(h / group)) * dk * dv);
        const qOff = (b * T + t) * qh * dk + h * dk;
        for (let m = 0; m < dv; m++) {
          let acc = 0;
          for (let d = 0; d < dk; d++) acc += q[qOff + d]! * S[d * dv + m]!;
          out[(b * T + t) * qh * dv + h * dv + m] = sc * acc;
        }
      }
    }
    return [
      TensorData.fromValues(Qt!.dtype, [B, T, qh * dv], out),
      TensorData.fromValues(past?.dtype ?? Qt!.dtype, [B, kvh, dk, dv], state),
    ].slice(0, outputCount);
  },
});

// ---------------------------------------------------------------------------------------------
// CausalConvWithState

const ACTIVATIONS = ['none', 'silu', 'swish'];

defineOp({
  name: 'CausalConvWithState',
  // A depthwise convolution that also returns its carry state: two outputs, so no fusion template.
  fusionClass: 'opaque',
  inputs: [2, 4],
  outputs: [1, 2],
  onnxSince: 27,
  infer(ctx) {
    const act = ctx.attrs.string('activation', 'none');
    if (!ACTIVATIONS.includes(act)) throw new OpError(`attribute 'activation' must be one of ${ACTIVATIONS.join(', ')}, got '${act}'`);
    const [x, w] = [ctx.input(0), ctx.input(1)];
    floatType(x, 'CausalConvWithState input');
    if (x.shape.length !== 3) throw new OpError(`CausalConvWithState input must be 3-D (batch, channels, length), got [${x.shape}]`);
    if (w.shape.length !== 3 || !same(w.shape[1]!, 1)) throw new OpError(`CausalConvWithState weight must have shape (channels, 1, k), got [${w.shape}]`);
    checkDim(w.shape[0]!, x.shape[1]!, 'CausalConvWithState weight channels vs input channels');
    const bias = ctx.optionalInput(2);
    if (bias && (bias.shape.length !== 1 || !same(bias.shape[0]!, x.shape[1]!))) throw new OpError(`CausalConvWithState bias must have shape [${x.shape[1]}], got [${bias.shape}]`);
    for (const t of [w, bias, ctx.optionalInput(3)]) if (t && t.dtype !== x.dtype) throw new OpError(`CausalConvWithState inputs must share dtype ${x.dtype}, got ${t.dtype}`);
    const k = w.shape[2]!;
    const past = ctx.optionalInput(3);
    const km1: Dim = typeof k === 'number' ? k - 1 : past?.shape[2] ?? ctx.freshDim();
    if (past) {
      if (past.shape.length !== 3) throw new OpError(`CausalConvWithState past_state must be 3-D, got [${past.shape}]`);
      past.shape.forEach((d, i) => checkDim(d, [x.shape[0]!, x.shape[1]!, km1][i]!, `CausalConvWithState past_state dim ${i}`));
    }
    return [x, { dtype: x.dtype, shape: [x.shape[0]!, x.shape[1]!, km1] }].slice(0, ctx.node.outputs.length);
  },
  evaluate(inputs, attrs, outputCount) {
    const [X, W] = [0, 1].map((i) => requireInput(inputs, i, 'CausalConvWithState'));
    const [bias, past] = [inputs[2]?.values, inputs[3]];
    const [B, C, L] = X!.dims as [number, number, number];
    const k = W!.dims[2]!;
    if (k < 1) throw new OpError(`CausalConvWithState kernel size must be >= 1, got ${k}`);
    const N = L + k - 1;
    // The effective sequence: carry state (or zeros) followed by the input.
    const padded = new Float64Array(B * C * N);
    for (let bc = 0; bc < B * C; bc++) {
      if (past) padded.set(past.values.subarray(bc * (k - 1), (bc + 1) * (k - 1)), bc * N);
      padded.set(X!.values.subarray(bc * L, (bc + 1) * L), bc * N + k - 1);
    }
    const r = rounder(X!.dtype);
    const silu = attrs.string('activation', 'none') !== 'none';
    const out = new Float64Array(B * C * L);
    const state = new Float64Array(B * C * (k - 1));
    for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) {
      const base = (b * C + c) * N;
      for (let t = 0; t < L; t++) {
        let acc = bias ? bias[c]! : 0;
        for (let i = 0; i < k; i++) acc += W!.values[c * k + i]! * padded[base + t + i]!;
        const y = r(acc);
        out[(b * C + c) * L + t] = silu ? y / (1 + Math.exp(-y)) : y;
      }
      state.set(padded.subarray(base + L, base + N), (b * C + c) * (k - 1));
    }
    return [
      TensorData.fromValues(X!.dtype, [B, C, L], out),
      TensorData.fromValues(X!.dtype, [B, C, k - 1], state),
    ].slice(0, outputCount);
  },
});

// ---------------------------------------------------------------------------------------------
// TensorScatter

defineOp({
  name: 'TensorScatter',
  // Writes at run-time positions (write_indices): data-dependent, so opaque.
  fusionClass: 'opaque',
  inputs: [2, 3],
  outputs: [1, 1],
  onnxSince: 24,
  infer(ctx) {
    const mode = ctx.attrs.string('mode', 'linear');
    if (mode !== 'linear' && mode !== 'circular') throw new OpError(`attribute 'mode' must be 'linear' or 'circular', got '${mode}'`);
    const [c, u] = [ctx.input(0), ctx.input(1)];
    if (u.dtype !== c.dtype) throw new OpError(`TensorScatter update has dtype ${u.dtype}, expected ${c.dtype} like past_cache`);
    if (u.shape.length !== c.shape.length) throw new OpError(`TensorScatter update rank ${u.shape.length} differs from past_cache rank ${c.shape.length}`);
    const axis = normalizeAxis(ctx.attrs.int('axis', -2), c.shape.length, `attribute 'axis'`);
    if (axis === 0) throw new OpError(`TensorScatter attribute 'axis' must not be the batch axis 0`);
    c.shape.forEach((d, i) => {
      const ud = u.shape[i]!;
      const ok = i === axis ? typeof d !== 'number' || typeof ud !== 'number' || ud <= d : same(d, ud);
      if (!ok) throw new OpError(`TensorScatter update shape [${u.shape}] does not fit past_cache shape [${c.shape}] (axis ${axis})`);
    });
    const w = ctx.optionalInput(2);
    if (w && (w.dtype !== 'i64' || w.shape.length !== 1)) throw new OpError(`TensorScatter write_indices must be i64 of shape [batch], got ${w.dtype}[${w.shape}]`);
    return [c];
  },
  evaluate(inputs, attrs) {
    const [cache, upd] = [0, 1].map((i) => requireInput(inputs, i, 'TensorScatter'));
    const wi = inputs[2]?.values;
    const dims = cache!.dims;
    const axis = normalizeAxis(attrs.int('axis', -2), dims.length, `attribute 'axis'`);
    const circular = attrs.string('mode', 'linear') === 'circular';
    const M = dims[axis]!;
    const S = upd!.dims[axis]!;
    const inner = elementCount(dims.slice(axis + 1));
    const outer = elementCount(dims.slice(0, axis));
    const perBatch = outer / dims[0]!;
    const out = Float64Array.from(cache!.values);
    const uv = upd!.values;
    for (let o = 0; o < outer; o++) {
      const start = wi ? wi[Math.floor(o / perBatch)]! : 0;
      for (let s = 0; s < S; s++) {
        let pos = start + s;
        if (circular) pos = ((pos % M) + M) % M;
        else if (pos < 0 || pos >= M) throw new OpError(`TensorScatter write index ${pos} is out of range for max_sequence_length ${M} in linear mode`);
        out.set(uv.subarray((o * S + s) * inner, (o * S + s + 1) * inner), (o * M + pos) * inner);
      }
    }
    return [TensorData.fromValues(cache!.dtype, dims, out)];
  },
});
