// The reference interpreter: executes an IR graph at any phase before kernel emission by calling
// each op's reference implementation in float64. It is the oracle for pass tests and `mcpc verify`.

import { diagnostic, q } from '../diagnostics.js';
import { AttrError, type Graph, type Value } from '../ir/graph.js';
import { getOp, OpError, UnsupportedError } from '../ir/ops.js';
import { TensorData } from '../ir/tensor.js';
import type { Dim } from '../ir/types.js';
import '../ops/index.js';

export type Feeds = Record<string, TensorData> | Map<string, TensorData>;

export interface InterpretOptions {
  /** Called after each node with its outputs (for tracing and per-node comparison). */
  onNode?: (loc: string, op: string, outputs: readonly TensorData[]) => void;
}

/** Runs the graph on `feeds` (by input name) and returns the outputs by name, in graph order. */
export function interpret(graph: Graph, feeds: Feeds, options: InterpretOptions = {}): Map<string, TensorData> {
  const feedMap = feeds instanceof Map ? feeds : new Map(Object.entries(feeds));
  const env = new Map<Value, TensorData>();
  const bindings = new Map<string, number>();
  for (const input of graph.inputs) {
    const t = feedMap.get(input.name);
    if (!t) throw diagnostic('badFeed', { reason: `missing input ${q(input.name)}` });
    checkFeed(input, t, bindings);
    env.set(input, t);
  }
  for (const name of feedMap.keys()) {
    if (!graph.inputs.some((v) => v.name === name)) {
      throw diagnostic('badFeed', { reason: `unknown input ${q(name)} (inputs: ${graph.inputs.map((v) => v.name).join(', ')})` });
    }
  }
  for (const c of graph.constants) env.set(c, c.constant!);

  // Last reader of each value, so intermediates are released as soon as possible.
  const lastUse = new Map<Value, number>();
  graph.nodes.forEach((n, i) => n.inputs.forEach((v) => v && lastUse.set(v, i)));
  const keep = new Set<Value>(graph.outputs);

  graph.nodes.forEach((node, index) => {
    const def = getOp(node.op);
    if (!def) throw diagnostic('invalidNode', { node: q(node.loc), op: node.op, reason: 'unknown op' });
    const args = node.inputs.map((v) => {
      if (!v) return undefined;
      const t = env.get(v);
      if (!t) throw new Error(`interpreter: value ${v.name} read by ${node.loc} has not been computed`);
      return t;
    });
    let outs: TensorData[];
    try {
      outs = def.evaluate(args, node.attrs, node.outputs.length);
    } catch (e) {
      if (e instanceof UnsupportedError) throw diagnostic('unsupportedFeature', { node: q(node.loc), op: node.op, reason: e.message });
      if (e instanceof OpError || e instanceof AttrError || e instanceof RangeError) {
        throw diagnostic('evaluationFailed', { node: q(node.loc), op: node.op, reason: e.message });
      }
      throw e;
    }
    node.outputs.forEach((o, i) => {
      const t = outs[i];
      if (!t) throw new Error(`interpreter: ${node.op} at ${node.loc} returned no output ${i}`);
      env.set(o, t);
    });
    options.onNode?.(node.loc, node.op, outs);
    for (const v of node.inputs) {
      if (v && lastUse.get(v) === index && !keep.has(v) && !v.constant) env.delete(v);
    }
  });

  const result = new Map<string, TensorData>();
  for (const o of graph.outputs) {
    const t = env.get(o);
    if (!t) throw new Error(`interpreter: output ${o.name} was not computed`);
    result.set(o.name, t);
  }
  return result;
}

function checkFeed(input: Value, t: TensorData, bindings: Map<string, number>): void {
  const want = input.type;
  if (t.dtype !== want.dtype) {
    throw diagnostic('badFeed', { reason: `input ${q(input.name)} must have dtype ${want.dtype}, got ${t.dtype}` });
  }
  if (t.dims.length !== want.shape.length) {
    throw diagnostic('badFeed', { reason: `input ${q(input.name)} must have rank ${want.shape.length} ([${want.shape.join(',')}]), got [${t.dims.join(',')}]` });
  }
  want.shape.forEach((d: Dim, k) => {
    const got = t.dims[k]!;
    if (typeof d === 'number') {
      if (d !== got) throw diagnostic('badFeed', { reason: `input ${q(input.name)} dims[${k}] must be ${d}, got ${got}` });
    } else {
      const bound = bindings.get(d);
      if (bound !== undefined && bound !== got) {
        throw diagnostic('badFeed', { reason: `input ${q(input.name)} dims[${k}] (${d}) must be ${bound} as bound by an earlier input, got ${got}` });
      }
      bindings.set(d, got);
    }
  });
}
