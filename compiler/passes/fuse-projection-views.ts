// fuse-projection-views: a projection (MatMul or Gemm by a constant 2-D weight, with an optional
// constant bias) whose result is only reshaped, transposed, split, sliced or gathered on its way to
// the readers becomes one projection per value the readers see, each with the weight's columns laid
// out for its view at compile time. Transformer exports split attention heads this way:
//   y = x W + b : [B,S,H*D] -> Reshape [B,S,H,D] -> Transpose(0,2,1,3) -> q : [B,H,S,D]
//   q = MatMul(x, W') + b',  W'[0,h,k,d] = W[k, h*D + d],  b'[0,h,0,d] = b[h*D + d]
// (numpy batch broadcasting reuses x for every head). In general every value V the readers see is a
// strided view of y (pattern-views.ts). V = MatMul(x', W') + b' when its last axis walks columns
// with stride 1, its other axes either walk all rows of y in order (the second-to-last one does)
// or walk columns, and x' is x (or the input of the reshape producing x) with the row axes' sizes;
// then W'[..., k, d] = W[k, col(..., d)]. A view whose axes are in another order (K^T for the
// attention scores) becomes Transpose(MatMul(x', W')). Gemm(Reshape(x), W) -> Reshape (GPT-2's
// Conv1D) is the one-view case, and a Split of a fused QKV projection the three-view one.
// Decide, then rewrite: a projection is rewritten only when the kernel count drops (a bias Add
// counts as a step of its product's kernel) and its views together hold no more elements than the
// product (overlapping views would compute some twice). x' may be a new Reshape of x to the rows'
// layout, when it replaces the reshape producing x, so that the weight stays 2-D (the CPU runs such
// a MatMul with its bias and residual Add in the GEMM tile). Needs: static shapes. Guarantees: each
// view keeps its value (name, type, readers); the new MatMuls list the nodes they replace in
// `_sources`. Leaves to fuse-movement-chains the movement ops below the views, and scalar ops after
// a Transpose.

import { attr, Attrs, type Graph, type Node, type Value } from '../ir/graph.js';
import { dtypeByteLength, isFloat } from '../ir/dtype.js';
import { TensorData } from '../ir/tensor.js';
import { isStaticShape } from '../ir/types.js';
import { bumpStat, type Pass } from './pass.js';
import { GraphIndex, removeNodes } from './pattern-match.js';
import { contiguousView, isRelabel, MOVEMENT_OPS, movementView, transposeView, type View } from './pattern-views.js';

/** A product y = A W (+ b) by a constant weight, seen as a [rows, n] matrix. */
export interface Projection {
  root: Node;
  /** The Add of a constant bias after a MatMul (a Gemm carries its bias as input 2). */
  biasAdd?: Node;
  a: Value;
  weight: Value;
  /** Gemm with transB = 1: the weight is stored [n, k]. */
  transB: boolean;
  bias?: Value;
  /** The value whose views are followed: the root's output, or the bias Add's. */
  result: Value;
  k: number;
  n: number;
  rows: number;
}

/** How one value the readers see is computed from the projection's operand. */
export interface ProjectionView {
  value: Value;
  /** The left operand: the projection's, or the input of the reshape producing it. */
  a: Value;
  /** Dims to reshape `a` to first, so that the weight stays 2-D (a GEMM with a fused epilogue). */
  reshapeA?: number[];
  weightDims: number[];
  /** First column of the original weight for every batch position of the new one, row-major; each takes d columns. */
  columnStarts: number[];
  productDims: number[];
  /** Transpose applied to the product, when the view's axes are in another order. */
  perm?: number[];
  /** Locations of the nodes this view's product replaces. */
  sources: string[];
}

export interface ProjectionRewrite {
  projection: Projection;
  views: ProjectionView[];
  /** Nodes that go away: the projection, its bias Add, and the movement ops above the views. */
  dead: Node[];
}

export interface ProjectionPlan {
  rewrites: ProjectionRewrite[];
  rejected: { loc: string; reason: string }[];
}

function staticDims(v: Value | null | undefined): number[] | undefined {
  return v && isStaticShape(v.type.shape) ? (v.type.shape as number[]) : undefined;
}

const product = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);

function stripLeadingOnes(dims: readonly number[]): number[] {
  let i = 0;
  while (i < dims.length && dims[i] === 1) i++;
  return dims.slice(i);
}

/** A bias that adds one value per column: shape [], [1], [n] or [1, ..., 1, n]. */
function isColumnBias(v: Value, n: number): boolean {
  const d = staticDims(v);
  return !!d && !!v.constant && d.every((x, i) => (i === d.length - 1 ? x === n || x === 1 : x === 1));
}

