// Data-movement ops (reshapes, transposes, concatenation, splitting, slicing, expansion, padding):
// each output element copies one input element or a fill value. Shape-like inputs are read at
// compile time, symbols included, so that shapes computed at run time by exported graphs stay symbolic.

import { defineOp, type InferContext, type LowerContext } from '../ir/ops.js';
import type { Dim } from '../ir/types.js';
import {
  Attrs, OpError, TensorData, attrsToInputs, broadcastShapes, elementCount, normalizeAxis, stridesOf,
} from './common.js';
import {
  axesOf, dimsInput, gatherBy, lengthOf, need, numbersInput, productDim, requireIndexType, same,
} from './movement-util.js';
// The rarer layout ops live beside this family; index.ts registers families through this module.
import './layout.js';

// ---- Identity ----

defineOp({
  name: 'Identity',
  fusionClass: 'injective',
  inputs: [1, 1],
  outputs: [1, 1],
  infer(ctx) {
    return { types: [same(ctx.input(0))], shapeValues: [ctx.shapeValue(0)] };
  },
  evaluate([x]) {
    return [need(x, 'Identity')];
  },
});

// ---- Reshape ----

/** Output dims of a reshape from the requested shape (symbols allowed), resolving 0 and -1. */
function reshapeDims(input: readonly Dim[], shape: readonly Dim[], allowzero: boolean, ctx: InferContext | undefined): Dim[] {
  let inferAt = -1;
  const out: Dim[] = shape.map((s, i) => {
    if (s === -1) {
      if (inferAt >= 0) throw new OpError(`shape [${shape.join(',')}] has more than one -1`);
      inferAt = i;
      return -1;
    }
    if (s === 0 && !allowzero) {
      if (i >= input.length) throw new OpError(`shape [${shape.join(',')}] copies dim ${i} (0) of a rank ${input.length} input`);
      return input[i]!;
    }
    if (typeof s === 'number' && (s < 0 || !Number.isInteger(s))) throw new OpError(`shape [${shape.join(',')}] has invalid entry ${s}`);
    return s;
  });
  if (allowzero && inferAt >= 0 && shape.includes(0)) throw new OpError(`shape [${shape.join(',')}] has both 0 and -1 with allowzero=1`);
  // Cancel symbols common to both sides so that e.g. [batch,128,768] -> [batch,128,-1] stays exact.
  const inSyms = input.filter((d): d is string => typeof d === 'string');
  const outSyms = out.filter((d, i): d is string => i !== inferAt && typeof d === 'string');
  const inN = input.reduce<number>((p, d) => (typeof d === 'number' ? p * d : p), 1);
  const outN = out.reduce<number>((p, d, i) => (i !== inferAt && typeof d === 'number' ? p * d : p), 1);
  const restIn = [...inSyms];
  const restOut: string[] = [];
  for (const s of outSyms) {
    const k = restIn.indexOf(s);
    if (k >= 0) restIn.splice(k, 1);
    else restOut.push(s);
  }
  if (inferAt < 0) {
    if (restIn.length === 0 && restOut.length === 0 && inN !== outN) {
      throw new OpError(`cannot reshape [${input.join(',')}] (${inN} elements) to [${shape.join(',')}] (${outN} elements)`);
    }
    return out;
  }
  let inferred: Dim | undefined;
  if (restOut.length === 0 && outN !== 0) {
    if (restIn.length === 0) {
      if (inN % outN !== 0) throw new OpError(`cannot reshape [${input.join(',')}] (${inN} elements) to [${shape.join(',')}]`);
      inferred = inN / outN;
    } else if (restIn.length === 1 && inN === outN) {
      inferred = restIn[0]!;
    }
  } else if (outN === 0 && restIn.length === 0 && inN === 0) {
    throw new OpError(`cannot infer the -1 of shape [${shape.join(',')}] for an empty input`);
  }
  if (inferred === undefined) {
    if (!ctx) throw new OpError(`cannot infer the -1 of shape [${shape.join(',')}] from [${input.join(',')}]`);
    inferred = ctx.freshDim();
  }
  out[inferAt] = inferred;
  return out;
}

