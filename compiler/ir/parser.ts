// Parses the textual IR form (.mcir) written by printer.ts back into a Graph. Syntax errors are
// diagnostics with line and column; the result is checked by the verifier, not here.

import { diagnostic } from '../diagnostics.js';
import { isDType, type DType } from './dtype.js';
import { Attrs, attr, type AttrValue, Graph, type Value } from './graph.js';
import { KERNEL_FAMILIES, type KernelFamily } from './kernels.js';
import { TensorData } from './tensor.js';
import type { Dim, TensorType } from './types.js';

type TokKind = 'ident' | 'value' | 'string' | 'number' | 'hex' | 'punct' | 'eof';
interface Token { kind: TokKind; text: string; line: number; col: number }

function tokenize(src: string, path: string): Token[] {
  const toks: Token[] = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const err = (reason: string) => diagnostic('mcirSyntax', { path, line, col: i - lineStart + 1, reason });
  const readString = (): string => {
    const start = i;
    i++;
    while (i < src.length && src[i] !== '"') i += src[i] === '\\' ? 2 : 1;
    if (i >= src.length) throw err('unterminated string');
    i++;
    return JSON.parse(src.slice(start, i)) as string;
  };
  while (i < src.length) {
    const c = src[i]!;
    const col = i - lineStart + 1;
    if (c === '\n') { line++; i++; lineStart = i; continue; }
    if (c === ' ' || c === '\t' || c === '\r') { i++; continue; }
    // `#3` numbers a kernel block; a '#' followed by anything else starts a comment.
    if (c === '#' && /[0-9]/.test(src[i + 1] ?? '')) { toks.push({ kind: 'punct', text: '#', line, col }); i++; continue; }
    if (c === '#') { while (i < src.length && src[i] !== '\n') i++; continue; }
    if (c === '%' || c === '@') {
      i++;
      let name: string;
      if (src[i] === '"') name = readString();
      else {
        const m = /^[A-Za-z0-9_.]+/.exec(src.slice(i, i + 256));
        if (!m) throw err(`expected a name after '${c}'`);
        name = m[0];
        i += name.length;
      }
      toks.push({ kind: c === '%' ? 'value' : 'ident', text: name, line, col });
      continue;
    }
    if (c === '"') { toks.push({ kind: 'string', text: readString(), line, col }); continue; }
    if (src.startsWith('0x', i)) {
      let j = i + 2;
      while (j < src.length && /[0-9a-fA-F]/.test(src[j]!)) j++;
      toks.push({ kind: 'hex', text: src.slice(i + 2, j), line, col });
      i = j;
      continue;
    }
    const num = /^-?(?:inf|nan|\d+(?:\.\d*)?(?:e[+-]?\d+)?)/.exec(src.slice(i, i + 64));
    if (num && !/[A-Za-z0-9_]/.test(src[i + num[0].length] ?? '')) {
      toks.push({ kind: 'number', text: num[0], line, col });
      i += num[0].length;
      continue;
    }
    const id = /^[A-Za-z_][A-Za-z0-9_.]*/.exec(src.slice(i, i + 256));
    if (id) { toks.push({ kind: 'ident', text: id[0], line, col }); i += id[0].length; continue; }
    if ('(){}[]<>,=:'.includes(c)) { toks.push({ kind: 'punct', text: c, line, col }); i++; continue; }
    throw err(`unexpected character '${c}'`);
  }
  toks.push({ kind: 'eof', text: '', line, col: i - lineStart + 1 });
  return toks;
}

class Parser {
  private pos = 0;
  private readonly values = new Map<string, Value>();
  readonly graph: Graph;

  constructor(private readonly toks: Token[], private readonly path: string) {
    this.graph = new Graph();
  }

  private peek(): Token { return this.toks[this.pos]!; }
  private next(): Token { return this.toks[this.pos++]!; }
  private err(reason: string, t = this.peek()): Error {
    return diagnostic('mcirSyntax', { path: this.path, line: t.line, col: t.col, reason });
  }
  private isPunct(p: string): boolean { const t = this.peek(); return t.kind === 'punct' && t.text === p; }
  private expect(p: string): void {
    const t = this.next();
    if (t.kind !== 'punct' || t.text !== p) throw this.err(`expected '${p}', found '${t.text || t.kind}'`, t);
  }
  private expectIdent(word?: string): string {
    const t = this.next();
    if (t.kind !== 'ident' || (word !== undefined && t.text !== word)) throw this.err(`expected ${word ? `'${word}'` : 'a name'}, found '${t.text || t.kind}'`, t);
    return t.text;
  }
  private expectNumber(): number {
    const t = this.next();
    if (t.kind !== 'number') throw this.err(`expected a number, found '${t.text || t.kind}'`, t);
    return parseNumber(t.text);
  }

