// Kernel groups: the fuse pass's result attached to a Graph. A group is two or more nodes executed
// as one kernel; each group is contiguous in `graph.nodes` and computes exactly one value that is
// read outside it (its result, produced by its last node). Every node outside a group is a kernel
// of its own. The roles inside a group (anchor, prologue, epilogue) follow from its members, so the
// group stores only its nodes; the printer and emit-plan derive the rest with `kernelRoles`.

import type { Graph, Node, Value } from './graph.js';
import { getOp } from './ops.js';

export type KernelFamily = 'contraction' | 'reduction' | 'elementwise' | 'attention' | 'injective' | 'opaque';

export const KERNEL_FAMILIES: readonly KernelFamily[] = ['contraction', 'reduction', 'elementwise', 'attention', 'injective', 'opaque'];

/**
 * Ops whose (first) output is their input 0's bytes unchanged, in another shape: emit-plan makes
 * such an output a view slot of an arena input (no kernel); where it cannot, the kernel is a copy.
 */
export const VIEW_OPS: ReadonlySet<string> = new Set(['Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Identity', 'Dropout']);

export interface KernelGroup {
  /** Members in graph order (contiguous in `graph.nodes`); the last one produces the result. */
  nodes: Node[];
}

/** The kernel family a node belongs to on its own: broadcast ops count as elementwise. */
export function nodeFamily(n: Node): KernelFamily {
  if (n.op === 'Attention') return 'attention';
  const c = getOp(n.op)?.fusionClass ?? 'opaque';
  return c === 'broadcast' ? 'elementwise' : c;
}

/** Anchors are the nodes a kernel is built around: at most one per group. */
export function isAnchor(n: Node): boolean {
  const f = nodeFamily(n);
  return f === 'contraction' || f === 'reduction' || f === 'attention';
}

export interface KernelRoles {
  family: KernelFamily;
  /** The anchor's op, or 'Elementwise' for a group without anchor. */
  op: string;
  anchor: Node | undefined;
  /** Members computing the anchor's input 0 (ancestors of the anchor), in graph order. */
  prologue: Node[];
  /** Members after the anchor (or all members of an elementwise group), in graph order. */
  epilogue: Node[];
  /** The value the group writes to memory. */
  result: Value;
}

export function kernelRoles(nodes: readonly Node[]): KernelRoles {
  const members = new Set(nodes);
  const anchor = nodes.find(isAnchor);
  const result = nodes[nodes.length - 1]!.outputs[0]!;
  if (!anchor) return { family: 'elementwise', op: 'Elementwise', anchor, prologue: [], epilogue: [...nodes], result };
  const ancestors = new Set<Node>();
  const stack = [anchor];
  while (stack.length) {
    for (const v of stack.pop()!.inputs) {
      const p = v?.producer;
      if (p && members.has(p) && !ancestors.has(p)) {
        ancestors.add(p);
        stack.push(p);
      }
    }
  }
  return {
    family: nodeFamily(anchor),
    op: anchor.op,
    anchor,
    prologue: nodes.filter((n) => ancestors.has(n)),
    epilogue: nodes.filter((n) => n !== anchor && !ancestors.has(n)),
    result,
  };
}

/**
 * Structural problems of `graph.kernels` (empty when valid): members must be graph nodes in at
 * most one group, contiguous and in order, with one output each, and only the last member's
 * output may be read outside the group or be a graph output.
 */
export function checkKernels(g: Graph): string[] {
  const problems: string[] = [];
  if (!g.kernels) return problems;
  const position = new Map(g.nodes.map((n, i) => [n, i]));
  const owner = new Map<Node, number>();
  const outputs = new Set(g.outputs);
  const users = g.users();
  g.kernels.forEach((k, gi) => {
    const where = `kernel group ${gi} (${k.nodes[0]?.loc ?? 'empty'})`;
    if (k.nodes.length < 2) problems.push(`${where} has ${k.nodes.length} node(s); a group holds at least two`);
    const members = new Set(k.nodes);
    k.nodes.forEach((n, i) => {
      const at = position.get(n);
      if (at === undefined) return problems.push(`${where}: ${n.op} ${n.loc} is not in the graph`);
      if (owner.has(n)) problems.push(`${where}: ${n.op} ${n.loc} is also in group ${owner.get(n)}`);
      owner.set(n, gi);
      if (i > 0 && position.get(k.nodes[i - 1]!) !== at - 1) problems.push(`${where}: ${n.op} ${n.loc} is not contiguous with the member before it`);
      if (n.outputs.length !== 1) problems.push(`${where}: ${n.op} ${n.loc} has ${n.outputs.length} outputs`);
      if (i === k.nodes.length - 1) return;
      for (const o of n.outputs) {
        if (outputs.has(o)) problems.push(`${where}: %${o.name} is a graph output but not the group's result`);
        const outside = (users.get(o) ?? []).find((r) => !members.has(r));
        if (outside) problems.push(`${where}: %${o.name} is read outside the group by ${outside.op} ${outside.loc}`);
      }
    });
    if (k.nodes.filter(isAnchor).length > 1) problems.push(`${where} has more than one anchor`);
  });
  return problems;
}

/** Kernels in execution order: each group once (at its first member) and every other node alone. */
export function kernelUnits(g: Graph): Node[][] {
  const groupOf = new Map<Node, KernelGroup>();
  for (const k of g.kernels ?? []) for (const n of k.nodes) groupOf.set(n, k);
  const units: Node[][] = [];
  const seen = new Set<KernelGroup>();
  for (const n of g.nodes) {
    const k = groupOf.get(n);
    if (!k) units.push([n]);
    else if (!seen.has(k)) {
      seen.add(k);
      units.push(k.nodes);
    }
  }
  return units;
}
