// sink-reshapes: an elementwise Add that reads a reshaped product runs in the product's shape, so
// the fuse pass can make it the product's epilogue (a residual in cuBLASLt's C, or the CPU GEMM
// tile's residual). Transformers export each projection as a 2-D product between view changes:
//   y = Add(Reshape(p), r)   p = MatMul/Gemm(...) : [B*S, N],  r, y : [B, S, N]
//   -> y = Reshape(Add(p, Reshape(r)))           (both Reshapes are views: no kernel, no copy)
// Taken when p is read only by the view (a VIEW_OPS node: Reshape, Flatten...), that view only by
// the Add, the other operand r has the Add's type exactly (no broadcast) and is computed by a node,
// and y is not a graph output: a view of a graph input or onto a graph output would stay a copy
// kernel, more than the rewrite saves. Needs: static shapes. Guarantees: y keeps its value (name,
// type, readers); the Add keeps its location and computes a new value `<y>.rows`; the view node
// now produces y.

import { type Graph, type Node } from '../ir/graph.js';
import { VIEW_OPS } from '../ir/kernels.js';
import { TensorData } from '../ir/tensor.js';
import { isStaticShape } from '../ir/types.js';
import { bumpStat, type Pass } from './pass.js';
import { GraphIndex, sameType } from './pattern-match.js';

const PRODUCTS: ReadonlySet<string> = new Set(['MatMul', 'Gemm']);

export interface SinkMatch {
  add: Node;
  view: Node;
  /** The Add operand index that reads the view. */
  operand: number;
}

function match(idx: GraphIndex, add: Node): SinkMatch | undefined {
  if (add.op !== 'Add' || add.inputs.length !== 2 || add.inputs[0] === add.inputs[1]) return undefined;
  const y = add.outputs[0]!;
  if (idx.isGraphOutput(y)) return undefined;
  for (const operand of [0, 1]) {
    const a = add.inputs[operand]!;
    const r = add.inputs[1 - operand]!;
    const view = idx.producer(a);
    if (!view || !VIEW_OPS.has(view.op) || view.outputs.length !== 1 || idx.soleReader(a) !== add || idx.isGraphOutput(a)) continue;
    const p = view.inputs[0]!;
    if (!PRODUCTS.has(idx.producer(p)?.op ?? '') || idx.soleReader(p) !== view || idx.isGraphOutput(p)) continue;
    if (!idx.producer(r) || !sameType(r.type, y.type) || !sameType(a.type, y.type) || p.type.dtype !== y.type.dtype) continue;
    if (!isStaticShape(p.type.shape) || !isStaticShape(y.type.shape)) continue;
    return { add, view, operand };
  }
  return undefined;
}

export function findSinks(g: Graph): SinkMatch[] {
  const idx = new GraphIndex(g);
  return g.nodes.map((n) => match(idx, n)).filter((m): m is SinkMatch => m !== undefined);
}

function apply(g: Graph, m: SinkMatch): void {
  const { add, view, operand } = m;
  const r = add.inputs[1 - operand]!;
  const p = view.inputs[0]!;
  const y = add.outputs[0]!;
  const rowsShape = p.type.shape as number[];
  const shape = g.addConstant(`${r.name}.rows.shape`, TensorData.fromValues('i64', [rowsShape.length], rowsShape));
  g.nodes.splice(g.nodes.indexOf(view), 1);
  const rows = g.addNode({ op: 'Reshape', inputs: [r, shape], outputTypes: [{ dtype: r.type.dtype, shape: [...rowsShape] }], outputNames: [`${r.name}.rows`], loc: `${add.loc}/rows` }, g.nodes.indexOf(add));
  // The Add computes the sum in the product's shape; the view turns it into y after the Add.
  const sum = g.newValue(`${y.name}.rows`, { dtype: y.type.dtype, shape: [...rowsShape] });
  sum.producer = add;
  add.inputs[operand] = p;
  add.inputs[1 - operand] = rows.outputs[0]!;
  add.outputs[0] = sum;
  view.inputs[0] = sum;
  view.outputs[0] = y;
  y.producer = view;
  g.nodes.splice(g.nodes.indexOf(add) + 1, 0, view);
}

export const sinkReshapesPass: Pass = {
  name: 'sink-reshapes',
  summary: 'an Add of a reshaped MatMul/Gemm runs in the product\'s shape, so it fuses as its epilogue',
  run(g: Graph, ctx): boolean {
    const matches = findSinks(g);
    for (const m of matches) apply(g, m);
    if (matches.length) bumpStat(ctx, 'sink-reshapes', 'adds', matches.length);
    return matches.length > 0;
  },
};