  parse(): Graph {
    this.expectIdent('graph');
    const name = this.next();
    if (name.kind !== 'ident') throw this.err('expected @name after graph', name);
    this.graph.name = name.text;
    this.expect('(');
    while (!this.isPunct(')')) {
      const v = this.defineName();
      this.expect(':');
      const value = this.graph.addInput(v.text, this.parseType());
      this.bind(v, value);
      if (!this.isPunct(')')) this.expect(',');
    }
    this.expect(')');
    if (this.peek().kind === 'ident' && this.peek().text === 'opsets') {
      this.next();
      this.expect('(');
      while (!this.isPunct(')')) {
        const d = this.next();
        if (d.kind !== 'string') throw this.err('expected a domain string', d);
        this.expect('=');
        this.graph.opsets[d.text] = this.expectNumber();
        if (!this.isPunct(')')) this.expect(',');
      }
      this.expect(')');
    }
    this.expect('{');
    for (;;) {
      const t = this.peek();
      if (t.kind === 'ident' && t.text === 'return') break;
      if (t.kind === 'ident' && t.text === 'kernel') this.parseKernel();
      else this.parseStatement();
    }
    this.next();
    if (!this.isPunct('}')) {
      for (;;) {
        this.graph.outputs.push(this.useValue());
        if (!this.isPunct(',')) break;
        this.next();
      }
    }
    this.expect('}');
    if (this.peek().kind !== 'eof') throw this.err('unexpected text after the graph');
    return this.graph;
  }

  private defineName(): Token {
    const t = this.next();
    if (t.kind !== 'value') throw this.err(`expected a %value, found '${t.text || t.kind}'`, t);
    if (this.values.has(t.text)) throw this.err(`%${t.text} is defined twice`, t);
    return t;
  }

  private bind(t: Token, v: Value): void {
    if (v.name !== t.text) throw this.err(`%${t.text} clashes with another name`, t);
    this.values.set(t.text, v);
  }

  private useValue(): Value {
    const t = this.next();
    if (t.kind !== 'value') throw this.err(`expected a %value, found '${t.text || t.kind}'`, t);
    const v = this.values.get(t.text);
    if (!v) throw this.err(`%${t.text} is not defined before its use`, t);
    return v;
  }

  /** `kernel #N family { statements }`: the statements' nodes form one fused kernel. */
  private parseKernel(): void {
    const start = this.next();
    this.expect('#');
    this.expectNumber();
    const family = this.expectIdent();
    if (!KERNEL_FAMILIES.includes(family as KernelFamily)) throw this.err(`unknown kernel family '${family}' (${KERNEL_FAMILIES.join(', ')})`);
    this.expect('{');
    const first = this.graph.nodes.length;
    const constants = this.graph.constants.length;
    while (!this.isPunct('}')) {
      const t = this.peek();
      if (t.kind === 'eof' || (t.kind === 'ident' && (t.text === 'return' || t.text === 'kernel'))) throw this.err(`expected '}' closing the kernel block`);
      this.parseStatement();
    }
    this.next();
    const nodes = this.graph.nodes.slice(first);
    if (nodes.length < 2) throw this.err('a kernel block holds at least two nodes', start);
    if (this.graph.constants.length !== constants) throw this.err('a kernel block holds nodes, not constants', start);
    (this.graph.kernels ??= []).push({ nodes });
  }

  private parseStatement(): void {
    const names: Token[] = [this.defineName()];
    while (this.isPunct(',')) { this.next(); names.push(this.defineName()); }
    this.expect('=');
    const opTok = this.next();
    if (opTok.kind !== 'ident') throw this.err('expected an op name or const', opTok);
    if (opTok.text === 'const') {
      if (names.length !== 1) throw this.err('a const defines one value', opTok);
      const type = this.parseType();
      const data = this.parseData(type);
      this.bind(names[0]!, this.graph.addConstant(names[0]!.text, data));
      return;
    }
    this.expect('(');
    const inputs: (Value | null)[] = [];
    while (!this.isPunct(')')) {
      const t = this.peek();
      if (t.kind === 'ident' && t.text === '_') { this.next(); inputs.push(null); }
      else inputs.push(this.useValue());
      if (!this.isPunct(')')) this.expect(',');
    }
    this.expect(')');
    const entries: [string, AttrValue][] = [];
    if (this.isPunct('{')) {
      this.next();
      while (!this.isPunct('}')) {
        const k = this.next();
        if (k.kind !== 'ident' && k.kind !== 'string') throw this.err('expected an attribute name', k);
        this.expect('=');
        entries.push([k.text, this.parseAttr()]);
        if (!this.isPunct('}')) this.expect(',');
      }
      this.next();
    }
    this.expect(':');
    const types: TensorType[] = [this.parseType()];
    while (this.isPunct(',')) { this.next(); types.push(this.parseType()); }
    if (types.length !== names.length) throw this.err(`${names.length} results but ${types.length} types`);
    this.expectIdent('loc');
    this.expect('(');
    const loc = this.next();
    if (loc.kind !== 'string') throw this.err('expected a location string', loc);
    this.expect(')');
    for (const n of names) this.graph.reserveName(n.text);
    const node = this.graph.addNode({ op: opTok.text, inputs, attrs: new Attrs(entries), outputTypes: types, loc: loc.text });
    node.outputs.forEach((o, i) => {
      o.name = names[i]!.text;
      this.values.set(o.name, o);
    });
  }

