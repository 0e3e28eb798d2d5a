// channels-last: runs the 2-D convolutions of half-precision GPU plans in NHWC, the layout cuDNN's
// tensor-core kernels read, and keeps whole regions of the network in it so that layout changes
// happen only at the region's edges.
//   Conv(x, W, B)                 -> NhwcConv(x', W', B)     x' = x in NHWC, W' = W as [M,KH,KW,C/g]
//   MaxPool/AveragePool(x)        -> NhwcMaxPool/NhwcAveragePool(x')             (x from the region)
//   GlobalAverage/MaxPool(x)      -> ReduceMean/ReduceMax(x', axes=[1,2])        (x from the region)
//   ReduceX(x, axes={2,3})        -> ReduceX(x', axes=[1,2])                     (x from the region)
//   elementwise/broadcast op      -> the same op on NHWC operands, when one operand comes from the
//                                    region and every other is a constant (permuted here: a [1,C,1,1]
//                                    bias becomes [1,1,1,C]) or has only dims of 1
//   Concat(axis=a) of 4-D values  -> Concat(axis=a') on NHWC operands (channels: 1 -> 3), when its
//                                    operands come from the region or are 4-D constants
// Decide, then rewrite: `decideChannelsLast` walks the graph in order and picks the nodes (every
// eligible Conv seeds the region; the others join when their input is in it); `applyChannelsLast`
// rewrites them, inserting a Transpose to NHWC where a member reads a value from outside and one
// back to NCHW (a Reshape when H = W = 1) where a value leaves the region or is a graph output. A
// spatial reduction whose [N,C,1,1] result is only flattened to [N,C] drops its kept dims instead,
// so the Flatten/Reshape disappears. Weights are permuted at compile time.
// Needs: types inferred, BatchNorms folded (a BN would end a region). Runs only when
// ctx.floatStorage is f16 or bf16 (f32/f64 plans stay NCHW), and only for the cuda target
// (compile.ts TARGET_SKIPPED_PASSES). Guarantees: the graph computes the same values; NCHW values
// that leave the region keep their names and types. Leaves to fuse: epilogues of NhwcConv.

import { isFloat } from '../ir/dtype.js';
import { attr, Attrs, type Graph, type Node, type Value } from '../ir/graph.js';
import { getOp } from '../ir/ops.js';
import { TensorData } from '../ir/tensor.js';
import type { TensorType } from '../ir/types.js';
import { CHANNELS_LAST_OPS, permuteTensor, permuteType, TO_CHANNELS_FIRST, TO_CHANNELS_LAST } from '../ops/channels-last.js';
import { bumpStat, type Pass } from './pass.js';

const GLOBAL_POOLS: Readonly<Record<string, string>> = { GlobalAveragePool: 'ReduceMean', GlobalMaxPool: 'ReduceMax' };
const SPATIAL_REDUCTIONS = new Set(['ReduceMean', 'ReduceMax', 'ReduceMin', 'ReduceSum']);

export interface ChannelsLastPlan {
  /** Nodes that run channels-last, in graph order. */
  nodes: Node[];
  /**
   * Spatial reductions whose [N,C,1,1] result only feeds a flatten to [N,C], mapped to that
   * Flatten/Reshape: the reduction drops its kept dims and takes over the flatten's output.
   */
  collapse: Map<Node, Node>;
  /** Convolutions and pools left channels-first, with the reason. */
  rejected: { loc: string; reason: string }[];
}

const rank4 = (v: Value | null | undefined): boolean => v?.type.shape.length === 4;
const allOnes = (t: TensorType): boolean => t.shape.every((d) => d === 1);

function convProblem(n: Node): string | undefined {
  const [x, w] = n.inputs;
  if (!rank4(x) || !rank4(w)) return `${(x?.type.shape.length ?? 2) - 2}-D convolution (channels-last covers 2-D)`;
  if (!w!.constant) return 'its weight is not a constant';
  if (!isFloat(x!.type.dtype)) return `${x!.type.dtype} input`;
  return undefined;
}

/** The reduced axes of a spatial reduction, when they are exactly H and W of a 4-D input. */
function reducesSpatial(n: Node): boolean {
  if (n.outputs.length !== 1 || !rank4(n.inputs[0])) return false;
  const axes = n.inputs[1]?.constant?.toArray();
  if (!axes) return false;
  const set = new Set(axes.map((a) => (a < 0 ? a + 4 : a)));
  return set.size === 2 && set.has(2) && set.has(3) && axes.length === 2;
}

