// Strided views: how the layout passes (fuse-projection-views, fuse-movement-chains) follow data
// through movement ops. A view says which elements of a contiguous base tensor a value holds:
// value[idx] = base[offset + sum(idx[i] * strides[i])] (numpy's as_strided). Reshape, Flatten,
// Squeeze, Unsqueeze, Identity, Transpose, Split, Slice (unit steps) and Gather of one constant
// index map a view to a view; `movementView` returns undefined when the result is not one (a
// reshape that merges dims which are not adjacent in memory, symbolic shapes, non-constant
// operands). Strides of size-1 dims are meaningless and kept at 0.

import type { Node, Value } from '../ir/graph.js';
import { isStaticShape } from '../ir/types.js';

export interface View {
  offset: number;
  dims: number[];
  strides: number[];
}

/** Row-major strides of a contiguous tensor (0 for size-1 dims). */
export function contiguousView(dims: readonly number[]): View {
  const strides = new Array<number>(dims.length).fill(0);
  let s = 1;
  for (let i = dims.length - 1; i >= 0; i--) {
    strides[i] = dims[i] === 1 ? 0 : s;
    s *= dims[i]!;
  }
  return { offset: 0, dims: [...dims], strides };
}

/** True when the view is its base, laid out contiguously in order. */
export function isContiguous(v: View): boolean {
  const c = contiguousView(v.dims);
  return v.offset === 0 && v.strides.every((s, i) => v.dims[i] === 1 || s === c.strides[i]);
}

/**
 * The view of a row-major reshape of `v` to `dims` without copying (numpy's no-copy reshape rule):
 * dims merged by the reshape must be adjacent in memory.
 */
export function reshapeView(v: View, dims: readonly number[]): View | undefined {
  if (dims.some((d) => d <= 0) || v.dims.some((d) => d <= 0)) return undefined;
  if (dims.reduce((a, b) => a * b, 1) !== v.dims.reduce((a, b) => a * b, 1)) return undefined;
  const od: number[] = [];
  const os: number[] = [];
  v.dims.forEach((d, i) => {
    if (d !== 1) {
      od.push(d);
      os.push(v.strides[i]!);
    }
  });
  const strides = new Array<number>(dims.length).fill(0);
  let oi = 0;
  let ni = 0;
  while (ni < dims.length && oi < od.length) {
    if (dims[ni] === 1) {
      ni++;
      continue;
    }
    let np = dims[ni]!;
    let op = od[oi]!;
    let nj = ni + 1;
    let oj = oi + 1;
    while (np !== op) {
      if (np < op) np *= dims[nj++]!;
      else op *= od[oj++]!;
    }
    for (let k = oi; k < oj - 1; k++) if (os[k] !== os[k + 1]! * od[k + 1]!) return undefined;
    strides[nj - 1] = os[oj - 1]!;
    for (let k = nj - 1; k > ni; k--) strides[k - 1] = strides[k]! * dims[k]!;
    ni = nj;
    oi = oj;
  }
  dims.forEach((d, i) => {
    if (d === 1) strides[i] = 0;
  });
  return { offset: v.offset, dims: [...dims], strides };
}

/** ONNX Transpose: output dim j is input dim perm[j]. */
export function transposeView(v: View, perm: readonly number[]): View {
  return { offset: v.offset, dims: perm.map((p) => v.dims[p]!), strides: perm.map((p) => v.strides[p]!) };
}

/** Elements [start, start + count) along `axis`. */
export function sliceView(v: View, axis: number, start: number, count: number): View {
  const dims = [...v.dims];
  const strides = [...v.strides];
  const offset = v.offset + start * v.strides[axis]!;
  dims[axis] = count;
  if (count === 1) strides[axis] = 0;
  return { offset, dims, strides };
}

/** Element `index` along `axis`, which goes away. */
export function selectView(v: View, axis: number, index: number): View {
  return {
    offset: v.offset + index * v.strides[axis]!,
    dims: v.dims.filter((_, i) => i !== axis),
    strides: v.strides.filter((_, i) => i !== axis),
  };
}

/** Ops that relabel their input's elements in order (a reshape, whatever they are called). */
const RESHAPE_OPS = new Set(['Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Identity']);

/** Ops `movementView` understands. */
export const MOVEMENT_OPS = new Set([...RESHAPE_OPS, 'Transpose', 'Split', 'Slice', 'Gather']);

function staticDims(v: Value | null | undefined): number[] | undefined {
  return v && isStaticShape(v.type.shape) ? (v.type.shape as number[]) : undefined;
}

function constantInts(v: Value | null | undefined): number[] | undefined {
  return v?.constant ? Array.from(v.constant.values) : undefined;
}

export function transposePerm(n: Node, rank: number): number[] {
  return n.attrs.has('perm') ? [...n.attrs.ints('perm')] : Array.from({ length: rank }, (_, i) => rank - 1 - i);
}

/**
 * True when `n` keeps its input's elements in row-major order: a reshape-like op, or a Transpose
 * that moves only size-1 dims.
 */
export function isRelabel(n: Node): boolean {
  const x = staticDims(n.inputs[0]);
  if (!x || !staticDims(n.outputs[0]) || n.outputs.length !== 1) return false;
  if (RESHAPE_OPS.has(n.op)) return true;
  if (n.op !== 'Transpose') return false;
  const kept = transposePerm(n, x.length).filter((p) => x[p] !== 1);
  return kept.every((p, i) => i === 0 || p > kept[i - 1]!);
}

/** The view of output `out` of movement node `n` whose data input has view `v`, if it is one. */
export function movementView(n: Node, out: number, v: View): View | undefined {
  const x = staticDims(n.inputs[0]);
  const y = staticDims(n.outputs[out]);
  if (!x || !y || x.length !== v.dims.length) return undefined;
  const rank = x.length;
  const axisOf = (a: number) => (a < 0 ? a + rank : a);
  if (RESHAPE_OPS.has(n.op)) return reshapeView(v, y);
  switch (n.op) {
    case 'Transpose':
      return transposeView(v, transposePerm(n, rank));
    case 'Split': {
      const axis = axisOf(n.attrs.int('axis', 0));
      let start = 0;
      for (let i = 0; i < out; i++) start += staticDims(n.outputs[i])![axis]!;
      return sliceView(v, axis, start, y[axis]!);
    }
    case 'Slice': {
      const starts = constantInts(n.inputs[1]);
      const axes = n.inputs[3] ? constantInts(n.inputs[3]) : starts?.map((_, i) => i);
      const steps = n.inputs[4] ? constantInts(n.inputs[4]) : undefined;
      if (!starts || !axes || !constantInts(n.inputs[2]) || (n.inputs[4] && !steps) || steps?.some((s) => s !== 1)) return undefined;
      let r = v;
      for (let i = 0; i < axes.length; i++) {
        const a = axisOf(axes[i]!);
        const s = starts[i]!;
        const start = Math.min(Math.max(s < 0 ? s + x[a]! : s, 0), x[a]!);
        r = sliceView(r, a, start, y[a]!);
      }
      return r;
    }
    case 'Gather': {
      const idx = n.inputs[1]?.constant;
      if (!idx || idx.size !== 1) return undefined;
      const axis = axisOf(n.attrs.int('axis', 0));
      const i = idx.values[0]!;
      const index = i < 0 ? i + x[axis]! : i;
      if (index < 0 || index >= x[axis]!) return undefined;
      return idx.rank === 0 ? selectView(v, axis, index) : reshapeView(sliceView(v, axis, index, 1), y);
    }
    default:
      return undefined;
  }
}