function projectionOf(idx: GraphIndex, root: Node): Projection | undefined {
  if (root.op !== 'MatMul' && root.op !== 'Gemm') return undefined;
  const [a, weight, c] = root.inputs;
  const ad = staticDims(a);
  const wd = staticDims(weight);
  const y = root.outputs[0]!;
  if (!a || !weight?.constant || !ad || !wd || wd.length !== 2 || ad.length < 2 || !isFloat(weight.type.dtype) || !staticDims(y)) return undefined;
  const transB = root.op === 'Gemm' && root.attrs.int('transB', 0) !== 0;
  const [k, n] = transB ? [wd[1]!, wd[0]!] : [wd[0]!, wd[1]!];
  if (ad[ad.length - 1] !== k) return undefined;
  const p: Projection = { root, a, weight, transB, result: y, k, n, rows: product(ad) / k };
  if (root.op === 'Gemm') {
    if (root.attrs.int('transA', 0) !== 0 || root.attrs.float('alpha', 1) !== 1) return undefined;
    if (c) {
      if (root.attrs.float('beta', 1) !== 1 || !isColumnBias(c, n)) return undefined;
      p.bias = c;
    }
    return p;
  }
  const add = idx.soleReader(y, 'Add');
  if (add && !idx.isGraphOutput(y) && add.inputs.length === 2) {
    const other = add.inputs[0] === y ? add.inputs[1] : add.inputs[0];
    const out = add.outputs[0]!;
    if (other && other !== y && isColumnBias(other, n) && out.type.dtype === y.type.dtype && staticDims(out)?.join() === staticDims(y)!.join()) {
      p.biasAdd = add;
      p.bias = other;
      p.result = out;
    }
  }
  return p;
}

type AxisKind = 'unit' | 'row' | 'col' | 'mixed';

/**
 * Left operands a view may read: x or the input of the reshape producing it, as they are, and the
 * value a Reshape to the view's row layout may take when that reshape is read only by the product.
 */
interface Operands {
  values: Value[];
  reshapeSource?: Value;
}

/** The product computing view `v` of the projection directly (no transpose), or why there is none. */
function directLayout(p: Projection, v: View, operands: Operands): Omit<ProjectionView, 'value' | 'sources'> | string {
  const rank = v.dims.length;
  if (rank < 2) return 'the view has rank < 2';
  const n = p.n;
  if (v.offset >= n) return 'the view skips rows';
  const d = v.dims[rank - 1]!;
  if (d > 1 && v.strides[rank - 1] !== 1) return 'its last axis does not walk columns';
  const kinds: AxisKind[] = v.dims.slice(0, rank - 1).map((size, i) => {
    const s = v.strides[i]!;
    return size === 1 ? 'unit' : s > 0 && s % n === 0 ? 'row' : s < n ? 'col' : 'mixed';
  });
  if (kinds.includes('mixed')) return 'an axis mixes rows and columns';
  if (kinds[rank - 2] === 'col') return 'its second-to-last axis walks columns';
  let lastCol = (v.offset % n) + d - 1;
  kinds.forEach((x, i) => {
    if (x === 'col') lastCol += (v.dims[i]! - 1) * v.strides[i]!;
  });
  if (lastCol >= n) return 'it wraps around rows';
  // Row axes, in order, must walk every row once: contiguous row strides ending at 1.
  let expect = 1;
  for (let i = rank - 2; i >= 0; i--) {
    if (kinds[i] !== 'row') continue;
    if (v.strides[i]! / n !== expect) return 'its row axes are not in row order';
    expect *= v.dims[i]!;
  }
  if (expect !== p.rows) return 'it selects some rows';
  const rowLayout = [...v.dims.slice(0, rank - 1).map((size, i) => (kinds[i] === 'row' ? size : 1)), p.k];
  const want = stripLeadingOnes(rowLayout).join();
  const batch = v.dims.slice(0, rank - 2).map((size, i) => (kinds[i] === 'col' ? size : 1));
  const fits = operands.values.filter((x) => staticDims(x)!.length <= rank && stripLeadingOnes(staticDims(x)!).join() === want);
  // A 2-D weight needs an operand of the view's rank. Any operand holds the rows in order, so a
  // Reshape to the row layout always works: taken when it replaces the one producing x, or when
  // nothing else fits (it costs a kernel then).
  const unbatched = batch.every((x) => x === 1);
  const exact = fits.find((x) => staticDims(x)!.length === rank);
  let a = exact ?? fits[0];
  let reshapeA: number[] | undefined;
  if (!exact && ((unbatched && operands.reshapeSource) || !a)) {
    a = operands.reshapeSource ?? p.a;
    reshapeA = rowLayout;
  }
  const flat = unbatched && (!!exact || !!reshapeA);
  const columnStarts: number[] = [];
  const idx = new Array<number>(batch.length).fill(0);
  for (let b = 0; b < product(batch); b++) {
    let base = v.offset % n;
    idx.forEach((x, i) => (base += x * v.strides[i]!));
    columnStarts.push(base);
    for (let i = batch.length - 1; i >= 0 && ++idx[i]! === batch[i]; i--) idx[i] = 0;
  }
  return { a: a!, ...(reshapeA ? { reshapeA } : {}), weightDims: flat ? [p.k, d] : [...batch, p.k, d], columnStarts, productDims: [...v.dims] };
}