/** The single Flatten/Reshape to [N,C] that is the only reader of `v` ([N,C,1,1]), if any. */
function flattenOnly(g: Graph, v: Value, users: Map<Value, Node[]>): Node | undefined {
  const readers = users.get(v) ?? [];
  if (readers.length !== 1 || g.outputs.includes(v)) return undefined;
  const r = readers[0]!;
  if (r.inputs[0] !== v || r.outputs.length !== 1) return undefined;
  if (r.op !== 'Flatten' && r.op !== 'Reshape') return undefined;
  if (r.op === 'Flatten' && r.attrs.int('axis', 1) !== 1) return undefined;
  const [N, C, H, W] = v.type.shape;
  if (H !== 1 || W !== 1) return undefined;
  const out = r.outputs[0]!.type.shape;
  return out.length === 2 && out[0] === N && out[1] === C ? r : undefined;
}

export function decideChannelsLast(g: Graph): ChannelsLastPlan {
  const plan: ChannelsLastPlan = { nodes: [], collapse: new Map(), rejected: [] };
  const users = g.users();
  /** Values the region produces in NHWC. */
  const inRegion = new Set<Value>();
  const join = (n: Node, nhwcOutput: boolean) => {
    plan.nodes.push(n);
    if (nhwcOutput) inRegion.add(n.outputs[0]!);
  };
  for (const n of g.nodes) {
    const x = n.inputs[0];
    const fromRegion = !!x && inRegion.has(x);
    if (n.op === 'Conv') {
      const problem = convProblem(n);
      if (problem) plan.rejected.push({ loc: n.loc, reason: problem });
      else join(n, true);
    } else if (n.op === 'MaxPool' || n.op === 'AveragePool') {
      if (n.outputs.length !== 1) plan.rejected.push({ loc: n.loc, reason: 'MaxPool with an Indices output' });
      else if (n.attrs.int('storage_order', 0) !== 0) plan.rejected.push({ loc: n.loc, reason: 'storage_order = 1' });
      else if (!rank4(x)) plan.rejected.push({ loc: n.loc, reason: `${(x?.type.shape.length ?? 2) - 2}-D pooling` });
      else if (!fromRegion) plan.rejected.push({ loc: n.loc, reason: 'its input is channels-first' });
      else join(n, true);
    } else if (n.op in GLOBAL_POOLS || (SPATIAL_REDUCTIONS.has(n.op) && reducesSpatial(n))) {
      if (!fromRegion || !rank4(x)) continue;
      const keep = n.op in GLOBAL_POOLS || n.attrs.int('keepdims', 1) !== 0;
      const flatten = keep ? flattenOnly(g, n.outputs[0]!, users) : undefined;
      if (flatten) plan.collapse.set(n, flatten);
      // Without kept dims the result ([N,C]) is the same in both layouts.
      join(n, keep && !flatten);
    } else if (joinsElementwise(n, inRegion) || joinsConcat(n, inRegion)) {
      join(n, true);
    }
  }
  return plan;
}

function joinsElementwise(n: Node, inRegion: ReadonlySet<Value>): boolean {
  const cls = getOp(n.op)?.fusionClass;
  if (cls !== 'elementwise' && cls !== 'broadcast') return false;
  if (n.outputs.length !== 1 || !rank4(n.outputs[0]) || n.attrs.has('axis')) return false;
  let fromRegion = false;
  for (const u of n.inputs) {
    if (!u) continue;
    if (inRegion.has(u)) fromRegion = true;
    else if (!u.constant && !allOnes(u.type)) return false;
    else if (u.type.shape.length > 4) return false;
  }
  return fromRegion;
}

/** A 4-D Concat of region values and constants (DenseNet, Inception): its axis is remapped. */
function joinsConcat(n: Node, inRegion: ReadonlySet<Value>): boolean {
  if (n.op !== 'Concat' || n.outputs.length !== 1 || !rank4(n.outputs[0])) return false;
  return n.inputs.some((u) => u && inRegion.has(u)) && n.inputs.every((u) => u && (inRegion.has(u) || (u.constant && rank4(u))));
}

