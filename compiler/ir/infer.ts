// Runs an op's shape/type rule on one node: builds the InferContext (input types, constant and
// symbolic shape values of inputs) and normalizes the rule's result. Shared by the importer, the
// shape-inference pass and the verifier.

import { AttrError, type Graph, type Node, type Value } from './graph.js';
import { getOp, normalizeInferResult, OpError, type InferContext, type InferResult } from './ops.js';
import { TensorData } from './tensor.js';
import { staticSize, type Dim, type TensorType } from './types.js';

/** Known contents of small integer values (shapes), kept alongside a graph during inference. */
export type ShapeValues = Map<Value, Dim[]>;

export class InferError extends Error {
  constructor(
    message: string,
    readonly node: Node,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

function shapeValueOf(v: Value, known: ShapeValues): Dim[] | undefined {
  const s = known.get(v);
  if (s) return s;
  const c = v.constant;
  if (c && c.rank <= 1 && c.size <= 64 && c.dtype !== 'f32' && c.dtype !== 'f64' && c.dtype !== 'f16' && c.dtype !== 'bf16') {
    return c.toArray();
  }
  return undefined;
}

/** Infers output types of `node` from its current inputs. Throws InferError for invalid uses. */
export function inferNode(graph: Graph, node: Node, known: ShapeValues): InferResult {
  const def = getOp(node.op);
  if (!def) throw new InferError(`unknown op ${node.op}`, node);
  let count = node.inputs.length;
  while (count > 0 && node.inputs[count - 1] === null) count--;
  if (count < def.inputs[0] || count > def.inputs[1]) {
    const want = def.inputs[0] === def.inputs[1] ? `${def.inputs[0]}` : def.inputs[1] === Infinity ? `at least ${def.inputs[0]}` : `${def.inputs[0]} to ${def.inputs[1]}`;
    throw new InferError(`${node.op} takes ${want} inputs, got ${count}`, node);
  }
  const ctx: InferContext = {
    node,
    attrs: node.attrs,
    inputCount: count,
    input(i) {
      const v = node.inputs[i];
      if (!v) throw new OpError(`input ${i} is required`);
      return v.type;
    },
    optionalInput(i) {
      return node.inputs[i]?.type;
    },
    constant(i) {
      return node.inputs[i]?.constant;
    },
    shapeValue(i) {
      const v = node.inputs[i];
      return v ? shapeValueOf(v, known) : undefined;
    },
    freshDim(hint) {
      return graph.freshDim(hint);
    },
  };
  let result: InferResult;
  try {
    result = normalizeInferResult(def.infer(ctx));
  } catch (e) {
    if (e instanceof OpError || e instanceof AttrError) throw new InferError(e.message, node, { cause: e });
    throw e;
  }
  if (result.types.length < node.outputs.length) {
    throw new InferError(`${node.op} produces ${result.types.length} outputs, the node has ${node.outputs.length}`, node);
  }
  return withEvaluatedShapeValues(node, result, known);
}

const MAX_SHAPE_VALUE = 64;

function isSmallInt(t: TensorType): boolean {
  const n = staticSize(t.shape);
  return t.dtype !== 'f32' && t.dtype !== 'f64' && t.dtype !== 'f16' && t.dtype !== 'bf16' && t.shape.length <= 1 && n !== undefined && n <= MAX_SHAPE_VALUE;
}

/**
 * Shape arithmetic in exporters goes through ops with no shape-value rule of their own (Mod,
 * Where, Range...). When every input's contents are known numbers and the outputs are small
 * integer tensors, run the op's reference implementation to learn them.
 */
function withEvaluatedShapeValues(node: Node, result: InferResult, known: ShapeValues): InferResult {
  const missing = node.outputs.some((_, i) => !result.shapeValues?.[i] && isSmallInt(result.types[i]!));
  if (!missing) return result;
  const args: (TensorData | undefined)[] = [];
  for (const v of node.inputs) {
    if (!v) {
      args.push(undefined);
      continue;
    }
    if (v.constant) {
      if (v.constant.size > MAX_SHAPE_VALUE) return result;
      args.push(v.constant);
      continue;
    }
    const sv = shapeValueOf(v, known);
    if (!sv || !sv.every((d) => typeof d === 'number') || !isSmallInt(v.type) || staticSize(v.type.shape) !== sv.length) return result;
    args.push(TensorData.fromValues(v.type.dtype, v.type.shape as number[], sv as number[]));
  }
  let outs: TensorData[];
  try {
    outs = getOp(node.op)!.evaluate(args, node.attrs, node.outputs.length);
  } catch {
    return result; // leave the failure to run time or to folding, which report it with the node
  }
  const shapeValues = node.outputs.map((_, i) => result.shapeValues?.[i] ?? (isSmallInt(result.types[i]!) && outs[i] ? outs[i]!.toArray() : undefined));
  return { types: result.types, shapeValues };
}

/** Infers `node` and writes the output types (and shape values) into its output values. */
export function inferAndSet(graph: Graph, node: Node, known: ShapeValues): void {
  const r = inferNode(graph, node, known);
  node.outputs.forEach((o, i) => {
    o.type = r.types[i]!;
    const sv = r.shapeValues?.[i];
    if (sv) known.set(o, sv);
    else known.delete(o);
  });
}

export function typesEqual(a: TensorType, b: TensorType): boolean {
  return a.dtype === b.dtype && a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]);
}