/** The product for view `v`, directly or followed by a Transpose, or why there is none. */
function layoutFor(p: Projection, v: View, operands: Operands): Omit<ProjectionView, 'value' | 'sources'> | string {
  const direct = directLayout(p, v, operands);
  if (typeof direct !== 'string') return direct;
  // Reorder: size-1 axes, column axes, row axes by decreasing stride, then the stride-1 column axis.
  const axes = v.dims.map((_, i) => i);
  const last = axes.filter((i) => v.dims[i]! > 1 && v.strides[i] === 1);
  if (last.length !== 1) return direct;
  const isRow = (i: number) => v.dims[i]! > 1 && v.strides[i]! % p.n === 0;
  const rows = axes.filter(isRow).sort((x, y) => v.strides[y]! - v.strides[x]!);
  const order = [
    ...axes.filter((i) => v.dims[i] === 1),
    ...axes.filter((i) => v.dims[i]! > 1 && !isRow(i) && i !== last[0]),
    ...rows,
    last[0]!,
  ];
  if (order.every((x, i) => x === i)) return direct;
  const permuted = directLayout(p, transposeView(v, order), operands);
  if (typeof permuted === 'string') return direct;
  return { ...permuted, perm: axes.map((j) => order.indexOf(j)) };
}

function analyze(idx: GraphIndex, p: Projection): ProjectionRewrite | string | undefined {
  // Follow the movement ops below the result; values something else reads are the views to keep.
  const views = new Map<Value, View>([[p.result, contiguousView(staticDims(p.result)!)]]);
  const parent = new Map<Value, { value: Value; node: Node }>();
  const tree: Node[] = [];
  const demanded: Value[] = [];
  const stack = [p.result];
  while (stack.length) {
    const v = stack.pop()!;
    let demand = idx.isGraphOutput(v);
    for (const r of idx.readers(v)) {
      if (MOVEMENT_OPS.has(r.op) && r.inputs[0] === v && !r.inputs.slice(1).includes(v)) {
        const outs = r.outputs.map((_, i) => movementView(r, i, views.get(v)!));
        if (outs.every((o) => o !== undefined)) {
          tree.push(r);
          r.outputs.forEach((o, i) => {
            views.set(o, outs[i]!);
            parent.set(o, { value: v, node: r });
            stack.push(o);
          });
          continue;
        }
      }
      demand = true;
    }
    if (demand) demanded.push(v);
  }
  if (tree.length === 0) return undefined;
  const ancestors = (v: Value): Value[] => {
    const out: Value[] = [];
    for (let u = parent.get(v)?.value; u; u = parent.get(u)?.value) out.push(u);
    return out;
  };
  const demandedSet = new Set(demanded);
  const frontier = demanded.filter((v) => !ancestors(v).some((u) => demandedSet.has(u)));
  if (frontier.includes(p.result)) return `the product %${p.result.name} is itself read by a non-movement op`;
  const size = (v: Value) => product(staticDims(v)!);
  if (frontier.reduce((acc, v) => acc + size(v), 0) > size(p.result)) return 'its views hold more elements than the product (they overlap)';

  // Left operands: the projection's, or the input of the reshape that produced it.
  const producer = idx.producer(p.a);
  const relabel = producer && isRelabel(producer) ? producer : undefined;
  const a0 = relabel?.inputs[0] ?? undefined;
  const operands: Operands = { values: a0 && staticDims(a0)?.at(-1) === p.k ? [a0, p.a] : [p.a] };
  if (a0 && idx.readers(p.a).length === 1 && !idx.isGraphOutput(p.a)) operands.reshapeSource = a0;

  const below = new Set<Value>();
  for (const f of frontier) {
    const stackB = [f];
    while (stackB.length) {
      for (const r of idx.readers(stackB.pop()!)) {
        if (!tree.includes(r)) continue;
        for (const o of r.outputs) if (!below.has(o)) (below.add(o), stackB.push(o));
      }
    }
  }
  const frontierSet = new Set(frontier);
  const dead: Node[] = [p.root, ...(p.biasAdd ? [p.biasAdd] : []), ...tree.filter((r) => !below.has(r.inputs[0]!) && !frontierSet.has(r.inputs[0]!))];
  const deadSet = new Set(dead);
  const pathLocs = (f: Value) => {
    const locs: string[] = [];
    for (let u: Value | undefined = f; u && u !== p.result; u = parent.get(u)?.value) locs.unshift(parent.get(u)!.node.loc);
    return [...new Set(locs)];
  };

  const out: ProjectionView[] = [];
  for (const f of frontier) {
    const layout = layoutFor(p, views.get(f)!, operands);
    if (typeof layout === 'string') return `view %${f.name}: ${layout}`;
    const sources = [...(p.biasAdd ? [p.biasAdd.loc] : []), ...pathLocs(f)];
    if (layout.perm) sources.pop(); // the Transpose carries the location of the view's producer
    out.push({ value: f, ...layout, sources });
  }
  const relabelDies = !!relabel && out.every((v) => v.a !== p.a) && idx.readers(p.a).every((r) => deadSet.has(r)) && !idx.isGraphOutput(p.a);
  if (relabelDies) {
    dead.push(relabel);
    for (const v of out) if (!v.reshapeA) v.sources.unshift(relabel.loc); // a new Reshape carries it otherwise
  }
  // Kernels, not nodes: a bias Add is a step of its product's kernel, before and after.
  const added = out.reduce((acc, v) => acc + 1 + (v.perm ? 1 : 0) + (v.reshapeA ? 1 : 0), 0);
  const removed = dead.length - (p.biasAdd ? 1 : 0);
  if (added >= removed) return `${out.length} view${out.length > 1 ? 's' : ''} would take ${added} kernels to replace ${removed}`;
  return { projection: p, views: out, dead };
}