defineOp({
  name: 'Reshape',
  fusionClass: 'injective',
  inputs: [2, 2],
  outputs: [1, 1],
  onnxLower: attrsToInputs(5, ['shape']),
  infer(ctx) {
    const x = ctx.input(0);
    const st = ctx.input(1);
    requireIndexType(st, 'Reshape shape');
    const allowzero = ctx.attrs.int('allowzero', 0) !== 0;
    const shape = dimsInput(ctx, 1);
    let dims: Dim[];
    if (shape) dims = reshapeDims(x.shape, shape, allowzero, ctx);
    else {
      const n = lengthOf(st, 'Reshape shape');
      if (n === undefined) throw new OpError('Reshape shape input must be a compile-time constant or have a static length');
      dims = freshRank(ctx, n);
    }
    const sv = dims.length <= 1 ? ctx.shapeValue(0) : undefined;
    return { types: [{ dtype: x.dtype, shape: dims }], shapeValues: [sv] };
  },
  evaluate([x, s], attrs) {
    const t = need(x, 'Reshape');
    const shape = need(s, 'Reshape shape').toArray();
    return [t.withDims(reshapeDims(t.dims, shape, attrs.int('allowzero', 0) !== 0, undefined) as number[])];
  },
});

// ---- Flatten ----

function flattenAxis(attrs: Attrs, rank: number): number {
  const a = attrs.int('axis', 1);
  const axis = a < 0 ? a + rank : a;
  if (axis < 0 || axis > rank) throw new OpError(`Flatten axis ${a} is out of range for rank ${rank}`);
  return axis;
}

defineOp({
  name: 'Flatten',
  fusionClass: 'injective',
  inputs: [1, 1],
  outputs: [1, 1],
  infer(ctx) {
    const x = ctx.input(0);
    const axis = flattenAxis(ctx.attrs, x.shape.length);
    return [{ dtype: x.dtype, shape: [productDim(x.shape.slice(0, axis), ctx), productDim(x.shape.slice(axis), ctx)] }];
  },
  evaluate([x], attrs) {
    const t = need(x, 'Flatten');
    const axis = flattenAxis(attrs, t.rank);
    return [t.withDims([elementCount(t.dims.slice(0, axis)), elementCount(t.dims.slice(axis))])];
  },
});

// ---- Transpose ----

function permOf(attrs: Attrs, rank: number): number[] {
  const perm = attrs.has('perm') ? [...attrs.ints('perm')] : Array.from({ length: rank }, (_, i) => rank - 1 - i);
  if (perm.length !== rank || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) {
    throw new OpError(`Transpose perm [${perm.join(',')}] is not a permutation of ${rank} axes`);
  }
  return perm;
}

defineOp({
  name: 'Transpose',
  fusionClass: 'injective',
  inputs: [1, 1],
  outputs: [1, 1],
  infer(ctx) {
    const x = ctx.input(0);
    return [{ dtype: x.dtype, shape: permOf(ctx.attrs, x.shape.length).map((p) => x.shape[p]!) }];
  },
  evaluate([x], attrs) {
    const t = need(x, 'Transpose');
    const perm = permOf(attrs, t.rank);
    const st = stridesOf(t.dims);
    const ps = perm.map((p) => st[p]!);
    return [gatherBy(t, perm.map((p) => t.dims[p]!), (idx) => idx.reduce((s, v, k) => s + v * ps[k]!, 0))];
  },
});

// ---- Squeeze / Unsqueeze ----

/** Number of axes in an axes input whose contents are unknown; its length must be static. */
function axesCount(ctx: InferContext, op: string): number {
  const n = lengthOf(ctx.input(1), `${op} axes`);
  if (n === undefined) throw new OpError(`${op} axes input must be a compile-time constant or have a static length`);
  return n;
}

const freshRank = (ctx: InferContext, rank: number): Dim[] => Array.from({ length: rank }, () => ctx.freshDim());

function squeezeDims(shape: readonly Dim[], axesIn: readonly number[] | undefined): Dim[] {
  if (!axesIn) return shape.filter((d) => d !== 1);
  const axes = axesOf(axesIn, shape.length, 'Squeeze axes');
  for (const a of axes) {
    const d = shape[a]!;
    if (typeof d === 'number' && d !== 1) throw new OpError(`Squeeze axis ${a} has size ${d}, not 1`);
  }
  return shape.filter((_, i) => !axes.includes(i));
}

