// sink-reshapes: an elementwise Add that reads a reshaped product runs in the product's shape, so
// the fuse pass can make it the product's epilogue (a residual in cuBLASLt's C, or the CPU GEMM
// tile's residual). Transformers export each projection as a 2-D product between view changes:
//   y = Add(Reshape(p), r)   p = MatMul/Gemm(...) : [B*S, N],  r, y : [B, S, N]
//   -> y = Reshape(Add(p, Reshape(r)))           (both Reshapes are views: no kernel, no copy)
// Taken when p is read only by the Reshape (Reshape, Flatten, Squeeze or Unsqueeze), that view only
// by the Add, and the other operand r has the Add's type exactly (no broadcast) and is computed
// (a constant would be folded instead). Needs: static shapes. Guarantees: y keeps its value (name,
// type, readers); the Add keeps its location; the view node now produces y.

import { type Graph, type Node } from '../ir/graph.js';
import { TensorData } from '../ir/tensor.js';
import { isStaticShape } from '../ir/types.js';
import { bumpStat, type Pass } from './pass.js';
import { GraphIndex, sameType } from './pattern-match.js';

const VIEWS: ReadonlySet<string> = new Set(['Reshape', 'Flatten', 'Squeeze', 'Unsqueeze']);
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
  for (const operand of [0, 1]) {
    const a = add.inputs[operand]!;
    const r = add.inputs[1 - operand]!;
    const view = idx.producer(a);
    if (!view || !VIEWS.has(view.op) || idx.soleReader(a) !== add || idx.isGraphOutput(a)) continue;
    const p = view.inputs[0]!;
    if (!idx.producer(p) || !PRODUCTS.has(idx.producer(p)!.op) || idx.soleReader(p) !== view || idx.isGraphOutput(p)) continue;
    if (r.constant || !sameType(r.type, y.type) || !sameType(a.type, y.type) || p.type.dtype !== y.type.dtype) continue;
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
  const a = add.inputs[operand]!;
  const r = add.inputs[1 - operand]!;
  const p = view.inputs[0]!;
  const y = add.outputs[0]!;
  const rowsShape = p.type.shape as number[];
  const shape = g.addConstant(`${r.name}.rows.shape`, TensorData.fromValues('i64', [rowsShape.length], rowsShape));
  g.nodes.splice(g.nodes.indexOf(view), 1);
  const rows = g.addNode({ op: 'Reshape', inputs: [r, shape], outputTypes: [{ dtype: r.type.dtype, shape: [...rowsShape] }], outputNames: [`${r.name}.rows`], loc: `${add.loc}/rows` }, g.nodes.indexOf(add));
  // The Add now produces `a` in the product's shape; the view turns it into y after the Add.
  add.inputs[operand] = p;
  add.inputs[1 - operand] = rows.outputs[0]!;
  a.type = { dtype: y.type.dtype, shape: [...rowsShape] };
  a.producer = add;
  add.outputs[0] = a;
  view.inputs[0] = a;
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