  private parseType(): TensorType {
    const t = this.next();
    if (t.kind !== 'ident' || !isDType(t.text)) throw this.err(`expected a dtype, found '${t.text || t.kind}'`, t);
    this.expect('[');
    const shape: Dim[] = [];
    while (!this.isPunct(']')) {
      const d = this.next();
      if (d.kind === 'number') shape.push(parseNumber(d.text));
      else if (d.kind === 'ident') shape.push(d.text);
      else throw this.err('expected a dim', d);
      if (!this.isPunct(']')) this.expect(',');
    }
    this.expect(']');
    return { dtype: t.text as DType, shape };
  }

  private parseData(type: TensorType): TensorData {
    this.expectIdent('dense');
    this.expect('<');
    const dims = type.shape.map((d) => {
      if (typeof d !== 'number') throw this.err('a constant must have a static shape');
      return d;
    });
    let data: TensorData;
    const t = this.next();
    if (t.kind === 'hex') {
      data = TensorData.fromBytes(type.dtype, dims, new Uint8Array(Buffer.from(t.text, 'hex')));
    } else if (t.kind === 'punct' && t.text === '[') {
      const vals: number[] = [];
      while (!this.isPunct(']')) {
        vals.push(this.expectNumber());
        if (!this.isPunct(']')) this.expect(',');
      }
      this.next();
      try {
        data = TensorData.fromValues(type.dtype, dims, vals);
      } catch (e) {
        throw this.err((e as Error).message, t);
      }
    } else if (t.kind === 'ident' && t.text === 'elided') {
      throw this.err('this constant was printed elided; print the graph with full constants to parse it', t);
    } else throw this.err('expected constant data', t);
    this.expect('>');
    return data;
  }

  private parseAttr(): AttrValue {
    const t = this.peek();
    if (t.kind === 'number') {
      this.next();
      return /[.en]/.test(t.text) ? attr.float(parseNumber(t.text)) : attr.int(parseNumber(t.text));
    }
    if (t.kind === 'string') { this.next(); return attr.string(t.text); }
    if (t.kind === 'ident' && (t.text === 'ints' || t.text === 'floats' || t.text === 'strings')) {
      this.next();
      this.expect('[');
      this.expect(']');
      return t.text === 'ints' ? attr.ints([]) : t.text === 'floats' ? attr.floats([]) : attr.strings([]);
    }
    if (t.kind === 'ident' && t.text === 'tensor') {
      this.next();
      this.expect('<');
      const type = this.parseType();
      const data = this.parseData(type);
      this.expect('>');
      return attr.tensor(data);
    }
    if (this.isPunct('[')) {
      this.next();
      const first = this.peek();
      if (first.kind === 'string') {
        const items: string[] = [];
        while (!this.isPunct(']')) {
          const s = this.next();
          if (s.kind !== 'string') throw this.err('expected a string', s);
          items.push(s.text);
          if (!this.isPunct(']')) this.expect(',');
        }
        this.next();
        return attr.strings(items);
      }
      const texts: string[] = [];
      while (!this.isPunct(']')) {
        const n = this.next();
        if (n.kind !== 'number') throw this.err('expected a number', n);
        texts.push(n.text);
        if (!this.isPunct(']')) this.expect(',');
      }
      this.next();
      const isFloat = texts.some((s) => /[.en]/.test(s));
      return isFloat ? attr.floats(texts.map(parseNumber)) : attr.ints(texts.map(parseNumber));
    }
    throw this.err(`expected an attribute value, found '${t.text || t.kind}'`);
  }
}

function parseNumber(s: string): number {
  if (s === 'inf') return Infinity;
  if (s === '-inf') return -Infinity;
  if (s === 'nan' || s === '-nan') return NaN;
  return Number(s);
}

/** Parses .mcir text. `path` is used in diagnostics. */
export function parseGraph(src: string, path = '<mcir>'): Graph {
  return new Parser(tokenize(src, path), path).parse();
}