defineOp({
  name: 'Squeeze',
  fusionClass: 'injective',
  inputs: [1, 2],
  outputs: [1, 1],
  onnxLower: attrsToInputs(13, ['axes']),
  infer(ctx) {
    const x = ctx.input(0);
    let axes: number[] | undefined;
    if (ctx.inputCount > 1 && ctx.optionalInput(1)) {
      axes = numbersInput(ctx, 1);
      if (!axes) return [{ dtype: x.dtype, shape: freshRank(ctx, x.shape.length - axesCount(ctx, 'Squeeze')) }];
    }
    const dims = squeezeDims(x.shape, axes);
    return { types: [{ dtype: x.dtype, shape: dims }], shapeValues: [dims.length <= 1 ? ctx.shapeValue(0) : undefined] };
  },
  evaluate([x, a]) {
    const t = need(x, 'Squeeze');
    return [t.withDims(squeezeDims(t.dims, a?.toArray()) as number[])];
  },
});

function unsqueezeDims(shape: readonly Dim[], axesIn: readonly number[]): Dim[] {
  const rank = shape.length + axesIn.length;
  const axes = axesOf(axesIn, rank, 'Unsqueeze axes');
  const out: Dim[] = [];
  let k = 0;
  for (let i = 0; i < rank; i++) out.push(axes.includes(i) ? 1 : shape[k++]!);
  return out;
}

defineOp({
  name: 'Unsqueeze',
  fusionClass: 'injective',
  inputs: [2, 2],
  outputs: [1, 1],
  onnxLower: attrsToInputs(13, ['axes']),
  infer(ctx) {
    const x = ctx.input(0);
    const axes = numbersInput(ctx, 1);
    if (!axes) return [{ dtype: x.dtype, shape: freshRank(ctx, x.shape.length + axesCount(ctx, 'Unsqueeze')) }];
    const dims = unsqueezeDims(x.shape, axes);
    return { types: [{ dtype: x.dtype, shape: dims }], shapeValues: [dims.length <= 1 ? ctx.shapeValue(0) : undefined] };
  },
  evaluate([x, a]) {
    const t = need(x, 'Unsqueeze');
    return [t.withDims(unsqueezeDims(t.dims, need(a, 'Unsqueeze axes').toArray()) as number[])];
  },
});

// ---- Concat ----

defineOp({
  name: 'Concat',
  fusionClass: 'injective',
  inputs: [1, Infinity],
  outputs: [1, 1],
  infer(ctx) {
    const ts = Array.from({ length: ctx.inputCount }, (_, i) => ctx.input(i));
    const rank = ts[0]!.shape.length;
    const axis = normalizeAxis(ctx.attrs.int('axis'), rank, 'Concat axis');
    const shape: Dim[] = [...ts[0]!.shape];
    const along: Dim[] = [];
    for (const [i, t] of ts.entries()) {
      if (t.dtype !== ts[0]!.dtype) throw new OpError(`Concat input ${i} has dtype ${t.dtype}, input 0 has ${ts[0]!.dtype}`);
      if (t.shape.length !== rank) throw new OpError(`Concat input ${i} has rank ${t.shape.length}, input 0 has rank ${rank}`);
      t.shape.forEach((d, k) => {
        if (k === axis) return;
        const cur = shape[k]!;
        if (typeof d === 'number' && typeof cur === 'number' && d !== cur) {
          throw new OpError(`Concat input ${i} has shape [${t.shape.join(',')}], incompatible with [${ts[0]!.shape.join(',')}] off axis ${axis}`);
        }
        if (typeof d === 'number') shape[k] = d;
      });
      along.push(t.shape[axis]!);
    }
    const nonzero = along.filter((d) => d !== 0);
    if (along.every((d) => typeof d === 'number')) shape[axis] = (along as number[]).reduce((a, b) => a + b, 0);
    else shape[axis] = nonzero.length === 1 ? nonzero[0]! : ctx.freshDim();
    const svs = ts.map((_, i) => ctx.shapeValue(i));
    const sv = rank === 1 && svs.every((s) => s !== undefined) ? svs.flatMap((s) => s!) : undefined;
    return { types: [{ dtype: ts[0]!.dtype, shape }], shapeValues: [sv] };
  },
  evaluate(inputs, attrs) {
    const ts = inputs.filter((t): t is TensorData => t !== undefined);
    const rank = ts[0]!.rank;
    const axis = normalizeAxis(attrs.int('axis'), rank, 'Concat axis');
    const dims = [...ts[0]!.dims];
    dims[axis] = ts.reduce((s, t) => s + t.dims[axis]!, 0);
    const outer = elementCount(dims.slice(0, axis));
    const out = new Float64Array(elementCount(dims));
    let pos = 0;
    for (let o = 0; o < outer; o++) {
      for (const t of ts) {
        const chunk = elementCount(t.dims.slice(axis));
        out.set(t.values.subarray(o * chunk, (o + 1) * chunk), pos);
        pos += chunk;
      }
    }
    return [TensorData.fromValues(ts[0]!.dtype, dims, out)];
  },
});