/** Decides: which projections are rewritten into one product per view, and why others stay. */
export function findProjectionViews(g: Graph): ProjectionPlan {
  const idx = new GraphIndex(g);
  const plan: ProjectionPlan = { rewrites: [], rejected: [] };
  for (const n of g.nodes) {
    const p = projectionOf(idx, n);
    if (!p) continue;
    const r = analyze(idx, p);
    if (r === undefined) continue;
    if (typeof r === 'string') plan.rejected.push({ loc: n.loc, reason: r });
    else plan.rewrites.push(r);
  }
  return plan;
}

type Elements = Uint8Array | Uint16Array | Uint32Array | BigUint64Array;

/** The elements of `bytes` as unsigned integers of `size` bytes (copied when misaligned). */
function elements(bytes: Uint8Array, size: number): Elements {
  let b = bytes;
  if (b.byteOffset % size !== 0) (b = new Uint8Array(bytes.byteLength)).set(bytes);
  const n = b.byteLength / size;
  if (size === 8) return new BigUint64Array(b.buffer, b.byteOffset, n);
  if (size === 4) return new Uint32Array(b.buffer, b.byteOffset, n);
  if (size === 2) return new Uint16Array(b.buffer, b.byteOffset, n);
  return new Uint8Array(b.buffer, b.byteOffset, n);
}

/**
 * The weight's columns for view `v` as its new weight: group b holds columns starts[b] .. + d, for
 * every row k. Elements are copied in the weight's encoding (no float64 round trip of big weights).
 */
function gatherColumns(w: TensorData, p: Projection, starts: readonly number[], d: number, dims: number[]): TensorData {
  const size = dtypeByteLength(w.dtype, 1);
  const bytes = new Uint8Array(starts.length * p.k * d * size);
  const { k: K, n: N } = p;
  if (!p.transB) {
    // Stored [k, n]: d contiguous columns of a row are one copy (from a plain view: a Node Buffer's
    // subarray is several times slower).
    const src = new Uint8Array(w.bytes.buffer, w.bytes.byteOffset, w.bytes.byteLength);
    for (let b = 0; b < starts.length; b++) {
      for (let k = 0; k < K; k++) {
        const from = (k * N + starts[b]!) * size;
        bytes.set(src.subarray(from, from + d * size), (b * K + k) * d * size);
      }
    }
    return TensorData.fromBytes(w.dtype, dims, bytes);
  }
  // Stored [n, k]: a transpose, element by element, reading the source in order.
  const src = elements(w.bytes, size);
  const out = elements(bytes, size);
  for (let b = 0; b < starts.length; b++) {
    const c0 = starts[b]!;
    const base = b * K * d;
    for (let j = 0; j < d; j++) for (let k = 0; k < K; k++) out[base + k * d + j] = src[(c0 + j) * K + k]!;
  }
  return TensorData.fromBytes(w.dtype, dims, bytes);
}

