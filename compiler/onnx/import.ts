// ONNX ModelProto -> IR Graph. Sorts nodes topologically (reporting cycles and undefined values),
// turns initializers and Constant nodes into constants, inlines model-local functions, maps each
// ONNX op through its opset-aware lowering, and infers every value's type as nodes are added. Each
// IR node keeps the ONNX node name as its location.

import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { diagnostic, DiagnosticError, q } from '../diagnostics.js';
import { dtypeFromOnnx, onnxDtypeName } from '../ir/dtype.js';
import { AttrError, Attrs, attr, type AttrValue, Graph, type Value } from '../ir/graph.js';
import { inferAndSet, InferError, type ShapeValues } from '../ir/infer.js';
import { getOp, OpError, UnsupportedError, type LowerContext } from '../ir/ops.js';
import { TensorData } from '../ir/tensor.js';
import type { Dim, TensorType } from '../ir/types.js';
import '../ops/index.js';
import { decodeModel, readOpsets } from './decode.js';
import { int64, type OnnxAttribute, type OnnxFunction, type OnnxModel, type OnnxNode, type OnnxValueInfo } from './schema.js';
import { tensorFromProto, type TensorSource } from './tensor-proto.js';

export interface ImportOptions {
  /** Path shown in diagnostics. */
  path?: string;
  /** Folder for external data files (defaults to the model file's folder). */
  baseDir?: string;
}

export interface ImportedModel {
  graph: Graph;
  irVersion: number;
  producer: string;
}

/** Reads and imports an ONNX file. */
export function importOnnxFile(path: string): ImportedModel {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw diagnostic('fileUnreadable', { path, reason: err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'it is a directory' : err.message });
  }
  return importOnnx(bytes, { path, baseDir: dirname(path) });
}

export function importOnnx(bytes: Uint8Array, options: ImportOptions = {}): ImportedModel {
  const path = options.path ?? '<bytes>';
  const model = decodeModel(bytes, path);
  const opsets = readOpsets(model);
  const importer = new Importer(model, opsets, { baseDir: options.baseDir });
  const graph = importer.run();
  return { graph, irVersion: int64(model.irVersion), producer: `${model.producerName ?? ''} ${model.producerVersion ?? ''}`.trim() };
}

type Scope = Map<string, Value>;

interface FunctionCall {
  attrs: Map<string, OnnxAttribute>;
}

class Importer {
  private readonly graph: Graph;
  private readonly known: ShapeValues = new Map();
  private readonly functions = new Map<string, OnnxFunction>();
  private unnamed = 0;

  constructor(
    private readonly model: OnnxModel,
    private readonly opsets: Record<string, number>,
    private readonly source: TensorSource,
  ) {
    this.graph = new Graph(model.graph!.name || 'main');
    this.graph.opsets = { ...opsets };
    for (const f of model.functions ?? []) this.functions.set(`${f.domain}::${f.name}`, f);
  }

  run(): Graph {
    const g = this.model.graph!;
    const scope: Scope = new Map();
    const initializerNames = new Set<string>();
    for (const t of g.initializer ?? []) {
      if (!t.name) throw diagnostic('malformedTensor', { tensor: '(unnamed initializer)', reason: 'initializers must have a name' });
      const data = tensorFromProto(t, t.name, this.source);
      scope.set(t.name, this.graph.addConstant(t.name, data));
      initializerNames.add(t.name);
    }
    if ((g.sparseInitializer ?? []).length > 0) {
      throw diagnostic('unsupportedDtype', { what: 'a sparse initializer', dtype: 'SparseTensorProto' });
    }
    for (const vi of g.input ?? []) {
      if (initializerNames.has(vi.name)) continue; // IR < 4 lists initializers as inputs too
      const v = this.graph.addInput(vi.name, this.valueInfoType(vi, 'input'));
      scope.set(vi.name, v);
    }
    this.importNodes(g.node ?? [], scope, this.opsets, '', undefined);
    for (const vi of g.output ?? []) {
      const v = scope.get(vi.name);
      if (!v) throw diagnostic('undefinedOutput', { value: q(vi.name) });
      this.graph.outputs.push(v);
    }
    this.graph.pruneConstants();
    return this.graph;
  }