// ---- Split ----

function lowerSplit(ctx: LowerContext): void {
  let inputs = [...ctx.inputs];
  let attrs = ctx.attrs;
  if (ctx.opset < 13 && attrs.has('split')) {
    inputs = [inputs[0]!, ctx.constant(TensorData.fromValues('i64', [attrs.ints('split').length], attrs.ints('split')))];
    attrs = attrs.with('split', undefined);
  }
  if (ctx.opset < 18 && !inputs[1] && !attrs.has('num_outputs')) {
    attrs = attrs.with('num_outputs', { kind: 'int', value: ctx.outputCount });
  }
  ctx.setOutputs(ctx.emit('Split', inputs, attrs, ctx.outputCount));
}

/** Sizes of the parts along the split axis: given, or ceil-sized parts with a smaller last one. */
function splitSizes(dim: Dim, split: readonly number[] | undefined, attrs: Attrs, outputs: number): Dim[] | undefined {
  if (split) {
    if (split.length !== outputs) throw new OpError(`Split split [${split.join(',')}] has ${split.length} parts for ${outputs} outputs`);
    const total = split.reduce((a, b) => a + b, 0);
    if (typeof dim === 'number' && total !== dim) throw new OpError(`Split split [${split.join(',')}] sums to ${total}, the axis has size ${dim}`);
    return [...split];
  }
  const n = attrs.int('num_outputs', outputs);
  if (n !== outputs) throw new OpError(`Split num_outputs ${n} differs from the node's ${outputs} outputs`);
  if (typeof dim !== 'number') return undefined;
  const chunk = Math.ceil(dim / n);
  if (chunk * (n - 1) > dim) throw new OpError(`Split cannot divide size ${dim} into ${n} parts`);
  return Array.from({ length: n }, (_, i) => (i < n - 1 ? chunk : dim - chunk * (n - 1)));
}

defineOp({
  name: 'Split',
  fusionClass: 'injective',
  inputs: [1, 2],
  outputs: [1, Infinity],
  onnxLower: lowerSplit,
  infer(ctx) {
    const x = ctx.input(0);
    const axis = normalizeAxis(ctx.attrs.int('axis', 0), x.shape.length, 'Split axis');
    const outputs = ctx.node.outputs.length;
    let split: number[] | undefined;
    if (ctx.inputCount > 1 && ctx.optionalInput(1)) {
      split = numbersInput(ctx, 1);
      if (!split) return Array.from({ length: outputs }, () => ({ dtype: x.dtype, shape: x.shape.map((d, k) => (k === axis ? ctx.freshDim() : d)) }));
    }
    const sizes = splitSizes(x.shape[axis]!, split, ctx.attrs, outputs) ?? freshRank(ctx, outputs);
    return sizes.map((s) => ({ dtype: x.dtype, shape: x.shape.map((d, k) => (k === axis ? s : d)) }));
  },
  evaluate([x, s], attrs, outputCount) {
    const t = need(x, 'Split');
    const axis = normalizeAxis(attrs.int('axis', 0), t.rank, 'Split axis');
    const sizes = splitSizes(t.dims[axis]!, s?.toArray(), attrs, outputCount) as number[];
    let start = 0;
    const st = stridesOf(t.dims);
    return sizes.map((size) => {
      const dims = t.dims.map((d, k) => (k === axis ? size : d));
      const from = start;
      start += size;
      return gatherBy(t, dims, (idx) => idx.reduce((acc, v, k) => acc + (k === axis ? v + from : v) * st[k]!, 0));
    });
  },
});

