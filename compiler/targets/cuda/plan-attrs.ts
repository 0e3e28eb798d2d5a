// Reading a kernel's attributes (PlanAttr tagged values) with ONNX defaults, and turning them back
// into IR Attrs where the generator reuses an op's own geometry code (pool and conv windows).

import { fromJsonFloat, type PlanAttr } from '../../artifact/format.js';
import { Attrs, type AttrValue } from '../../ir/graph.js';
import { TensorData } from '../../ir/tensor.js';
import type { DType } from '../../ir/dtype.js';

export type PlanAttrs = Record<string, PlanAttr>;

export function attrInt(a: PlanAttrs, name: string, fallback: number): number {
  const v = a[name];
  if (!v) return fallback;
  if ('i' in v) return v.i;
  if ('f' in v) return Math.trunc(fromJsonFloat(v.f));
  throw new Error(`cuda: attribute '${name}' is not an int`);
}

export function attrFloat(a: PlanAttrs, name: string, fallback: number): number {
  const v = a[name];
  if (!v) return fallback;
  if ('f' in v) return fromJsonFloat(v.f);
  if ('i' in v) return v.i;
  throw new Error(`cuda: attribute '${name}' is not a float`);
}

export function attrString(a: PlanAttrs, name: string, fallback: string): string {
  const v = a[name];
  if (!v) return fallback;
  if ('s' in v) return v.s;
  throw new Error(`cuda: attribute '${name}' is not a string`);
}

export function attrInts(a: PlanAttrs, name: string): number[] | undefined {
  const v = a[name];
  if (!v) return undefined;
  if ('ints' in v) return v.ints;
  if ('i' in v) return [v.i];
  throw new Error(`cuda: attribute '${name}' is not a list of ints`);
}

export function hasAttr(a: PlanAttrs, name: string): boolean {
  return a[name] !== undefined;
}

function irAttr(v: PlanAttr): AttrValue {
  if ('i' in v) return { kind: 'int', value: v.i };
  if ('f' in v) return { kind: 'float', value: fromJsonFloat(v.f) };
  if ('s' in v) return { kind: 'string', value: v.s };
  if ('ints' in v) return { kind: 'ints', value: v.ints };
  if ('floats' in v) return { kind: 'floats', value: v.floats.map(fromJsonFloat) };
  if ('strings' in v) return { kind: 'strings', value: v.strings };
  const t = v.tensor;
  return { kind: 'tensor', value: TensorData.fromValues(t.dtype as DType, t.shape, t.values.map(fromJsonFloat)) };
}

/** The IR form of plan attributes. */
export function irAttrs(a: PlanAttrs): Attrs {
  return new Attrs(Object.entries(a).map(([k, v]) => [k, irAttr(v)]));
}
