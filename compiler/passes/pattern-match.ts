// Shared vocabulary of the pattern-recognition passes (fold-batchnorm, fuse-*): who produces and
// reads each value, scalar constants compared within a tolerance, commutative operand orders, and
// the rewrite that replaces a matched subgraph by one node. Each pass first collects its matches
// (and the reasons it rejected candidates), then applies them with `replaceMatched`.

import { attr, type Attrs, type Graph, type Node, type Value } from '../ir/graph.js';
import type { TensorType } from '../ir/types.js';

/** Producers and readers of every value, computed once before a pass decides. */
export class GraphIndex {
  private readonly producers = new Map<Value, Node>();
  private readonly readerMap: Map<Value, Node[]>;
  private readonly outputs: Set<Value>;

  constructor(readonly graph: Graph) {
    for (const n of graph.nodes) for (const o of n.outputs) this.producers.set(o, n);
    this.readerMap = graph.users();
    this.outputs = new Set(graph.outputs);
  }

  /** The node producing `v` when it is an `op` node. */
  producer(v: Value | null | undefined, op?: string): Node | undefined {
    const n = v ? this.producers.get(v) : undefined;
    return n && (op === undefined || n.op === op) ? n : undefined;
  }

  readers(v: Value): Node[] {
    return this.readerMap.get(v) ?? [];
  }

  /**
   * The single node reading `v` (an `op` node when given). Whether `v` is also a graph output is
   * left to `escapes`, which gives the reason.
   */
  soleReader(v: Value, op?: string): Node | undefined {
    const r = this.readers(v);
    if (r.length !== 1) return undefined;
    return op === undefined || r[0]!.op === op ? r[0] : undefined;
  }

  isGraphOutput(v: Value): boolean {
    return this.outputs.has(v);
  }

  /**
   * Why `nodes` cannot be replaced by one node computing `last`'s first output, or undefined when
   * they can: every other value they produce must be read only inside the pattern.
   */
  escapes(nodes: readonly Node[], last: Node): string | undefined {
    const inside = new Set(nodes);
    for (const n of nodes) {
      for (const o of n.outputs) {
        if (n === last && o === last.outputs[0]) continue;
        if (this.outputs.has(o)) return `%${o.name} (${n.loc}) is a graph output`;
        const outside = this.readers(o).find((r) => !inside.has(r));
        if (outside) return `%${o.name} (${n.loc}) is also read by ${outside.op} ${outside.loc}`;
      }
    }
    return undefined;
  }
}

/** The value of a one-element constant. */
export function scalarOf(v: Value | null | undefined): number | undefined {
  const c = v?.constant;
  return c && c.size === 1 ? c.values[0] : undefined;
}

/** True when `v` is a one-element constant within `rel` (relative) of `want`. */
export function isScalar(v: Value | null | undefined, want: number, rel = 1e-5): boolean {
  const x = scalarOf(v);
  return x !== undefined && Math.abs(x - want) <= rel * Math.abs(want);
}

/** The other input of a binary node that reads `v` (either order); undefined if it does not. */
export function otherOperand(n: Node, v: Value): Value | undefined {
  const [a, b] = n.inputs;
  if (!a || !b) return undefined;
  return a === v ? b : b === v ? a : undefined;
}

/** [x, c] when binary `n` reads a one-element constant c and a value x, in either order. */
export function splitConstant(n: Node): [Value, number] | undefined {
  const [a, b] = n.inputs;
  if (!a || !b || n.inputs.length !== 2) return undefined;
  const cb = scalarOf(b);
  if (cb !== undefined && !a.constant) return [a, cb];
  const ca = scalarOf(a);
  if (ca !== undefined && !b.constant && (n.op === 'Add' || n.op === 'Mul')) return [b, ca];
  return undefined;
}

export function sameType(a: TensorType, b: TensorType): boolean {
  return a.dtype === b.dtype && a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]);
}

export interface Replacement {
  op: string;
  inputs: (Value | null)[];
  attrs: Attrs;
}

/**
 * Replaces the matched `nodes` (in any order; `last` computes the result) by one node that takes
 * over `last`'s output value, so its name, type and readers stay. The new node sits where `last`
 * was, carries `last`'s location, and lists the other nodes' locations in `_sources` (the verifier
 * and op rules ignore attributes they do not know). The caller removes `nodes` from the graph afterwards (see `removeNodes`).
 */
export function replaceMatched(g: Graph, nodes: readonly Node[], last: Node, r: Replacement): Node {
  const order = new Map(g.nodes.map((n, i) => [n, i]));
  const sources = [...nodes].filter((n) => n !== last).sort((a, b) => order.get(a)! - order.get(b)!).map((n) => n.loc);
  const result = last.outputs[0]!;
  const node = g.addNode({ op: r.op, inputs: r.inputs, attrs: r.attrs.with('_sources', attr.strings(sources)), outputTypes: [result.type], loc: last.loc }, order.get(last)!);
  node.outputs = [result];
  result.producer = node;
  return node;
}

/** Drops the given nodes, and constants nothing reads any more. */
export function removeNodes(g: Graph, dead: ReadonlySet<Node>): void {
  if (dead.size === 0) return;
  g.nodes = g.nodes.filter((n) => !dead.has(n));
  g.pruneConstants();
}
