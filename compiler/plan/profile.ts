// Resource profile of a set of nodes: FLOPs (multiply-adds count two), bytes moved (every input and
// output of every node once), weight bytes, and the activation arena's peak.

import type { ResourceProfile } from '../artifact/format.js';
import { dtypeByteLength } from '../ir/dtype.js';
import type { Node, Value } from '../ir/graph.js';
import { staticSize } from '../ir/types.js';

function bytesOf(v: Value): number {
  return dtypeByteLength(v.type.dtype, staticSize(v.type.shape) ?? 0);
}

export function nodeFlops(n: Node): number {
  const out = staticSize(n.outputs[0]?.type.shape ?? []) ?? 0;
  const a = n.inputs[0]?.type.shape ?? [];
  const b = n.inputs[1]?.type.shape ?? [];
  const num = (d: unknown) => (typeof d === 'number' ? d : 0);
  switch (n.op) {
    case 'MatMul': return 2 * out * num(a[a.length - 1]);
    case 'Gemm': return 2 * out * num(n.attrs.has('transA') && n.attrs.int('transA') ? a[0] : a[1]);
    case 'Conv': case 'NhwcConv': return 2 * out * (staticSize(b.slice(1)) ?? 0);
    case 'ConvTranspose': return 2 * (staticSize(a) ?? 0) * (staticSize(b.slice(1)) ?? 0);
    default: return out;
  }
}

export function profileNodes(nodes: readonly Node[], peakActivationBytes: number): ResourceProfile {
  let flops = 0;
  let bytesMoved = 0;
  const weights = new Set<Value>();
  for (const n of nodes) {
    flops += nodeFlops(n);
    for (const v of n.inputs) {
      if (!v) continue;
      bytesMoved += bytesOf(v);
      if (v.constant) weights.add(v);
    }
    for (const o of n.outputs) bytesMoved += bytesOf(o);
  }
  const weightBytes = [...weights].reduce((acc, v) => acc + bytesOf(v), 0);
  return { flops, bytesMoved, weightBytes, peakActivationBytes };
}