  private valueInfoType(vi: OnnxValueInfo, kind: string): TensorType {
    const tt = vi.type?.tensorType;
    if (!tt) throw diagnostic('unsupportedInputType', { kind, name: q(vi.name), type: vi.type?.value ?? 'no type' });
    const dtype = dtypeFromOnnx(tt.elemType);
    if (!dtype) throw diagnostic('unsupportedDtype', { what: `graph ${kind} ${q(vi.name)}`, dtype: onnxDtypeName(tt.elemType) });
    if (!tt.shape) throw diagnostic('unsupportedInputType', { kind, name: q(vi.name), type: 'a tensor of unknown rank' });
    const shape: Dim[] = (tt.shape.dim ?? []).map((d) => {
      if (d.dimParam) return sanitizeSymbol(d.dimParam);
      if (d.dimValue !== undefined && d.dimValue !== null && (d.value === 'dimValue' || int64(d.dimValue) > 0)) return int64(d.dimValue);
      return this.graph.freshDim('in');
    });
    return { dtype, shape };
  }

  /** Imports nodes in dependency order into the graph; `scope` maps ONNX names to values. */
  private importNodes(nodes: OnnxNode[], scope: Scope, opsets: Record<string, number>, locPrefix: string, call: FunctionCall | undefined): void {
    for (const node of topologicalOrder(nodes, scope)) this.importNode(node, scope, opsets, locPrefix, call);
  }

  private nodeName(node: OnnxNode, prefix: string): string {
    const base = node.name || `${node.opType}_${this.unnamed++}`;
    return prefix ? `${prefix}/${base}` : base;
  }

  private importNode(node: OnnxNode, scope: Scope, opsets: Record<string, number>, locPrefix: string, call: FunctionCall | undefined): void {
    const name = this.nodeName(node, locPrefix);
    const domain = node.domain === 'ai.onnx' ? '' : node.domain ?? '';
    const inputs = (node.input ?? []).map((n) => {
      if (n === '') return null;
      const v = scope.get(n);
      if (!v) throw diagnostic('undefinedValue', { node: q(name), value: q(n) });
      return v;
    });
    const fn = this.functions.get(`${node.domain ?? ''}::${node.opType}`);
    if (fn) {
      this.inlineFunction(fn, node, inputs, scope, name, call);
      return;
    }
    const opset = opsets[domain];
    if (domain === '' && opset === undefined) throw diagnostic('missingOpsetImport', { node: q(name) });
    const found = domain === '' ? getOp(node.opType) : undefined;
    const def = found?.internal ? undefined : found;
    const attrs = this.convertAttributes(node, name, call);
    if (domain === '' && node.opType === 'Constant') {
      const data = constantNodeValue(attrs, name);
      const v = this.graph.addConstant(node.output[0] || name, data);
      if (node.output[0]) scope.set(node.output[0], v);
      return;
    }
    if (!def) {
      const domainLabel = domain === '' ? '' : `${domain}.`;
      throw diagnostic('unsupportedOp', { op: `${domainLabel}${node.opType}`, opset: opset ?? 'unknown', node: q(name) });
    }
    if (opset !== undefined && opset < (def.onnxSince ?? 1)) {
      throw diagnostic('unsupportedOpVersion', { op: node.opType, since: def.onnxSince ?? 1, opset, node: q(name) });
    }
    const outputNames = node.output ?? [];
    const emitted: Value[] = [];
    let results: (Value | null)[] | undefined;
    const ctx: LowerContext = {
      opset: opset ?? 1,
      opType: node.opType,
      name,
      inputs,
      attrs,
      outputCount: outputNames.length,
      emit: (op, ins, a, outputCount) => {
        const outs = this.emit(op, ins, a ?? new Attrs(), outputCount ?? 1, name);
        emitted.push(...outs);
        return outs;
      },
      constant: (data, cname) => this.graph.addConstant(cname ?? `${name}/const`, data),
      setOutputs: (values) => {
        results = values;
      },
    };
    try {
      if (def.onnxLower) def.onnxLower(ctx);
      else ctx.setOutputs(ctx.emit(node.opType, [...inputs], attrs, outputNames.length));
    } catch (e) {
      throw this.asDiagnostic(e, name, node.opType);
    }
    if (!results) throw new Error(`lowering of ${node.opType} set no outputs at node ${name}`);
    outputNames.forEach((outName, i) => {
      if (!outName) return;
      const v = results![i];
      if (!v) throw diagnostic('invalidNode', { node: q(name), op: node.opType, reason: `output ${i} (${outName}) is not produced` });
      if (scope.has(outName) && scope.get(outName) !== v && !locPrefix) {
        throw diagnostic('duplicateValue', { value: q(outName), node: q(name) });
      }
      if (emitted.includes(v) && !locPrefix) v.name = this.graph.uniqueName(outName);
      scope.set(outName, v);
    });
  }

