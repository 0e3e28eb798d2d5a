// The op vocabulary: what every IR op declares (input/output arity, fusion class, shape/type rule,
// reference implementation) and the registry that op families in compiler/ops/ fill. IR ops carry
// the semantics of the newest ONNX opset of the op of the same name; the ONNX importer lowers older
// forms into them (see OnnxLowering).

import type { Attrs, Node, Value } from './graph.js';
import type { TensorData } from './tensor.js';
import type { Dim, TensorType } from './types.js';

/** How an op combines with its neighbours in fusion (TVM's pattern kinds). */
export type FusionClass =
  | 'elementwise' // out[i] = f(in[i]) for inputs of the output's shape
  | 'broadcast' // elementwise after numpy broadcasting of inputs
  | 'injective' // each output element reads one input element (transpose, slice, gather, concat)
  | 'reduction' // output elements combine many input elements along axes (softmax, norms, pooling)
  | 'contraction' // matrix products and convolutions
  | 'opaque'; // anything else (data-dependent shapes, control)

export const FUSION_CLASSES: readonly FusionClass[] = [
  'elementwise', 'broadcast', 'injective', 'reduction', 'contraction', 'opaque',
];

/** A user error in an op's use (bad attribute, incompatible shapes); names no node: the caller adds it. */
export class OpError extends Error {}

/** A valid use of an op that the compiler does not support yet (a dtype or mode it lacks). */
export class UnsupportedError extends OpError {}

/** What a shape/type rule sees of the node it types. */
export interface InferContext {
  readonly node: Node;
  readonly attrs: Attrs;
  /** Number of inputs the node has (trailing omitted inputs do not count). */
  readonly inputCount: number;
  /** Type of input `i`; throws an OpError naming the input if it is missing and `optional` is false. */
  input(i: number): TensorType;
  /** Type of input `i`, or undefined when it is omitted. */
  optionalInput(i: number): TensorType | undefined;
  /** Compile-time contents of input `i` when it is a constant. */
  constant(i: number): TensorData | undefined;
  /**
   * Contents of an integer input of rank 0 or 1 when known at compile time, possibly with symbolic
   * elements (a shape computed by Shape/Gather/Concat from symbolic dims).
   */
  shapeValue(i: number): Dim[] | undefined;
  /** A new symbol for a dim that is not known before run time. */
  freshDim(hint?: string): Dim;
}

/** Result of a shape/type rule: output types, and optionally the known contents of small int outputs. */
export interface InferResult {
  types: TensorType[];
  shapeValues?: (Dim[] | undefined)[];
}

export interface OpDef {
  readonly name: string;
  readonly fusionClass: FusionClass;
  /** Inclusive bounds on the number of inputs (Infinity for variadic). */
  readonly inputs: readonly [number, number];
  /** Inclusive bounds on the number of outputs. */
  readonly outputs: readonly [number, number];
  /** Shape/type rule. Throws OpError for invalid uses. */
  infer(ctx: InferContext): TensorType[] | InferResult;
  /**
   * Reference implementation in float64 arithmetic, defining the op's meaning. Receives the inputs
   * (undefined where omitted) and returns one TensorData per requested output.
   */
  evaluate(inputs: readonly (TensorData | undefined)[], attrs: Attrs, outputCount: number): TensorData[];
  /** Oldest ONNX opset version whose form of this op the importer accepts (default 1). */
  readonly onnxSince?: number;
  /** ONNX domain the op comes from ('' is the default domain). */
  readonly onnxDomain?: string;
  /** Converts older or alternate ONNX forms of the op into the IR form; absent means identity. */
  readonly onnxLower?: OnnxLowering;
  /** Made by compiler passes only (a layout variant of an ONNX op); the ONNX importer refuses it. */
  readonly internal?: boolean;
}

/** What an ONNX lowering sees and can do: it emits IR nodes computing the ONNX node's outputs. */
export interface LowerContext {
  readonly opset: number;
  readonly opType: string;
  readonly name: string;
  readonly inputs: readonly (Value | null)[];
  readonly attrs: Attrs;
  readonly outputCount: number;
  /** Emits an IR node and returns its outputs. */
  emit(op: string, inputs: (Value | null)[], attrs?: Attrs, outputCount?: number): Value[];
  /** A constant value. */
  constant(data: TensorData, name?: string): Value;
  /** Declares which values are the ONNX node's outputs (in order). */
  setOutputs(values: (Value | null)[]): void;
}

export type OnnxLowering = (ctx: LowerContext) => void;

const REGISTRY = new Map<string, OpDef>();

export function defineOp(def: OpDef): OpDef {
  if (REGISTRY.has(def.name)) throw new Error(`op ${def.name} is defined twice`);
  REGISTRY.set(def.name, def);
  return def;
}

export function getOp(name: string): OpDef | undefined {
  return REGISTRY.get(name);
}

export function allOps(): OpDef[] {
  return [...REGISTRY.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
}

export function normalizeInferResult(r: TensorType[] | InferResult): InferResult {
  return Array.isArray(r) ? { types: r } : r;
}