// ---- Slice ----

interface SliceAxis { axis: number; start: number; end: number; step: number }

/** Clamps a slice along one axis of static size `dim` per the ONNX rules; returns start, step and count. */
function clampSlice(dim: number, start: number, end: number, step: number): { start: number; count: number } {
  if (step === 0) throw new OpError('Slice steps must not be 0');
  let s = start < 0 ? start + dim : start;
  let e = end < 0 ? end + dim : end;
  if (step > 0) {
    s = Math.min(Math.max(s, 0), dim);
    e = Math.min(Math.max(e, 0), dim);
  } else {
    s = Math.min(Math.max(s, 0), dim - 1);
    e = Math.min(Math.max(e, -1), dim - 1);
  }
  return { start: s, count: Math.max(0, Math.ceil((e - s) / step)) };
}

function sliceSpec(rank: number, starts: readonly Dim[], ends: readonly Dim[], axes: readonly number[] | undefined, steps: readonly number[] | undefined): { axis: number; start: Dim; end: Dim; step: number }[] {
  if (starts.length !== ends.length) throw new OpError(`Slice starts [${starts.join(',')}] and ends [${ends.join(',')}] differ in length`);
  const ax = axes ? axesOf(axes, rank, 'Slice axes') : starts.map((_, i) => i);
  if (ax.length !== starts.length) throw new OpError(`Slice axes [${axes!.join(',')}] and starts [${starts.join(',')}] differ in length`);
  if (steps && steps.length !== starts.length) throw new OpError(`Slice steps [${steps.join(',')}] and starts differ in length`);
  return ax.map((axis, i) => ({ axis, start: starts[i]!, end: ends[i]!, step: steps ? steps[i]! : 1 }));
}

const BIG = 2 ** 31 - 1;

defineOp({
  name: 'Slice',
  fusionClass: 'injective',
  inputs: [3, 5],
  outputs: [1, 1],
  onnxLower: attrsToInputs(10, ['starts', 'ends', 'axes']),
  infer(ctx) {
    const x = ctx.input(0);
    const rank = x.shape.length;
    const starts = dimsInput(ctx, 1);
    const ends = dimsInput(ctx, 2);
    const hasAxes = ctx.inputCount > 3 && !!ctx.optionalInput(3);
    const hasSteps = ctx.inputCount > 4 && !!ctx.optionalInput(4);
    const axes = hasAxes ? numbersInput(ctx, 3) : undefined;
    const steps = hasSteps ? numbersInput(ctx, 4) : undefined;
    if (!starts || !ends || (hasAxes && !axes) || (hasSteps && !steps)) {
      const fresh = x.shape.map(() => ctx.freshDim());
      if (axes) return [{ dtype: x.dtype, shape: x.shape.map((d, k) => (axes.some((a) => normalizeAxis(a, rank, 'Slice axes') === k) ? fresh[k]! : d)) }];
      return [{ dtype: x.dtype, shape: fresh }];
    }
    const shape: Dim[] = [...x.shape];
    const spec = sliceSpec(rank, starts, ends, axes, steps);
    for (const { axis, start, end, step } of spec) {
      const d = x.shape[axis]!;
      if (typeof d === 'number' && typeof start === 'number' && typeof end === 'number') shape[axis] = clampSlice(d, start, end, step).count;
      else if (start === 0 && step === 1 && (end === d || (typeof end === 'number' && end >= BIG))) shape[axis] = d;
      else shape[axis] = ctx.freshDim();
    }
    let sv: Dim[] | undefined;
    const xsv = ctx.shapeValue(0);
    if (xsv && rank === 1 && typeof shape[0] === 'number') {
      const { start, end, step } = spec[0] ?? { start: 0, end: BIG, step: 1 };
      if (typeof start === 'number' && typeof end === 'number') {
        const c = clampSlice(xsv.length, start, end, step);
        sv = Array.from({ length: c.count }, (_, i) => xsv[c.start + i * step]!);
      }
    }
    return { types: [{ dtype: x.dtype, shape }], shapeValues: [sv] };
  },
  evaluate([x, s, e, a, st]) {
    const t = need(x, 'Slice');
    const spec = sliceSpec(t.rank, need(s, 'Slice starts').toArray(), need(e, 'Slice ends').toArray(), a?.toArray(), st?.toArray()) as SliceAxis[];
    const starts = t.dims.map(() => 0);
    const steps = t.dims.map(() => 1);
    const dims = [...t.dims];
    for (const p of spec) {
      const c = clampSlice(t.dims[p.axis]!, p.start, p.end, p.step);
      starts[p.axis] = c.start;
      steps[p.axis] = p.step;
      dims[p.axis] = c.count;
    }
    const str = stridesOf(t.dims);
    return [gatherBy(t, dims, (idx) => idx.reduce((acc, v, k) => acc + (starts[k]! + v * steps[k]!) * str[k]!, 0))];
  },
});

