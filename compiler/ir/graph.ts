// The graph IR: values (typed SSA edges, constants among them), nodes (op, inputs, attrs, outputs,
// location) and a graph holding them in a topological order. Nodes have exactly these fields; an
// op's meaning lives in its OpDef (ops.ts), never in the node.

import type { KernelGroup } from './kernels.js';
import type { TensorData } from './tensor.js';
import type { Dim, TensorType } from './types.js';

export type AttrValue =
  | { readonly kind: 'int'; readonly value: number }
  | { readonly kind: 'float'; readonly value: number }
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'ints'; readonly value: readonly number[] }
  | { readonly kind: 'floats'; readonly value: readonly number[] }
  | { readonly kind: 'strings'; readonly value: readonly string[] }
  | { readonly kind: 'tensor'; readonly value: TensorData };

export const attr = {
  int: (value: number): AttrValue => ({ kind: 'int', value }),
  float: (value: number): AttrValue => ({ kind: 'float', value }),
  string: (value: string): AttrValue => ({ kind: 'string', value }),
  ints: (value: readonly number[]): AttrValue => ({ kind: 'ints', value: [...value] }),
  floats: (value: readonly number[]): AttrValue => ({ kind: 'floats', value: [...value] }),
  strings: (value: readonly string[]): AttrValue => ({ kind: 'strings', value: [...value] }),
  tensor: (value: TensorData): AttrValue => ({ kind: 'tensor', value }),
};

/** Thrown by attribute accessors; the caller turns it into a diagnostic naming the node. */
export class AttrError extends Error {}

/** A node's attributes, sorted by name, with typed accessors. */
export class Attrs {
  private readonly map: Map<string, AttrValue>;

