// lower-precision: stores every float32 activation and weight of the graph in float16 or bfloat16
// (--precision fp16|bf16 on the cuda target), keeping the model's signature in float32.
//   x (f32 input)  ->  Cast(to=low)  ->  ...the graph, in low...  ->  Cast(to=f32)  ->  y (f32 output)
// Needs: types inferred. Guarantees: every f32 value a node produces or reads becomes `low`
// (constants are rounded once, here), except inputs that ONNX fixes to float32 (Resize scales);
// Cast to float32 becomes Cast to `low`, and ConstantOfShape/EyeLike/Random* that make float32
// make `low`; graph inputs and outputs keep their names and float32 types. Kernels compute in
// float32 and only store in `low`, so this changes rounding at tensor boundaries, not arithmetic.
// A no-op when ctx.floatStorage is 'f32'.
//
// The fp16 range guard: float16 holds magnitudes from 2^-14 (6.1e-5; subnormals down to 6e-8 with
// fewer digits) to 65504. Given the largest |x| of each value on calibration inputs
// (ctx.valueRanges, measured by a float32 run: cli/calibrate.ts), an fp16 plan keeps in float32
// every node that reads or writes a value outside [2^-10, 2^15] (F16_SAFE_RANGE; all-zero values
// are exact). Those nodes compute and store float32 in the plan; a Cast sits wherever a value
// crosses between them and the float16 rest, and their large contraction weights stay float16,
// widened at their step (LOW_WEIGHT_MIN_ELEMENTS; in column chunks past WIDEN_CHUNK_BYTES).
// Random-init MobileNetV2's activations shrink to ~1e-10 by the logits, so its float16 output is
// 0 everywhere without this; a ResNet stays in range and keeps no node. bf16 has float32's exponent range and keeps every node low. Constants above 65504 (masks
// filled with -1e9 or float32's lowest) saturate to infinity as they always did: that is what they
// mean.

import { ONNX_DTYPE_CODE, type DType } from '../ir/dtype.js';
import { attr, Attrs, type Graph, type Node, type Value } from '../ir/graph.js';
import { TensorData } from '../ir/tensor.js';
import { bumpStat, type Pass, type PassContext } from './pass.js';

/** Inputs that ONNX types as float32 whatever the data's type: they stay float32. */
const FLOAT32_INPUTS: Readonly<Record<string, readonly number[]>> = { Resize: [2], Upsample: [1] };

/** Ops whose output dtype is an attribute ('to' or 'dtype' as an ONNX type code). */
const DTYPE_ATTR: Readonly<Record<string, string>> = {
  Cast: 'to', EyeLike: 'dtype', RandomNormal: 'dtype', RandomUniform: 'dtype', RandomNormalLike: 'dtype', RandomUniformLike: 'dtype',
};

/** IEEE binary16 bits of the float32 with bits `u`, rounded to nearest-even. */
export function f32BitsToF16Bits(u: number): number {
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  let mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && (half & 1) !== 0)) half += 1;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1) !== 0)) half += 1; // a carry rounds up to the next binade or to infinity
  return sign | half;
}