function viewConstants(g: Graph, p: Projection, v: ProjectionView): { weight: Value; bias?: Value } {
  const w = p.weight.constant!;
  const d = v.productDims[v.productDims.length - 1]!;
  // One view of all columns in order (a reshape around a projection): the weight as it is.
  const whole = !p.transB && d === p.n && v.columnStarts.length === 1 && v.columnStarts[0] === 0;
  let weight = p.weight;
  if (!whole) weight = g.addConstant(`${p.weight.name}.${v.value.name}`, gatherColumns(w, p, v.columnStarts, d, v.weightDims));
  else if (v.weightDims.length > 2) weight = g.addConstant(`${p.weight.name}.${v.value.name}`, w.withDims(v.weightDims));
  if (!p.bias) return { weight };
  const bv = p.bias.constant!.values;
  const bias = Float64Array.from({ length: v.columnStarts.length * d }, (_, i) => (bv.length === 1 ? bv[0]! : bv[v.columnStarts[Math.floor(i / d)]! + (i % d)]!));
  const dims = v.weightDims.length === 2 ? [d] : [...v.weightDims.slice(0, -2), 1, d];
  return { weight, bias: g.addConstant(`${p.bias.name}.${v.value.name}`, TensorData.fromValues(p.bias.type.dtype, dims, bias)) };
}

/** Rewrites: every view of a chosen projection becomes its own product; the rest goes away. */
export function applyProjectionViews(g: Graph, plan: ProjectionPlan): void {
  const dead = new Set<Node>();
  for (const { projection: p, views, dead: d } of plan.rewrites) {
    for (const v of views) {
      const at = g.nodes.indexOf(v.value.producer!);
      const { weight, bias } = viewConstants(g, p, v);
      const dtype = p.result.type.dtype;
      const made: Node[] = [];
      const name = v.value.name;
      let a = v.a;
      if (v.reshapeA) {
        const shape = g.addConstant(`${name}.rows.shape`, TensorData.fromValues('i64', [v.reshapeA.length], v.reshapeA));
        const reshape = g.addNode({ op: 'Reshape', inputs: [a, shape], outputTypes: [{ dtype: a.type.dtype, shape: v.reshapeA }], outputNames: [`${name}.rows`], loc: v.a === p.a ? p.root.loc : p.a.producer!.loc }, at);
        made.push(reshape);
        a = reshape.outputs[0]!;
      }
      const mm = g.addNode({ op: 'MatMul', inputs: [a, weight], attrs: new Attrs([['_sources', attr.strings(v.sources)]]), outputTypes: [{ dtype, shape: v.productDims }], outputNames: [`${name}.product`], loc: p.root.loc }, at + made.length);
      made.push(mm);
      if (bias) made.push(g.addNode({ op: 'Add', inputs: [mm.outputs[0]!, bias], outputTypes: [{ dtype, shape: v.productDims }], outputNames: [`${name}.biased`], loc: p.biasAdd?.loc ?? p.root.loc }, at + made.length));
      if (v.perm) made.push(g.addNode({ op: 'Transpose', inputs: [made.at(-1)!.outputs[0]!], attrs: new Attrs([['perm', attr.ints(v.perm)]]), outputTypes: [v.value.type], loc: v.value.producer!.loc }, at + made.length));
      const last = made.at(-1)!;
      last.outputs = [v.value];
      v.value.producer = last;
    }
    for (const n of d) dead.add(n);
  }
  removeNodes(g, dead);
}

export function fuseProjectionViews(g: Graph): ProjectionPlan {
  const plan = findProjectionViews(g);
  applyProjectionViews(g, plan);
  return plan;
}

export const fuseProjectionViewsPass: Pass = {
  name: 'fuse-projection-views',
  summary: 'fold the reshapes, transposes and splits of a projection by a constant weight into per-view weights',
  run(g, ctx) {
    const plan = fuseProjectionViews(g);
    bumpStat(ctx, 'fuse-projection-views', 'projections', plan.rewrites.length);
    bumpStat(ctx, 'fuse-projection-views', 'views', plan.rewrites.reduce((acc, r) => acc + r.views.length, 0));
    return plan.rewrites.length > 0;
  },
};