  constructor(entries: Iterable<[string, AttrValue]> = []) {
    this.map = new Map([...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }

  static from(record: Record<string, AttrValue | undefined>): Attrs {
    return new Attrs(Object.entries(record).filter((e): e is [string, AttrValue] => e[1] !== undefined));
  }

  has(name: string): boolean {
    return this.map.has(name);
  }
  get(name: string): AttrValue | undefined {
    return this.map.get(name);
  }
  entries(): [string, AttrValue][] {
    return [...this.map.entries()];
  }
  get size(): number {
    return this.map.size;
  }

  /** A copy with `name` set (or removed when `value` is undefined). */
  with(name: string, value: AttrValue | undefined): Attrs {
    const m = new Map(this.map);
    if (value === undefined) m.delete(name);
    else m.set(name, value);
    return new Attrs(m);
  }

  int(name: string, fallback?: number): number {
    const a = this.map.get(name);
    if (a === undefined) return required(name, fallback);
    if (a.kind !== 'int') throw new AttrError(`attribute '${name}' must be an int, got ${a.kind}`);
    return a.value;
  }
  float(name: string, fallback?: number): number {
    const a = this.map.get(name);
    if (a === undefined) return required(name, fallback);
    if (a.kind !== 'float' && a.kind !== 'int') throw new AttrError(`attribute '${name}' must be a float, got ${a.kind}`);
    return a.value;
  }
  string(name: string, fallback?: string): string {
    const a = this.map.get(name);
    if (a === undefined) return required(name, fallback);
    if (a.kind !== 'string') throw new AttrError(`attribute '${name}' must be a string, got ${a.kind}`);
    return a.value;
  }
  ints(name: string, fallback?: readonly number[]): readonly number[] {
    const a = this.map.get(name);
    if (a === undefined) return required(name, fallback);
    if (a.kind === 'int') return [a.value];
    if (a.kind !== 'ints') throw new AttrError(`attribute '${name}' must be a list of ints, got ${a.kind}`);
    return a.value;
  }
  floats(name: string, fallback?: readonly number[]): readonly number[] {
    const a = this.map.get(name);
    if (a === undefined) return required(name, fallback);
    if (a.kind !== 'floats' && a.kind !== 'ints') throw new AttrError(`attribute '${name}' must be a list of floats, got ${a.kind}`);
    return a.value;
  }
  strings(name: string, fallback?: readonly string[]): readonly string[] {
    const a = this.map.get(name);
    if (a === undefined) return required(name, fallback);
    if (a.kind !== 'strings') throw new AttrError(`attribute '${name}' must be a list of strings, got ${a.kind}`);
    return a.value;
  }
  tensor(name: string): TensorData | undefined {
    const a = this.map.get(name);
    if (a === undefined) return undefined;
    if (a.kind !== 'tensor') throw new AttrError(`attribute '${name}' must be a tensor, got ${a.kind}`);
    return a.value;
  }
}

function required<T>(name: string, fallback: T | undefined): T {
  if (fallback === undefined) throw new AttrError(`required attribute '${name}' is missing`);
  return fallback;
}

export class Value {
  /** Set when the value is a compile-time constant (initializer or folded). */
  constant: TensorData | undefined;
  producer: Node | undefined;

  constructor(
    readonly id: number,
    public name: string,
    public type: TensorType,
  ) {}
}

export class Node {
  constructor(
    readonly id: number,
    public op: string,
    /** Inputs in order; `null` marks an omitted optional input. */
    public inputs: (Value | null)[],
    public outputs: Value[],
    public attrs: Attrs,
    /** Where the node came from: the ONNX node name, or a name derived from it by a pass. */
    public loc: string,
  ) {}
}

export interface NodeSpec {
  op: string;
  inputs: (Value | null)[];
  attrs?: Attrs;
  outputTypes: TensorType[];
  loc: string;
  outputNames?: string[];
}

export class Graph {
  inputs: Value[] = [];
  outputs: Value[] = [];
  /** Nodes in a topological order. */
  nodes: Node[] = [];
  /** Constant values (initializers and folded results), in order of creation. */
  constants: Value[] = [];
  /** Inputs whose contents were fixed at compile time (--value); they stay in the signature. */
  boundValues = new Map<Value, TensorData>();
  /** Opset versions the graph was imported with, by domain ('' is the default ONNX domain). */
  opsets: Record<string, number> = {};
  /**
   * Fused kernels (groups of two or more contiguous nodes), set by the fuse pass; every other node
   * is a kernel of its own. A pass that changes the nodes afterwards must drop or update it.
   */
  kernels?: KernelGroup[];
  private nextId = 0;
  private nextDim = 0;
  private readonly usedNames = new Set<string>();

  constructor(public name = 'main') {}

  /** A fresh symbol for a dim that cannot be known before run time. */
  freshDim(hint = 'd'): Dim {
    this.nextDim += 1;
    return `_${hint}${this.nextDim}`;
  }

  /** A value name not yet used in this graph, derived from `base`. */
  uniqueName(base: string): string {
    let name = base;
    for (let k = 1; this.usedNames.has(name); k++) name = `${base}_${k}`;
    this.usedNames.add(name);
    return name;
  }

  newValue(name: string, type: TensorType): Value {
    return new Value(this.nextId++, this.uniqueName(name), type);
  }

  addInput(name: string, type: TensorType): Value {
    const v = this.newValue(name, type);
    this.inputs.push(v);
    return v;
  }

  addConstant(name: string, data: TensorData): Value {
    const v = this.newValue(name, { dtype: data.dtype, shape: [...data.dims] });
    v.constant = data;
    this.constants.push(v);
    return v;
  }

  /** Creates a node with fresh output values; appends it unless `at` gives an index. */
  addNode(spec: NodeSpec, at?: number): Node {
    const outputs = spec.outputTypes.map((t, i) =>
      this.newValue(spec.outputNames?.[i] ?? `${spec.loc || spec.op}_out${i}`, t),
    );
    const node = new Node(this.nextId++, spec.op, [...spec.inputs], outputs, spec.attrs ?? new Attrs(), spec.loc);
    for (const o of outputs) o.producer = node;
    if (at === undefined) this.nodes.push(node);
    else this.nodes.splice(at, 0, node);
    return node;
  }

  /** Map from each value to the nodes that read it (a node reading a value twice appears once). */
  users(): Map<Value, Node[]> {
    const users = new Map<Value, Node[]>();
    for (const n of this.nodes) {
      for (const v of new Set(n.inputs)) {
        if (!v) continue;
        let list = users.get(v);
        if (!list) users.set(v, (list = []));
        list.push(n);
      }
    }
    return users;
  }

  /** Makes every reader of `from` (nodes and graph outputs) read `to` instead. */
  replaceAllUses(from: Value, to: Value): void {
    for (const n of this.nodes) {
      for (let i = 0; i < n.inputs.length; i++) if (n.inputs[i] === from) n.inputs[i] = to;
    }
    for (let i = 0; i < this.outputs.length; i++) if (this.outputs[i] === from) this.outputs[i] = to;
  }

  /** Turns a value into a constant (its producer stops producing it). */
  makeConstant(v: Value, data: TensorData): void {
    v.constant = data;
    v.producer = undefined;
    v.type = { dtype: data.dtype, shape: [...data.dims] };
    this.constants.push(v);
  }

  /** Drops constants no node or output reads. */
  pruneConstants(): void {
    const live = new Set<Value>(this.outputs);
    for (const n of this.nodes) for (const v of n.inputs) if (v) live.add(v);
    this.constants = this.constants.filter((c) => live.has(c));
  }

  /** Marks names as taken (used by parsers and importers that name values themselves). */
  reserveName(name: string): void {
    this.usedNames.add(name);
  }
}