// ---- Expand / Tile ----

defineOp({
  name: 'Expand',
  fusionClass: 'injective',
  inputs: [2, 2],
  outputs: [1, 1],
  infer(ctx) {
    const x = ctx.input(0);
    requireIndexType(ctx.input(1), 'Expand shape');
    const shape = dimsInput(ctx, 1);
    if (!shape) {
      const n = lengthOf(ctx.input(1), 'Expand shape');
      if (n === undefined) throw new OpError('Expand shape input must be a compile-time constant or have a static length');
      const rank = Math.max(n, x.shape.length);
      const dims = Array.from({ length: rank }, (_, k) => {
        const d = x.shape[k - (rank - x.shape.length)];
        return typeof d === 'number' && d !== 1 ? d : ctx.freshDim();
      });
      return [{ dtype: x.dtype, shape: dims }];
    }
    const dims = broadcastShapes([x.shape, shape]);
    const xsv = ctx.shapeValue(0);
    let sv: Dim[] | undefined;
    if (xsv && dims.length <= 1 && dims.every((d) => typeof d === 'number')) {
      const n = dims.length === 0 ? 1 : (dims[0] as number);
      sv = xsv.length === n ? xsv : xsv.length === 1 && n <= 64 ? new Array<Dim>(n).fill(xsv[0]!) : undefined;
    }
    return { types: [{ dtype: x.dtype, shape: dims }], shapeValues: [sv] };
  },
  evaluate([x, s]) {
    const t = need(x, 'Expand');
    const dims = broadcastShapes([t.dims, need(s, 'Expand shape').toArray()]) as number[];
    const off = dims.length - t.rank;
    const st = stridesOf(t.dims);
    return [gatherBy(t, dims, (idx) => {
      let f = 0;
      for (let k = 0; k < t.rank; k++) if (t.dims[k] !== 1) f += idx[k + off]! * st[k]!;
      return f;
    })];
  },
});

defineOp({
  name: 'Tile',
  fusionClass: 'injective',
  inputs: [2, 2],
  outputs: [1, 1],
  infer(ctx) {
    const x = ctx.input(0);
    const reps = numbersInput(ctx, 1);
    if (!reps) return [{ dtype: x.dtype, shape: x.shape.map(() => ctx.freshDim()) }];
    if (reps.length !== x.shape.length) throw new OpError(`Tile repeats [${reps.join(',')}] do not match input rank ${x.shape.length}`);
    return [{ dtype: x.dtype, shape: x.shape.map((d, k) => (typeof d === 'number' ? d * reps[k]! : reps[k] === 1 ? d : ctx.freshDim())) }];
  },
  evaluate([x, r]) {
    const t = need(x, 'Tile');
    const reps = need(r, 'Tile repeats').toArray();
    if (reps.length !== t.rank) throw new OpError(`Tile repeats [${reps.join(',')}] do not match input rank ${t.rank}`);
    const st = stridesOf(t.dims);
    return [gatherBy(t, t.dims.map((d, k) => d * reps[k]!), (idx) => idx.reduce((a, v, k) => a + (v % t.dims[k]!) * st[k]!, 0))];
  },
});

// ---- Pad ----

function lowerPad(ctx: LowerContext): void {
  if (ctx.opset >= 11) {
    ctx.setOutputs(ctx.emit('Pad', [...ctx.inputs], ctx.attrs, 1));
    return;
  }
  const pads = ctx.attrs.has('pads') ? ctx.attrs.ints('pads') : ctx.attrs.ints('paddings');
  const dtype = ctx.inputs[0]!.type.dtype;
  const inputs = [
    ctx.inputs[0]!,
    ctx.constant(TensorData.fromValues('i64', [pads.length], pads)),
    ctx.constant(TensorData.scalar(dtype, ctx.attrs.float('value', 0))),
  ];
  const attrs = Attrs.from({ mode: { kind: 'string', value: ctx.attrs.string('mode', 'constant') } });
  ctx.setOutputs(ctx.emit('Pad', inputs, attrs, 1));
}

