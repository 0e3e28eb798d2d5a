// Prints a graph in the textual IR form (.mcir). With `constants: 'full'` (the default) every
// constant's data is printed and the text parses back to an identical graph; 'elide' abbreviates
// constants larger than a few elements for reading (--print-after) and does not parse back.
//
//   graph @main(%x: f32[batch,3,32,32]) opsets("" = 17) {
//     %w = const f32[8,3,3,3] dense<0x3f800000...>
//     %y = Conv(%x, %w, _) {group = 1, pads = [1, 1, 1, 1]} : f32[batch,8,32,32] loc("/conv/Conv")
//     return %y
//   }
//
// After the fuse pass, each fused kernel is a block around its member nodes; the number is the
// kernel's index in execution order (nodes outside blocks are kernels of their own) and the family
// follows from the members (kernels.ts):
//
//     kernel #3 contraction {
//       %c = Conv(%x, %w, %b) {group = 1} : f32[1,8,32,32] loc("/conv/Conv")
//       %r = Relu(%c) : f32[1,8,32,32] loc("/relu/Relu")
//     }

import type { Attrs, AttrValue, Graph, Node, Value } from './graph.js';
import { kernelRoles, type KernelGroup } from './kernels.js';
import type { TensorData } from './tensor.js';
import { formatType } from './types.js';

export interface PrintOptions {
  constants?: 'full' | 'elide';
}

const INLINE_LIMIT = 16;

export function printGraph(g: Graph, options: PrintOptions = {}): string {
  const mode = options.constants ?? 'full';
  const lines: string[] = [];
  const params = g.inputs.map((v) => `${valueRef(v)}: ${formatType(v.type)}`).join(', ');
  const opsets = Object.entries(g.opsets).sort(([a], [b]) => (a < b ? -1 : 1)).map(([d, v]) => `${JSON.stringify(d)} = ${v}`).join(', ');
  lines.push(`graph @${ident(g.name)}(${params})${opsets ? ` opsets(${opsets})` : ''} {`);
  for (const c of g.constants) lines.push(`  ${valueRef(c)} = const ${formatType(c.type)} ${formatData(c.constant!, mode)}`);
  const groupOf = new Map<Node, KernelGroup>();
  for (const k of g.kernels ?? []) for (const n of k.nodes) groupOf.set(n, k);
  let kernel = 0;
  for (const n of g.nodes) {
    const k = groupOf.get(n);
    if (!k) {
      lines.push(`  ${printNode(n, mode)}`);
      kernel++;
      continue;
    }
    if (n === k.nodes[0]) lines.push(`  kernel #${kernel++} ${kernelRoles(k.nodes).family} {`);
    lines.push(`    ${printNode(n, mode)}`);
    if (n === k.nodes[k.nodes.length - 1]) lines.push('  }');
  }
  lines.push(`  return ${g.outputs.map(valueRef).join(', ')}`);
  lines.push('}');
  return lines.join('\n') + '\n';
}

export function printNode(n: Node, mode: 'full' | 'elide' = 'full'): string {
  const outs = n.outputs.map(valueRef).join(', ');
  const ins = n.inputs.map((v) => (v ? valueRef(v) : '_')).join(', ');
  const attrs = n.attrs.size ? ` {${printAttrs(n.attrs, mode)}}` : '';
  const types = n.outputs.map((o) => formatType(o.type)).join(', ');
  return `${outs} = ${n.op}(${ins})${attrs} : ${types} loc(${JSON.stringify(n.loc)})`;
}

/** Attributes as `name = value, ...` (also a canonical key for comparing attribute sets). */
export function printAttrs(attrs: Attrs, mode: 'full' | 'elide' = 'full'): string {
  return attrs.entries().map(([k, a]) => `${ident(k)} = ${formatAttr(a, mode)}`).join(', ');
}

const IDENT = /^[A-Za-z0-9_.]+$/;

export function valueRef(v: Value): string {
  return `%${ident(v.name)}`;
}

function ident(name: string): string {
  return IDENT.test(name) ? name : JSON.stringify(name);
}

export function formatFloat(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (Object.is(x, -0)) return '-0.0';
  const s = String(x);
  return /[.e]/.test(s) ? s : `${s}.0`;
}

function formatAttr(a: AttrValue, mode: 'full' | 'elide'): string {
  switch (a.kind) {
    case 'int': return String(a.value);
    case 'float': return formatFloat(a.value);
    case 'string': return JSON.stringify(a.value);
    case 'ints': return a.value.length ? `[${a.value.join(', ')}]` : 'ints[]';
    case 'floats': return a.value.length ? `[${a.value.map(formatFloat).join(', ')}]` : 'floats[]';
    case 'strings': return a.value.length ? `[${a.value.map((s) => JSON.stringify(s)).join(', ')}]` : 'strings[]';
    case 'tensor': return `tensor<${formatType({ dtype: a.value.dtype, shape: a.value.dims })} ${formatData(a.value, mode)}>`;
  }
}

function formatData(t: TensorData, mode: 'full' | 'elide'): string {
  if (t.size <= INLINE_LIMIT) {
    const isFloat = t.dtype === 'f32' || t.dtype === 'f64' || t.dtype === 'f16' || t.dtype === 'bf16';
    return `dense<[${Array.from(t.values, (x) => (isFloat ? formatFloat(x) : String(x))).join(', ')}]>`;
  }
  if (mode === 'elide') return `dense<elided: ${t.size} elements>`;
  return `dense<0x${Buffer.from(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength).toString('hex')}>`;
}
