// What both Attention generators (attention.ts, attention-mma.ts) read of the fused op
// (compiler/ops/attention.ts): its slots, sizes, layout (4-D [B,H,S,D] or 3-D packed [B,S,H*D]) and
// attributes, the element offsets of each operand and the additive bias of a (row i, key j) pair
// that the mask and the causal/window constraints give.

import type { ArtifactDType, ValueSlot } from '../../artifact/format.js';
import type { KernelContext } from './context.js';
import { attrFloat, attrInt, hasAttr } from './plan-attrs.js';
import { fromStorage, intLit, literal, numel } from './source.js';

export interface AttentionShape {
  Q: ValueSlot;
  K: ValueSlot;
  V: ValueSlot;
  mask: ValueSlot | undefined;
  out: ValueSlot;
  rank: 3 | 4;
  B: number;
  Hq: number;
  Hkv: number;
  Sq: number;
  T: number;
  D: number;
  Dv: number;
  scale: number;
  softcap: number;
  causal: boolean;
  left: number;
  right: number;
  /** Index type of offsets: 64-bit when an operand has 2^30 elements or more. */
  it: string;
}

/** Checks what neither generator runs (KV cache, extra outputs, fused steps) and reads the op. */
export function attentionShape(ctx: KernelContext): AttentionShape {
  const k = ctx.kernel;
  if (ctx.prologue.length || ctx.epilogue.length) throw ctx.refuse('with fused steps');
  if (k.outputs.length > 1) throw ctx.refuse('with present_key/present_value/qk outputs');
  if (ctx.input(4) || ctx.input(5)) throw ctx.refuse('with past_key/past_value');
  if (ctx.input(6)) throw ctx.refuse('with nonpad_kv_seqlen');
  const [Q, K, V] = [0, 1, 2].map((i) => ctx.requireInput(i)) as [ValueSlot, ValueSlot, ValueSlot];
  const mask = ctx.input(3);
  const out = ctx.output();
  for (const s of [Q, K, V, out, ...(mask ? [mask] : [])]) ctx.checkDtype(s.dtype);
  const rank = Q.shape.length;
  let B: number, Hq: number, Hkv: number, Sq: number, T: number, D: number, Dv: number;
  if (rank === 4) {
    [B, Hq, Sq, D] = Q.shape as [number, number, number, number];
    [Hkv, T] = [K.shape[1]!, K.shape[2]!];
    Dv = V.shape[3]!;
  } else if (rank === 3) {
    Hq = attrInt(k.attrs, 'q_num_heads', 0);
    Hkv = attrInt(k.attrs, 'kv_num_heads', 0);
    [B, Sq] = [Q.shape[0]!, Q.shape[1]!];
    D = Q.shape[2]! / Hq;
    T = K.shape[1]!;
    Dv = V.shape[2]! / Hkv;
  } else {
    throw ctx.refuse(`on rank-${rank} inputs`);
  }
  const big = Math.max(numel(Q.shape), numel(K.shape), numel(V.shape), numel(out.shape), mask ? numel(mask.shape) : 0) > 2 ** 30;
  return {
    Q, K, V, mask, out, rank, B, Hq, Hkv, Sq, T, D, Dv,
    scale: hasAttr(k.attrs, 'scale') ? attrFloat(k.attrs, 'scale', 1) : 1 / Math.sqrt(D),
    softcap: attrFloat(k.attrs, 'softcap', 0),
    causal: attrInt(k.attrs, 'is_causal', 0) !== 0,
    left: attrInt(k.attrs, 'left_window_size', -1),
    right: attrInt(k.attrs, 'right_window_size', -1),
    it: big ? 'mcpc_i64' : 'int',
  };
}

/**
 * Offset expressions of element (row, column) of an operand of head `head` in batch `b`: Q and Y
 * by query head h, K and V by kv head kvh.
 */
export function operandOffsets(a: AttentionShape) {
  const { rank, Hq, Hkv, Sq, T, D, Dv, it } = a;
  const L = intLit;
  const at = (H: number, S: number, W: number) => (head: string, row: string, col: string) =>
    rank === 4 ? `((${it})(b * ${L(H)} + ${head}) * ${L(S)} + ${row}) * ${L(W)} + ${col}` : `((${it})b * ${L(S)} + ${row}) * ${L(H * W)} + ${head} * ${L(W)} + ${col}`;
  return { q: at(Hq, Sq, D), k: at(Hkv, T, D), v: at(Hkv, T, Dv), y: at(Hq, Sq, Dv) };
}

/**
 * Statements that set `float bias` for query row `i` and key `j` (ints in scope with `b`, `h`):
 * the mask value (or -inf for false, or for a key beyond the mask's last dim) plus -inf for each
 * constraint the key breaks. Empty when nothing constrains the scores.
 */
export function biasLines(a: AttentionShape, maskPtr: string | undefined): string[] {
  const { mask, T, it, causal, left, right } = a;
  const L = intLit;
  const ninf = `-${literal(Infinity, 'f32')}`;
  if (!mask && !causal && left < 0 && right < 0) return [];
  const lines = ['float bias = 0.0f;'];
  if (mask && maskPtr) {
    const md = [...new Array<number>(4 - mask.shape.length).fill(1), ...mask.shape];
    const Lm = md[3]!;
    const st = [md[1]! * md[2]! * Lm, md[2]! * Lm, Lm].map((x, i) => (md[i] === 1 ? 0 : x));
    const terms = [st[0] ? `(${it})b * ${L(st[0])}` : '', st[1] ? `(${it})h * ${L(st[1])}` : '', st[2] ? `(${it})i * ${L(st[2])}` : '', 'j'].filter(Boolean).join(' + ');
    const value = maskValue(mask.dtype, `${maskPtr}[${terms}]`);
    lines.push(Lm < T ? `bias = j < ${L(Lm)} ? ${value} : ${ninf};` : `bias = ${value};`);
  }
  if (causal) lines.push(`if (j > i) bias = ${ninf};`);
  if (left >= 0) lines.push(`if (i - j > ${left}) bias = ${ninf};`);
  if (right >= 0) lines.push(`if (j - i > ${right}) bias = ${ninf};`);
  return lines;
}

function maskValue(d: ArtifactDType, e: string): string {
  return d === 'bool' ? `(${e} != 0 ? 0.0f : -${literal(Infinity, 'f32')})` : `(float)${fromStorage(d, e)}`;
}