  private emit(op: string, inputs: (Value | null)[], attrs: Attrs, outputCount: number, loc: string): Value[] {
    const placeholder: TensorType = { dtype: 'f32', shape: [] };
    const n = this.graph.addNode({
      op, inputs, attrs, loc,
      outputTypes: new Array<TensorType>(outputCount).fill(placeholder),
      outputNames: new Array(outputCount).fill(0).map((_, i) => `${loc}_${op}_${i}`),
    });
    inferAndSet(this.graph, n, this.known);
    return n.outputs;
  }

  private asDiagnostic(e: unknown, name: string, op: string): Error {
    if (e instanceof DiagnosticError) return e;
    if (e instanceof InferError && e.cause instanceof UnsupportedError) {
      return diagnostic('unsupportedFeature', { node: q(name), op, reason: e.message });
    }
    if (e instanceof UnsupportedError) return diagnostic('unsupportedFeature', { node: q(name), op, reason: e.message });
    if (e instanceof InferError) return diagnostic('invalidNode', { node: q(name), op: e.node.op === op ? op : `${op} -> ${e.node.op}`, reason: e.message });
    if (e instanceof OpError || e instanceof AttrError) {
      return diagnostic('invalidNode', { node: q(name), op, reason: e.message });
    }
    return e as Error;
  }

  private convertAttributes(node: OnnxNode, name: string, call: FunctionCall | undefined): Attrs {
    const entries: [string, AttrValue][] = [];
    for (const a of node.attribute ?? []) {
      let source = a;
      if (a.refAttrName) {
        const actual = call?.attrs.get(a.refAttrName);
        if (!actual) continue; // not given by the caller and no default: the attribute is absent
        source = actual;
      }
      const v = this.convertAttribute(source, node, name);
      if (v) entries.push([a.name, v]);
    }
    return new Attrs(entries);
  }

  private convertAttribute(a: OnnxAttribute, node: OnnxNode, name: string): AttrValue | undefined {
    const bad = (reason: string) => diagnostic('invalidNode', { node: q(name), op: node.opType, reason: `attribute ${q(a.name)}: ${reason}` });
    const type = a.type || guessAttributeType(a);
    switch (type) {
      case 1: return attr.float(a.f ?? 0);
      case 2: return attr.int(int64(a.i));
      case 3: return attr.string(utf8(a.s));
      case 4: return attr.tensor(this.attributeTensor(a, name));
      case 5: case 10: throw diagnostic('unsupportedSubgraph', { op: node.opType, node: q(name) });
      case 6: return attr.floats(a.floats ?? []);
      case 7: return attr.ints((a.ints ?? []).map((x) => int64(x)));
      case 8: return attr.strings((a.strings ?? []).map(utf8));
      default: throw bad(`attribute type ${type} (tensors, sparse tensors, type protos) is not supported`);
    }
  }

  private attributeTensor(a: OnnxAttribute, name: string): TensorData {
    return tensorFromProto(a.t!, `${name}.${a.name}`, this.source);
  }

  private inlineFunction(fn: OnnxFunction, node: OnnxNode, inputs: (Value | null)[], outer: Scope, name: string, call: FunctionCall | undefined): void {
    const inner: Scope = new Map();
    fn.input.forEach((formal, i) => {
      const v = inputs[i];
      if (v) inner.set(formal, v);
    });
    const attrs = new Map<string, OnnxAttribute>();
    for (const d of fn.attributeProto ?? []) attrs.set(d.name, d);
    for (const a of node.attribute ?? []) {
      if (a.refAttrName) {
        const outerAttr = call?.attrs.get(a.refAttrName);
        if (outerAttr) attrs.set(a.name, { ...outerAttr, name: a.name });
      } else attrs.set(a.name, a);
    }
    const opsets = { ...this.opsets };
    for (const o of fn.opsetImport ?? []) opsets[o.domain === 'ai.onnx' ? '' : o.domain] = int64(o.version);
    this.importNodes(fn.node ?? [], inner, opsets, name, { attrs });
    (node.output ?? []).forEach((actual, i) => {
      if (!actual) return;
      const v = inner.get(fn.output[i]!);
      if (!v) throw diagnostic('invalidNode', { node: q(name), op: node.opType, reason: `function output ${q(fn.output[i] ?? '?')} is not computed` });
      outer.set(actual, v);
    });
  }
}

