// batch-sibling-matmuls: MatMuls that read the same activation with constant weights of one shape
// (a transformer's query, key and value projections) become one batched MatMul whose results are
// contiguous slices of one buffer:
//   q = A·Wq + bq, k = A·Wk + bk, v = A·Wv + bv          A [..., K], W* [K, N], b* [N]
//   ->  Y = Reshape(A, [M, K]) · stack(Wq, Wk, Wv) + stack(bq, bk, bv)[G, 1, N]    Y [G, M, N]
//       q = Reshape(Slice(Y, 0:1 on axis 0), q's shape), k = ... 1:2, v = ... 2:3
// One library call (cuBLASLt strided-batched: A with batch stride 0, its bias per batch) instead of
// G; at batch 1 those GEMMs are latency-bound (bert-base: ~7 us each for 128x768x768 on an H200).
// The Slices of the leading axis and the Reshapes are views of Y (emit-plan), so nothing is copied.
// A member's bias is the constant of the Add that alone reads its product (MatMul's epilogue);
// members without one add zeros when another has one. A product (or biased product) that an
// elementwise node reads is left alone: that node is its MatMul's epilogue (residual, activation).
// Needs: types inferred; after the pattern passes (fuse-attention, fuse-projection-views) so the
// projections are final. Guarantees: each member's result value (the MatMul's, or its bias Add's)
// keeps its identity, name and readers; it is now made by a Reshape of a slice of Y.

import { attr, Attrs, type Graph, type Node, type Value } from '../ir/graph.js';
import { dtypeByteLength } from '../ir/dtype.js';
import { nodeFamily } from '../ir/kernels.js';
import { TensorData } from '../ir/tensor.js';
import { ARENA_ALIGNMENT } from '../plan/plan-memory.js';
import { f16RangeProblem } from './lower-precision.js';
import { bumpStat, type Pass, type PassContext } from './pass.js';
import { GraphIndex, removeNodes } from './pattern-match.js';

interface Member {
  matmul: Node;
  /** The Add of a bias that alone reads the product, and that bias. */
  add?: Node;
  bias?: Value;
  /** The value the member's readers read (the Add's output when there is one). */
  result: Value;
}

const i64 = (values: number[]) => TensorData.fromValues('i64', [values.length], values);

/** A constant bias of shape [N] (or [1, ..., N]) added to `product` by an Add nothing else needs. */
function biasOf(idx: GraphIndex, product: Value, N: number): { add: Node; bias: Value } | undefined {
  const add = idx.soleReader(product, 'Add');
  if (!add || idx.isGraphOutput(product)) return undefined;
  const bias = add.inputs[0] === product ? add.inputs[1] : add.inputs[0];
  if (!bias?.constant || bias.type.dtype !== product.type.dtype) return undefined;
  const s = bias.type.shape;
  if (s.length === 0 || s[s.length - 1] !== N || s.slice(0, -1).some((d) => d !== 1) || s.length > product.type.shape.length) return undefined;
  const out = add.outputs[0]!;
  if (out.type.shape.length !== product.type.shape.length || out.type.shape.some((d, i) => d !== product.type.shape[i])) return undefined;
  return { add, bias };
}

/**
 * Groups of two or more MatMuls reading the same A with constant [K, N] weights of one dtype and
 * shape. Left out: an A that is a model input (its [M, K] view would be a copy), products whose
 * slices would not start on the arena's alignment once stored as `storage` (they would be copies),
 * and, with calibrated `ranges` in an fp16 plan, members whose values float16 cannot hold: those
 * stay float32 nodes of their own (lower-precision), which a batched call in float16 would not be.
 */
export function findSiblingMatMuls(g: Graph, storage: PassContext['floatStorage'] = 'f32', ranges?: ReadonlyMap<string, number>): Member[][] {
  const idx = new GraphIndex(g);
  const inputs = new Set(g.inputs);
  const outOfRange = (v: Value) => storage === 'f16' && ranges !== undefined && f16RangeProblem(ranges.get(v.name) ?? 0) !== undefined;
  const groups = new Map<string, Member[]>();
  const byA = new Map<Value, Map<string, Member[]>>();
  for (const n of g.nodes) {
    if (n.op !== 'MatMul') continue;
    const [a, w] = n.inputs;
    const y = n.outputs[0]!;
    if (!a || !w?.constant || a.constant || w.type.shape.length !== 2 || a.type.shape.length < 2) continue;
    if (a.type.dtype !== 'f32' && a.type.dtype !== 'f16' && a.type.dtype !== 'bf16') continue;
    if (w.type.dtype !== a.type.dtype || a.type.shape.some((d) => typeof d !== 'number') || inputs.has(a)) continue;
    const [K, N] = w.type.shape as [number, number];
    const M = (a.type.shape as number[]).slice(0, -1).reduce((x, d) => x * d, 1);
    const stored = a.type.dtype === 'f32' && storage !== 'f32' ? storage : a.type.dtype;
    if (dtypeByteLength(stored, M * N) % ARENA_ALIGNMENT !== 0) continue;
    const key = `${w.type.dtype}:${K}x${N}`;
    const b = biasOf(idx, y, N);
    const member: Member = { matmul: n, ...(b ?? {}), result: b ? b.add.outputs[0]! : y };
    // A result with elementwise readers keeps its own MatMul: those steps are its epilogue
    // (a residual, an activation), which the batched call could not carry.
    if (idx.readers(member.result).some((r) => nodeFamily(r) === 'elementwise')) continue;
    if (outOfRange(y) || outOfRange(member.result)) continue;
    let m = byA.get(a);
    if (!m) byA.set(a, (m = new Map()));
    const list = m.get(key) ?? [];
    list.push(member);
    m.set(key, list);
  }
  for (const [a, m] of byA) for (const [key, list] of m) if (list.length >= 2) groups.set(`${a.id}:${key}`, list);
  return [...groups.values()];
}