export function applyChannelsLast(g: Graph, plan: ChannelsLastPlan): { transposes: number } {
  const members = new Set(plan.nodes);
  const users = g.users();
  const graphOutputs = new Set(g.outputs);
  const removed = new Set(plan.collapse.values());
  const order: Node[] = [];
  const toNhwc = new Map<Value, Value>();
  const permuted = new Map<Value, Value>();
  let transposes = 0;

  /** A constant operand broadcast to rank 4 and permuted (once per constant). */
  const permuteConstant = (c: Value): Value => {
    if (c.type.shape.length === 0 || allOnes(c.type)) return c;
    let p = permuted.get(c);
    if (!p) {
      const t = c.constant!;
      const dims = [...new Array(4 - t.rank).fill(1), ...t.dims];
      p = g.addConstant(`${c.name}_nhwc`, permuteTensor(t.withDims(dims), TO_CHANNELS_LAST));
      permuted.set(c, p);
    }
    return p;
  };
  /** `x` (NCHW, from outside the region) in NHWC: a Transpose placed before its first reader. */
  const nhwcOf = (x: Value, reader: Node): Value => {
    if (x.producer && members.has(x.producer)) return x;
    if (x.constant) return permuteConstant(x);
    let v = toNhwc.get(x);
    if (!v) {
      const t = g.addNode({
        op: 'Transpose', inputs: [x], attrs: new Attrs([['perm', attr.ints(TO_CHANNELS_LAST)]]),
        outputTypes: [permuteType(x.type, TO_CHANNELS_LAST)], outputNames: [`${x.name}_nhwc`], loc: `${reader.loc}/to_nhwc`,
      });
      order.push(t);
      transposes++;
      toNhwc.set(x, (v = t.outputs[0]!));
    }
    return v;
  };
  const axesConstant = (n: Node, axes: number[]) => g.addConstant(`${n.outputs[0]!.name}_axes`, TensorData.fromValues('i64', [axes.length], axes));

  for (const n of [...g.nodes]) {
    if (removed.has(n)) continue;
    if (!members.has(n)) {
      order.push(n);
      continue;
    }
    // Inputs from the region are NHWC already (their producers came first).
    const x = n.inputs[0]!;
    if (n.op === 'Conv' || n.op === 'MaxPool' || n.op === 'AveragePool') {
      n.inputs[0] = nhwcOf(x, n);
      if (n.op === 'Conv') n.inputs[1] = permuteConstant(n.inputs[1]!);
      n.op = CHANNELS_LAST_OPS[n.op]!;
    } else if (n.op in GLOBAL_POOLS || SPATIAL_REDUCTIONS.has(n.op)) {
      const keep = !plan.collapse.has(n) && (n.op in GLOBAL_POOLS || n.attrs.int('keepdims', 1) !== 0);
      n.op = GLOBAL_POOLS[n.op] ?? n.op;
      n.inputs = [x, axesConstant(n, [1, 2])];
      n.attrs = n.attrs.with('keepdims', attr.int(keep ? 1 : 0));
      const flatten = plan.collapse.get(n);
      if (flatten) {
        // The reduction computes the flatten's [N,C] output value itself.
        const out = flatten.outputs[0]!;
        n.outputs[0] = out;
        out.producer = n;
      }
    } else {
      n.inputs = n.inputs.map((u) => (u && u.constant ? permuteConstant(u) : u));
      if (n.op === 'Concat') {
        const axis = n.attrs.int('axis');
        n.attrs = n.attrs.with('axis', attr.int(TO_CHANNELS_LAST.indexOf(axis < 0 ? axis + 4 : axis)));
      }
    }
    order.push(n);
    const v = n.outputs[0]!;
    if (v.type.shape.length !== 4 || plan.collapse.has(n) || (SPATIAL_REDUCTIONS.has(n.op) && n.attrs.int('keepdims', 1) === 0)) continue;
    const nhwc = permuteType(v.type, TO_CHANNELS_LAST);
    const readers = users.get(v) ?? [];
    if (readers.every((r) => members.has(r)) && !graphOutputs.has(v)) {
      v.type = nhwc;
      continue;
    }
    // The value leaves the region: the member computes an NHWC value, and `v` keeps its name and
    // NCHW type as the result of the way back.
    const inner = g.newValue(`${v.name}_nhwc`, nhwc);
    inner.producer = n;
    n.outputs[0] = inner;
    for (const r of readers) if (members.has(r)) r.inputs = r.inputs.map((u) => (u === v ? inner : u));
    const [N, , H, W] = v.type.shape;
    const back = H === 1 && W === 1 && typeof N === 'number'
      ? g.addNode({ op: 'Reshape', inputs: [inner, g.addConstant(`${v.name}_shape`, TensorData.fromValues('i64', [4], v.type.shape as number[]))], outputTypes: [v.type], loc: `${n.loc}/to_nchw` })
      : g.addNode({ op: 'Transpose', inputs: [inner], attrs: new Attrs([['perm', attr.ints(TO_CHANNELS_FIRST)]]), outputTypes: [v.type], loc: `${n.loc}/to_nchw` });
    if (back.op === 'Transpose') transposes++;
    back.outputs = [v];
    v.producer = back;
    order.push(back);
  }
  g.nodes = order;
  g.pruneConstants();
  return { transposes };
}

export const channelsLastPass: Pass = {
  name: 'channels-last',
  summary: 'run 2-D convolutions and the pools and pointwise ops between them channels-last (NHWC) in f16/bf16 GPU plans',
  run(g, ctx) {
    if (ctx.floatStorage === 'f32') return false;
    const plan = decideChannelsLast(g);
    if (!plan.nodes.some((n) => n.op === 'Conv')) return false;
    const { transposes } = applyChannelsLast(g, plan);
    bumpStat(ctx, 'channels-last', 'convolutions', plan.nodes.filter((n) => n.op === 'NhwcConv').length);
    bumpStat(ctx, 'channels-last', 'nodes', plan.nodes.length);
    bumpStat(ctx, 'channels-last', 'transposes', transposes);
    return true;
  },
};