function guessAttributeType(a: OnnxAttribute): number {
  if (a.floats?.length) return 6;
  if (a.ints?.length) return 7;
  if (a.strings?.length) return 8;
  if (a.t) return 4;
  if (a.g) return 5;
  if (a.s?.length) return 3;
  if (a.f) return 1;
  return 2;
}

function utf8(b: Uint8Array | undefined): string {
  return b ? Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8') : '';
}

/** Symbol names become identifiers in the text form: keep letters, digits and '_'. */
function sanitizeSymbol(s: string): string {
  const t = s.replace(/[^A-Za-z0-9_]/g, '_');
  return /^[A-Za-z_]/.test(t) ? t : `s_${t}`;
}

function constantNodeValue(attrs: Attrs, name: string): TensorData {
  const [[key, a] = ['', undefined]] = attrs.entries();
  if (attrs.size !== 1 || !a) {
    throw diagnostic('invalidNode', { node: q(name), op: 'Constant', reason: 'exactly one value attribute is required' });
  }
  switch (key) {
    case 'value': if (a.kind === 'tensor') return a.value; break;
    case 'value_float': if (a.kind === 'float' || a.kind === 'int') return TensorData.scalar('f32', a.value); break;
    case 'value_int': if (a.kind === 'int') return TensorData.scalar('i64', a.value); break;
    case 'value_floats': if (a.kind === 'floats' || a.kind === 'ints') return TensorData.fromValues('f32', [a.value.length], a.value); break;
    case 'value_ints': if (a.kind === 'ints') return TensorData.fromValues('i64', [a.value.length], a.value); break;
    default:
      throw diagnostic('unsupportedDtype', { what: `Constant node ${q(name)}`, dtype: key.replace('value_', '') });
  }
  throw diagnostic('invalidNode', { node: q(name), op: 'Constant', reason: `attribute ${key} has the wrong type` });
}

/**
 * Orders nodes so that every node comes after the producers of its inputs. Exporters write nodes
 * in order, but the format does not promise it for every producer; a cycle or a value nothing
 * defines is a diagnostic.
 */
function topologicalOrder(nodes: OnnxNode[], scope: Scope): OnnxNode[] {
  const producer = new Map<string, number>();
  nodes.forEach((n, i) => {
    for (const o of n.output ?? []) {
      if (!o) continue;
      if (producer.has(o) || scope.has(o)) throw diagnostic('duplicateValue', { value: q(o), node: q(n.name || n.opType) });
      producer.set(o, i);
    }
  });
  const state = new Uint8Array(nodes.length); // 0 new, 1 on stack, 2 done
  const order: OnnxNode[] = [];
  const visit = (start: number) => {
    const stack: [number, number][] = [[start, 0]];
    state[start] = 1;
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      const [i, k] = top;
      const ins = nodes[i]!.input ?? [];
      if (k < ins.length) {
        top[1] += 1;
        const name = ins[k]!;
        if (!name) continue;
        const p = producer.get(name);
        if (p === undefined) {
          if (!scope.has(name)) throw diagnostic('undefinedValue', { node: q(nodes[i]!.name || nodes[i]!.opType), value: q(name) });
          continue;
        }
        if (state[p] === 1) throw diagnostic('graphCycle', { node: q(nodes[p]!.name || nodes[p]!.opType) });
        if (state[p] === 0) {
          state[p] = 1;
          stack.push([p, 0]);
        }
      } else {
        state[i] = 2;
        order.push(nodes[i]!);
        stack.pop();
      }
    }
  };
  for (let i = 0; i < nodes.length; i++) if (state[i] === 0) visit(i);
  return order;
}