const PAD_MODES = ['constant', 'reflect', 'edge', 'wrap'];

/** Per-axis begin/end pads over all axes from the pads and axes inputs. */
function fullPads(rank: number, pads: readonly Dim[], axesIn: readonly number[] | undefined): [Dim[], Dim[]] {
  const axes = axesIn ? axesOf(axesIn, rank, 'Pad axes') : Array.from({ length: rank }, (_, i) => i);
  if (pads.length !== 2 * axes.length) throw new OpError(`Pad pads [${pads.join(',')}] must have ${2 * axes.length} entries for ${axes.length} axes`);
  const begin: Dim[] = new Array<Dim>(rank).fill(0);
  const end: Dim[] = new Array<Dim>(rank).fill(0);
  axes.forEach((a, i) => {
    begin[a] = pads[i]!;
    end[a] = pads[i + axes.length]!;
  });
  return [begin, end];
}

/** Index into a (cropped) axis of size m for a padded coordinate j, or -1 for the fill value. */
function padSource(j: number, m: number, mode: string): number {
  if (j >= 0 && j < m) return j;
  if (m === 0) return -1;
  switch (mode) {
    case 'edge': return j < 0 ? 0 : m - 1;
    case 'wrap': return ((j % m) + m) % m;
    case 'reflect': {
      if (m === 1) return 0;
      const p = 2 * (m - 1);
      const r = ((j % p) + p) % p;
      return r < m ? r : p - r;
    }
    default: return -1;
  }
}

defineOp({
  name: 'Pad',
  fusionClass: 'injective',
  inputs: [2, 4],
  outputs: [1, 1],
  onnxLower: lowerPad,
  infer(ctx) {
    const x = ctx.input(0);
    const mode = ctx.attrs.string('mode', 'constant');
    if (!PAD_MODES.includes(mode)) throw new OpError(`Pad mode '${mode}' is not one of ${PAD_MODES.join(', ')}`);
    const pads = numbersInput(ctx, 1);
    const hasAxes = ctx.inputCount > 3 && !!ctx.optionalInput(3);
    const axes = hasAxes ? numbersInput(ctx, 3) : undefined;
    if (!pads || (hasAxes && !axes)) return [{ dtype: x.dtype, shape: x.shape.map(() => ctx.freshDim()) }];
    const [b, e] = fullPads(x.shape.length, pads, axes);
    return [{
      dtype: x.dtype,
      shape: x.shape.map((d, k) => {
        const add = (b[k] as number) + (e[k] as number);
        if (typeof d !== 'number') return add === 0 ? d : ctx.freshDim();
        if (d + add < 0) throw new OpError(`Pad pads [${pads.join(',')}] crop axis ${k} of size ${d} below zero`);
        return d + add;
      }),
    }];
  },
  evaluate([x, p, v, a], attrs) {
    const t = need(x, 'Pad');
    const mode = attrs.string('mode', 'constant');
    const [b, e] = fullPads(t.rank, need(p, 'Pad pads').toArray(), a?.toArray()) as [number[], number[]];
    const fill = v && v.size > 0 ? v.values[0]! : 0;
    // Negative pads crop first; the mode then applies to the cropped tensor.
    const lo = t.dims.map((_, k) => Math.max(0, -b[k]!));
    const m = t.dims.map((d, k) => d - lo[k]! - Math.max(0, -e[k]!));
    const before = b.map((x) => Math.max(0, x));
    const dims = t.dims.map((d, k) => d + b[k]! + e[k]!);
    const st = stridesOf(t.dims);
    return [gatherBy(t, dims, (idx) => {
      let f = 0;
      for (let k = 0; k < idx.length; k++) {
        const j = padSource(idx[k]! - before[k]!, m[k]!, mode);
        if (j < 0) return -1;
        f += (j + lo[k]!) * st[k]!;
      }
      return f;
    }, fill)];
  },
});
