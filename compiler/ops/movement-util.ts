// Helpers shared by the data-movement, indexing and generation ops: reading shape-like inputs at
// compile time (symbols included), symbolic products, and index-mapping loops for reference
// implementations.

import type { DType } from '../ir/dtype.js';
import type { InferContext } from '../ir/ops.js';
import type { Dim, TensorType } from '../ir/types.js';
import { OpError, TensorData, elementCount, normalizeAxis } from './common.js';

/** Contents of a small integer input known at compile time (possibly with symbols). */
export function dimsInput(ctx: InferContext, i: number): Dim[] | undefined {
  if (i >= ctx.inputCount || !ctx.optionalInput(i)) return undefined;
  const sv = ctx.shapeValue(i);
  if (sv) return sv;
  const c = ctx.constant(i);
  return c ? c.toArray() : undefined;
}

/** Like dimsInput, but only when every element is a number. */
export function numbersInput(ctx: InferContext, i: number): number[] | undefined {
  const d = dimsInput(ctx, i);
  return d && d.every((x) => typeof x === 'number') ? (d as number[]) : undefined;
}

/** Number of elements of a rank-1 input's type, when static. */
export function lengthOf(t: TensorType, what: string): number | undefined {
  if (t.shape.length !== 1) throw new OpError(`${what} must be a 1-D tensor, got rank ${t.shape.length}`);
  const n = t.shape[0];
  return typeof n === 'number' ? n : undefined;
}

export function requireIndexType(t: TensorType, what: string): void {
  if (t.dtype !== 'i64' && t.dtype !== 'i32') throw new OpError(`${what} must be i32 or i64, got ${t.dtype}`);
}

/** Product of dims: a number, a lone symbol, or a fresh symbol when it cannot be written. */
export function productDim(dims: readonly Dim[], ctx: InferContext): Dim {
  let n = 1;
  const syms: string[] = [];
  for (const d of dims) {
    if (typeof d === 'number') n *= d;
    else syms.push(d);
  }
  if (syms.length === 0) return n;
  if (n === 0) return 0;
  if (syms.length === 1 && n === 1) return syms[0]!;
  return ctx.freshDim();
}

/** Calls `visit(outIndex, flat)` for every element of `dims` in row-major order (index reused). */
export function forEachIndex(dims: readonly number[], visit: (idx: number[], flat: number) => void): void {
  const n = elementCount(dims);
  const idx = new Array<number>(dims.length).fill(0);
  for (let flat = 0; flat < n; flat++) {
    visit(idx, flat);
    for (let k = dims.length - 1; k >= 0; k--) {
      if (++idx[k]! < dims[k]!) break;
      idx[k] = 0;
    }
  }
}

/** Builds a tensor of `dims` whose element at each index is src[source(index)], or `fill` where it is < 0. */
export function gatherBy(t: TensorData, dims: readonly number[], source: (idx: number[]) => number, fill = 0, dtype: DType = t.dtype): TensorData {
  const src = t.values;
  const out = new Float64Array(elementCount(dims));
  forEachIndex(dims, (idx, flat) => {
    const s = source(idx);
    out[flat] = s < 0 ? fill : src[s]!;
  });
  return TensorData.fromValues(dtype, dims, out);
}

export function axesOf(values: readonly number[], rank: number, what: string): number[] {
  const axes = values.map((a) => normalizeAxis(a, rank, what));
  if (new Set(axes).size !== axes.length) throw new OpError(`${what} [${values.join(',')}] repeats an axis`);
  return axes;
}

/** An input the reference implementation needs; the shape rule has already checked arity. */
export function need(t: TensorData | undefined, what: string): TensorData {
  if (!t) throw new OpError(`${what} input is missing`);
  return t;
}

export const same = (t: TensorType): TensorType => ({ dtype: t.dtype, shape: [...t.shape] });