/** Stacks float32/f16/bf16 constants of one shape into [G, ...shape] (bytes concatenated). */
function stack(parts: readonly TensorData[], dims: readonly number[]): TensorData {
  const total = parts.reduce((s, p) => s + p.bytes.byteLength, 0);
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    bytes.set(p.bytes, at);
    at += p.bytes.byteLength;
  }
  return TensorData.fromBytes(parts[0]!.dtype, [parts.length, ...dims], bytes);
}

function rewrite(g: Graph, group: Member[]): void {
  const first = group[0]!.matmul;
  const a = first.inputs[0]!;
  const [K, N] = first.inputs[1]!.type.shape as [number, number];
  const dtype = a.type.dtype;
  const shape = a.type.shape as number[];
  const M = shape.slice(0, -1).reduce((x, d) => x * d, 1);
  const G = group.length;
  const at = Math.min(...group.map((m) => g.nodes.indexOf(m.matmul)));
  const base = first.loc || 'MatMul';
  // The ONNX nodes the batched call stands for: each member's, with what its MatMul already stood for.
  const sources = group.flatMap((m) => [...(m.matmul.attrs.has('_sources') ? m.matmul.attrs.strings('_sources') : []), m.matmul.loc, ...(m.add ? [m.add.loc] : [])]);
  let pos = at;
  const add = (spec: Parameters<Graph['addNode']>[0]) => g.addNode(spec, pos++);
  const a2 = shape.length === 2 ? a : add({
    op: 'Reshape', inputs: [a, g.addConstant(`${base}_rows_shape`, i64([M, K]))], outputTypes: [{ dtype, shape: [M, K] }], outputNames: [`${base}_rows`], loc: `${base}_rows`,
  }).outputs[0]!;
  const w = g.addConstant(`${base}_batched_weight`, stack(group.map((m) => m.matmul.inputs[1]!.constant!), [K, N]));
  let y = add({
    op: 'MatMul', inputs: [a2, w], attrs: new Attrs([['_sources', attr.strings(sources)]]), outputTypes: [{ dtype, shape: [G, M, N] }], outputNames: [`${base}_batched`], loc: `${base}_batched`,
  }).outputs[0]!;
  if (group.some((m) => m.bias)) {
    const zeros = TensorData.fromBytes(dtype, [N], new Uint8Array(dtypeByteLength(dtype, N)));
    const biases = group.map((m) => (m.bias ? TensorData.fromBytes(dtype, [N], m.bias.constant!.bytes) : zeros));
    const b = g.addConstant(`${base}_batched_bias`, stack(biases, [1, N]));
    y = add({ op: 'Add', inputs: [y, b], outputTypes: [{ dtype, shape: [G, M, N] }], outputNames: [`${base}_batched_biased`], loc: `${base}_batched_bias` }).outputs[0]!;
  }
  const axes = g.addConstant(`${base}_slice_axes`, i64([0]));
  group.forEach((m, i) => {
    const part = add({
      op: 'Slice', inputs: [y, g.addConstant(`${base}_slice${i}_start`, i64([i])), g.addConstant(`${base}_slice${i}_end`, i64([i + 1])), axes],
      outputTypes: [{ dtype, shape: [1, M, N] }], outputNames: [`${m.result.name}_slice`], loc: m.matmul.loc,
    }).outputs[0]!;
    const outShape = m.result.type.shape as number[];
    const back = add({
      op: 'Reshape', inputs: [part, g.addConstant(`${m.result.name}_shape`, i64(outShape))],
      outputTypes: [m.result.type], loc: m.matmul.loc,
    });
    // The Reshape makes the member's result itself: its name, type and readers stay.
    back.outputs[0] = m.result;
    m.result.producer = back;
  });
  removeNodes(g, new Set(group.flatMap((m) => [m.matmul, ...(m.add ? [m.add] : [])])));
}

export const batchSiblingMatMulsPass: Pass = {
  name: 'batch-sibling-matmuls',
  summary: 'MatMuls sharing an input with same-shape constant weights (Q/K/V projections) become one batched MatMul',
  run(g: Graph, ctx: PassContext): boolean {
    const groups = findSiblingMatMuls(g, ctx.floatStorage, ctx.valueRanges);
    for (const group of groups) {
      rewrite(g, group);
      bumpStat(ctx, 'batch-sibling-matmuls', 'groups');
      bumpStat(ctx, 'batch-sibling-matmuls', 'matmuls', group.length);
    }
    return groups.length > 0;
  },
};