/** bfloat16 bits of the float32 with bits `u`, rounded to nearest-even (NaN stays NaN). */
export function f32BitsToBf16Bits(u: number): number {
  if ((u & 0x7f800000) === 0x7f800000 && (u & 0x7fffff) !== 0) return ((u >>> 16) | 0x40) & 0xffff;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

/** A float32 tensor's bytes as 32-bit words, in place where they are 4-byte aligned. */
function words32<T extends Uint32Array | Float32Array>(t: TensorData, View: { new (b: ArrayBufferLike, o: number, n: number): T }): T {
  const src = t.bytes;
  return src.byteOffset % 4 === 0 ? new View(src.buffer, src.byteOffset, t.size) : new View(new Uint8Array(src).buffer, 0, t.size);
}

/** A float32 tensor stored as `low`, converted bit by bit (weights of 100M+ elements stay fast). */
function lowTensor(t: TensorData, low: 'f16' | 'bf16'): TensorData {
  const words = words32(t, Uint32Array);
  const out = new Uint16Array(t.size);
  const convert = low === 'f16' ? f32BitsToF16Bits : f32BitsToBf16Bits;
  for (let i = 0; i < out.length; i++) out[i] = convert(words[i]!);
  return TensorData.fromBytes(low, t.dims, new Uint8Array(out.buffer));
}

function keepsFloat32(n: Node, i: number): boolean {
  return FLOAT32_INPUTS[n.op]?.includes(i) ?? false;
}

function castNode(g: Graph, from: Value, to: DType, loc: string, at?: number): Node {
  return g.addNode(
    { op: 'Cast', inputs: [from], attrs: new Attrs([['to', attr.int(ONNX_DTYPE_CODE[to])]]), outputTypes: [{ dtype: to, shape: [...from.type.shape] }], outputNames: [`${from.name}_${to}`], loc },
    at,
  );
}

/**
 * The magnitudes an fp16 plan stores in float16: a value whose largest |x| on the calibration
 * inputs is outside [low, high] is kept float32 (see the header). low = 2^-10 leaves the smallest
 * normal float16 (2^-14) 16x below the largest element, so the subnormal spacing (2^-24) stays
 * below 2^-14 of it; high = 2^15 leaves 2x to 65504 for inputs larger than the calibration's.
 * Values at or above `sentinel` (2^64) are masks filled with a huge number (float32's lowest), not
 * magnitudes: they saturate as they always did.
 */
export const F16_SAFE_RANGE = { low: 2 ** -10, high: 2 ** 15, sentinel: 2 ** 64 } as const;

/** Why float16 cannot hold a value whose largest |x| is `maxAbs` (undefined: it can). */
export function f16RangeProblem(maxAbs: number): 'underflow' | 'overflow' | undefined {
  if (!(maxAbs > 0)) return undefined;
  if (maxAbs < F16_SAFE_RANGE.low) return 'underflow';
  if (maxAbs > F16_SAFE_RANGE.high && maxAbs < F16_SAFE_RANGE.sentinel) return 'overflow';
  return undefined;
}

/** Ops whose output holds only elements of their inputs: a value they make has their inputs' range. */
const MOVEMENT_OPS: ReadonlySet<string> = new Set([
  'Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Transpose', 'Identity', 'Slice', 'Gather', 'GatherElements', 'GatherND',
  'Concat', 'Split', 'Expand', 'Tile', 'Pad', 'DepthToSpace', 'SpaceToDepth', 'MaxPool',
]);

/** Largest |x| of a float32 constant (NaN and infinities skipped), read in place. */
function constantMaxAbs(t: TensorData): number {
  const x = words32(t, Float32Array);
  let m = 0;
  for (let i = 0; i < x.length; i++) {
    const a = Math.abs(x[i]!);
    if (a > m && Number.isFinite(a)) m = a;
  }
  return m;
}

/**
 * Weights of at least this many elements that a float32 node reads are stored low all the same
 * (when float16 holds them) and widened by a Cast at their step, into the arena: the kept nodes of
 * random-init MobileNetV2 hold most of its weights, which would double in float32. Smaller ones
 * stay float32: each Cast is a launch (about 3 us at batch 1 on an H200, MCPC_PROFILE), and the
 * weights of MobileNetV2's float32 nodes under this size (depthwise filters, the narrower 1x1s)
 * add 0.9 MiB that way (6.8 -> 7.7 MiB of weights), where widening them would take 13 launches.
 */
export const LOW_WEIGHT_MIN_ELEMENTS = 65536;

/**
 * Widened weights are at most this many float32 bytes at a time: a float32 MatMul/Gemm whose
 * weight is larger runs as column chunks (one Cast and one product each, then a Concat), so the
 * arena never holds the whole widened matrix (MobileNetV2's classifier, 1280x1000: 4.9 MiB, more
 * than its batch-1 activations' 2.9 MiB arena).
 */
export const WIDEN_CHUNK_BYTES = 2 * 2 ** 20;

/** Column chunks of N, multiples of 8 wide, each at most `maxColumns` (the last takes the rest). */
function columnChunks(N: number, maxColumns: number): [number, number][] {
  const width = Math.max(8, Math.floor(maxColumns / 8) * 8);
  const count = Math.ceil(N / width);
  const even = Math.ceil(N / count / 8) * 8;
  const chunks: [number, number][] = [];
  for (let start = 0; start < N; start += even) chunks.push([start, Math.min(N, start + even)]);
  return chunks;
}

/** Columns [start, end) of a 2-D float32 constant [R, C] (axis 1) or rows (axis 0). */
function sliceConstant(t: TensorData, axis: 0 | 1, start: number, end: number): TensorData {
  const [R, C] = t.dims as [number, number];
  const x = words32(t, Float32Array);
  if (axis === 0) return TensorData.fromBytes('f32', [end - start, C], new Uint8Array(x.slice(start * C, end * C).buffer));
  const out = new Float32Array(R * (end - start));
  for (let r = 0; r < R; r++) out.set(x.subarray(r * C + start, r * C + end), r * (end - start));
  return TensorData.fromBytes('f32', [R, end - start], new Uint8Array(out.buffer));
}

/**
 * Splits each float32 (kept) MatMul/Gemm whose 2-D constant weight would widen to more than
 * WIDEN_CHUNK_BYTES into column chunks: product i reads columns [s_i, e_i) of the weight (and of
 * Gemm's C where C has them), and a Concat on the last axis makes the original output. The new
 * nodes join `keep`.
 */
function chunkWideContractions(g: Graph, keep: Map<Node, string>): void {
  for (const n of [...keep.keys()]) {
    if (n.op !== 'MatMul' && n.op !== 'Gemm') continue;
    const w = n.inputs[1];
    if (!w?.constant || w.type.dtype !== 'f32' || w.type.shape.length !== 2 || w.constant.size < LOW_WEIGHT_MIN_ELEMENTS) continue;
    if (w.constant.byteLength <= WIDEN_CHUNK_BYTES || f16RangeProblem(constantMaxAbs(w.constant))) continue;
    if (n.op === 'Gemm' && n.attrs.int('transA', 0) !== 0) continue;
    const transB = n.op === 'Gemm' && n.attrs.int('transB', 0) !== 0;
    const [R, C] = w.type.shape as [number, number];
    const N = transB ? R : C;
    const K = transB ? C : R;
    const y = n.outputs[0]!;
    const outShape = y.type.shape;
    if (outShape[outShape.length - 1] !== N) continue;
    const c = n.op === 'Gemm' ? n.inputs[2] : undefined;
    // Gemm's C: a constant of N columns is sliced with the weight; a scalar or one column is shared.
    const cCols = c?.type.shape[c.type.shape.length - 1];
    if (c && (!c.constant || c.type.dtype !== 'f32' || (cCols !== N && cCols !== 1 && c.type.shape.length > 0) || c.type.shape.length > 2)) continue;
    const at = g.nodes.indexOf(n);
    const parts: Value[] = [];
    const chunks = columnChunks(N, Math.floor(WIDEN_CHUNK_BYTES / 4 / K));
    chunks.forEach(([s0, s1], i) => {
      const wi = g.addConstant(`${w.name}_cols${s0}`, sliceConstant(w.constant!, transB ? 0 : 1, s0, s1));
      let ci: Value | null | undefined = c;
      if (c && cCols === N && c.type.shape.length > 0) {
        const cd = c.constant!;
        ci = g.addConstant(`${c.name}_cols${s0}`, cd.rank === 1
          ? TensorData.fromBytes('f32', [s1 - s0], new Uint8Array(words32(cd, Float32Array).slice(s0, s1).buffer))
          : sliceConstant(cd, 1, s0, s1));
      }
      const inputs = n.op === 'Gemm' ? [n.inputs[0]!, wi, ...(c ? [ci!] : [])] : [n.inputs[0]!, wi];
      const part = g.addNode({
        op: n.op, inputs, attrs: n.attrs, outputTypes: [{ dtype: 'f32', shape: [...outShape.slice(0, -1), s1 - s0] }],
        outputNames: [`${y.name}_cols${s0}`], loc: chunks.length > 1 ? `${n.loc}_cols${s0}` : n.loc,
      }, at + i);
      keep.set(part, keep.get(n)!);
      parts.push(part.outputs[0]!);
    });
    const concat = g.addNode({ op: 'Concat', inputs: parts, attrs: new Attrs([['axis', attr.int(-1)]]), outputTypes: [y.type], loc: n.loc }, at + chunks.length);
    concat.outputs[0] = y;
    y.producer = concat;
    keep.set(concat, keep.get(n)!);
    keep.delete(n);
    g.nodes.splice(g.nodes.indexOf(n), 1);
  }
  g.pruneConstants();
}

/** The weight input of the ops whose large weights are widened at their step (other ops' constants stay float32). */
const WEIGHT_INPUT: Readonly<Record<string, number>> = { MatMul: 1, Gemm: 1, Conv: 1, NhwcConv: 1, ConvTranspose: 1 };

/**
 * The nodes an fp16 plan keeps in float32, each with why: a float32 value it reads or writes whose
 * calibrated largest |x| (`ranges`, by value name) float16 cannot hold. A value without a
 * calibrated range (made after calibration's graph, e.g. a layout Transpose) has its movement
 * producer's inputs' range, or the range of what movement readers take of it, else none (collected
 * in `unmeasured`). Constants are not judged by their own magnitude: a tiny
 * weight matters only through a tiny result, which is judged (ViT's MLP biases are ~1e-6 at
 * initialization and vanish next to the O(1) values they are added to).
 */
export function float32Nodes(g: Graph, ranges: ReadonlyMap<string, number>, unmeasured?: Set<Value>): Map<Node, string> {
  const memo = new Map<Value, number | undefined>();
  const users = g.users();
  const rangeOf = (v: Value): number | undefined => {
    if (memo.has(v)) return memo.get(v);
    memo.set(v, undefined);  // cycles cannot occur in a DAG; this only guards re-entry
    let r = ranges.get(v.name);
    if (r === undefined && v.producer && MOVEMENT_OPS.has(v.producer.op)) {
      for (const u of v.producer.inputs) {
        if (!u || u.constant || u.type.dtype !== 'f32') continue;
        const ur = rangeOf(u);
        if (ur !== undefined) r = Math.max(r ?? 0, ur);
      }
    }
    // Read only by movement ops whose results have ranges (batch-sibling-matmuls' batched product,
    // read as Q/K/V slices): the largest of those, which is the largest of what is read of it.
    const readers = users.get(v) ?? [];
    if (r === undefined && readers.length && readers.every((n) => MOVEMENT_OPS.has(n.op) && n.inputs[0] === v)) {
      const seen = readers.map((n) => rangeOf(n.outputs[0]!));
      if (seen.every((x) => x !== undefined)) r = Math.max(...(seen as number[]));
    }
    memo.set(v, r);
    return r;
  };
  /** Why float16 cannot hold `v` ("reads x (largest |x| 1.0e-6, below float16's range)"), or undefined. */
  const outside = (verb: string, v: Value): string | undefined => {
    const m = rangeOf(v);
    if (m === undefined) unmeasured?.add(v);
    const problem = m === undefined ? undefined : f16RangeProblem(m);
    return problem && `${verb} ${v.name} (largest |x| ${m!.toExponential(1)}, ${problem === 'underflow' ? 'below' : 'above'} float16's range)`;
  };
  const kept = new Map<Node, string>();
  for (const n of g.nodes) {
    let why: string | undefined;
    n.inputs.forEach((v, i) => {
      if (why || !v || v.constant || v.type.dtype !== 'f32' || keepsFloat32(n, i)) return;
      why = outside('reads', v);
    });
    for (const o of n.outputs) if (!why && o.type.dtype === 'f32') why = outside('writes', o);
    if (why) kept.set(n, why);
  }
  return kept;
}

/**
 * Lowers the graph's float32 storage to `low`, except in the nodes of `keep` (float32Nodes), which
 * read and write float32 with Casts at their edges.
 */
export function lowerPrecision(g: Graph, low: 'f16' | 'bf16', kept: ReadonlyMap<Node, string> = new Map()): { values: number; constants: number; casts: number } {
  const keep = new Map(kept);
  if (keep.size) chunkWideContractions(g, keep);
  let values = 0;
  let constants = 0;
  let casts = 0;
  const f32Code = ONNX_DTYPE_CODE.f32;
  // Constants read by nodes: rounded once. A constant that must stay float32 for one reader and
  // is low for another gets its own low copy.
  const lowered = new Map<Value, Value>();
  const lowConstant = (c: Value): Value => {
    let v = lowered.get(c);
    if (!v) {
      v = g.addConstant(`${c.name}_${low}`, lowTensor(c.constant!, low));
      lowered.set(c, v);
      constants += 1;
    }
    return v;
  };
  const graphInputs = new Set(g.inputs);
  // Outputs the model gives in float32 (before any type changes here): they stay float32.
  const float32Outputs = new Set(g.outputs.filter((v) => v.type.dtype === 'f32'));
  const inputCasts = new Map<Value, Value>();
  // Casts between float32 nodes (keep) and the low rest, one per value and direction, placed just
  // before the first reader.
  const toLow = new Map<Value, Value>();
  const toF32 = new Map<Value, Value>();
  const crossing = (v: Value, to: DType, reader: Node, memo: Map<Value, Value>): Value => {
    let c = memo.get(v);
    if (!c) {
      c = castNode(g, v, to, `${v.name}_to_${to}`, g.nodes.indexOf(reader)).outputs[0]!;
      memo.set(v, c);
      casts += 1;
    }
    return c;
  };
  const body = [...g.nodes];
  for (const n of body) {
    if (keep.has(n)) {
      // Float32 throughout: model inputs and small constants as they are; values the low rest made
      // come through a Cast up (exact), and so do large weights float16 holds (stored low, widened
      // at their step: LOW_WEIGHT_MIN_ELEMENTS).
      n.inputs.forEach((v, i) => {
        if (!v) return;
        if (v.type.dtype === low && v.producer && !keep.has(v.producer) && !v.constant) n.inputs[i] = crossing(v, 'f32', n, toF32);
        else if (v.constant && v.type.dtype === 'f32' && WEIGHT_INPUT[n.op] === i && v.constant.size >= LOW_WEIGHT_MIN_ELEMENTS && (low === 'bf16' || !f16RangeProblem(constantMaxAbs(v.constant)))) {
          n.inputs[i] = crossing(lowConstant(v), 'f32', n, toF32);
        }
      });
      continue;
    }
    n.inputs.forEach((v, i) => {
      if (!v || v.type.dtype !== 'f32' || keepsFloat32(n, i)) return;
      if (v.producer && keep.has(v.producer)) n.inputs[i] = crossing(v, low, n, toLow);
      else if (v.constant) n.inputs[i] = lowConstant(v);
      else if (graphInputs.has(v) || g.boundValues.has(v)) {
        let c = inputCasts.get(v);
        if (!c) {
          c = castNode(g, v, low, `${v.name}_to_${low}`, inputCasts.size).outputs[0]!;
          inputCasts.set(v, c);
        }
        n.inputs[i] = c;
      }
    });
    const dtypeAttr = DTYPE_ATTR[n.op];
    if (dtypeAttr && n.attrs.has(dtypeAttr) && n.attrs.int(dtypeAttr) === f32Code) n.attrs = n.attrs.with(dtypeAttr, attr.int(ONNX_DTYPE_CODE[low]));
    if (n.op === 'ConstantOfShape') {
      const t = n.attrs.tensor('value');
      if (t?.dtype === 'f32') n.attrs = n.attrs.with('value', attr.tensor(lowTensor(t, low)));
    }
    for (const o of n.outputs) {
      if (o.type.dtype !== 'f32') continue;
      o.type = { dtype: low, shape: o.type.shape };
      values += 1;
    }
  }
  // Outputs: the producer's value becomes an internal low one; a Cast back to float32 produces
  // the original value (its name is the output's name).
  for (const v of float32Outputs) {
    if (!v.producer || keep.has(v.producer)) continue;
    const n = v.producer;
    const inner = g.newValue(`${v.name}_${low}`, { dtype: low, shape: [...v.type.shape] });
    inner.producer = n;
    n.outputs[n.outputs.indexOf(v)] = inner;
    for (const m of g.nodes) for (let i = 0; i < m.inputs.length; i++) if (m.inputs[i] === v) m.inputs[i] = inner;
    const back = castNode(g, inner, 'f32', `${v.name}_to_f32`);
    // The cast produces `v` itself, so the graph output keeps its name and identity.
    back.outputs[0] = v;
    v.producer = back;
    v.type = { dtype: 'f32', shape: v.type.shape };
  }
  // A float32 constant that is a graph output is left as it is (no node computes it).
  g.pruneConstants();
  return { values, constants, casts };
}

export const lowerPrecisionPass: Pass = {
  name: 'lower-precision',
  summary: 'store float32 activations and weights as float16/bfloat16 (--precision fp16|bf16), keeping float32 where float16 cannot hold a value',
  run(g: Graph, ctx: PassContext): boolean {
    if (ctx.floatStorage === 'f32') return false;
    // Values without a calibrated range (made by passes the cpu calibration plan does not run) go unchecked: counted.
    const unmeasured = new Set<Value>();
    const keep = ctx.floatStorage === 'f16' && ctx.valueRanges ? float32Nodes(g, ctx.valueRanges, unmeasured) : new Map<Node, string>();
    if (unmeasured.size) bumpStat(ctx, 'lower-precision', 'values without a calibrated range', unmeasured.size);
    ctx.float32Nodes = [...keep].map(([n, why]) => ({ node: n.loc || n.op, op: n.op, why }));
    const r = lowerPrecision(g, ctx.floatStorage, keep);
    bumpStat(ctx, 'lower-precision', 'values', r.values);
    bumpStat(ctx, 'lower-precision', 'constants', r.constants);
    if (keep.size) {
      bumpStat(ctx, 'lower-precision', 'float32 nodes', keep.size);
      bumpStat(ctx, 'lower-precision', 'casts', r.casts);
    }
    return r.values + r.constants > 0;
  },
};
