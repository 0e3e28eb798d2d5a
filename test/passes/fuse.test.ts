// Tests of the fuse pass (test/passes/golden/fuse/): golden IR before/after with the kernel blocks,
// the reasons for rejected candidates, a print/parse round trip, and a numeric check of the plan
// semantics: a small evaluator runs the emitted kernels (anchor by its reference implementation,
// then the prologue/epilogue steps by theirs) and must match the reference interpreter on the graph
// before fusion, on fresh random inputs.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fromJsonFloat, type FusedOperand, type FusedStep, type Kernel, type PlanAttr } from '../../compiler/artifact/format.js';
import { interpret } from '../../compiler/interpreter/interpret.js';
import { attr, Attrs, type AttrValue, type Graph } from '../../compiler/ir/graph.js';
import { checkKernels } from '../../compiler/ir/kernels.js';
import { getOp } from '../../compiler/ir/ops.js';
import { parseGraph } from '../../compiler/ir/parser.js';
import { printGraph } from '../../compiler/ir/printer.js';
import { TensorData } from '../../compiler/ir/tensor.js';
import { decideFusion, fusePass } from '../../compiler/passes/fuse.js';
import { newPassContext } from '../../compiler/passes/pass.js';
import { emitPlan, type EmittedPlan } from '../../compiler/plan/emit-plan.js';
import { GOLDEN_DIR, goldenCases, randomFeeds, runGolden } from '../helpers/golden.js';

const source = (name: string) => readFileSync(join(GOLDEN_DIR, 'fuse', `${name}.mcir`), 'utf8');

function toAttr(a: PlanAttr): AttrValue {
  if ('i' in a) return attr.int(a.i);
  if ('f' in a) return attr.float(fromJsonFloat(a.f));
  if ('s' in a) return attr.string(a.s);
  if ('ints' in a) return attr.ints(a.ints);
  if ('floats' in a) return attr.floats(a.floats.map(fromJsonFloat));
  if ('strings' in a) return attr.strings(a.strings);
  return attr.tensor(TensorData.fromValues(a.tensor.dtype as never, a.tensor.shape, a.tensor.values.map(fromJsonFloat)));
}

const toAttrs = (r: Record<string, PlanAttr>) => new Attrs(Object.entries(r).map(([k, a]) => [k, toAttr(a)]));

/** Executes a kernel plan the way the native executor must: kernels in order, steps in order. */
function runPlan(e: EmittedPlan, feeds: Map<string, TensorData>, inputNames: string[]): Map<string, TensorData> {
  const { plan } = e;
  const env = new Map<number, TensorData>();
  plan.inputSlots.forEach((id, i) => env.set(id, feeds.get(inputNames[i]!)!));
  for (const sl of plan.slots) if (sl.kind === 'weight') env.set(sl.id, e.weights[sl.index]!.constant!);
  const read = (id: number) => {
    if (id < 0) return undefined;
    // A view slot holds the bytes of the slot it views, in its own shape.
    const view = plan.slots[id]!.view;
    const t = env.get(view ? view.of : id);
    if (!t) throw new Error(`slot ${id} read before it is written`);
    return view ? TensorData.fromBytes(t.dtype, plan.slots[id]!.shape, t.bytes) : t;
  };
  const runSteps = (k: Kernel, steps: readonly FusedStep[], acc: TensorData | undefined, dims: number[] | undefined): TensorData => {
    const results: TensorData[] = [];
    for (const st of steps) {
      const arg = (a: FusedOperand) => ('acc' in a ? acc! : 'input' in a ? read(k.inputs[a.input]!)! : results[a.step]!);
      const [r] = getOp(st.op)!.evaluate(st.args.map(arg), toAttrs(st.attrs), 1);
      expect(r!.dtype).toBe(st.dtype);
      if (dims) expect(r!.dims, `step ${st.op} of kernel ${k.id} has the kernel's shape`).toEqual(dims);
      results.push(r!);
    }
    return results[results.length - 1]!;
  };
  for (const k of plan.kernels) {
    const outSlot = plan.slots[k.outputs[0]!]!;
    if (!k.prologue && !k.epilogue) {
      const outs = getOp(k.op)!.evaluate(k.inputs.map(read), toAttrs(k.attrs), k.outputs.length);
      k.outputs.forEach((id, i) => env.set(id, outs[i]!));
      continue;
    }
    let result: TensorData;
    if (k.op === 'Elementwise') {
      result = runSteps(k, k.epilogue!, undefined, outSlot.shape);
    } else {
      const def = getOp(k.op)!;
      const args = k.inputs.slice(0, Math.max(def.inputs[1], 0)).map(read);
      if (k.prologue) {
        expect(k.inputs[0]).toBe(-1);
        args[0] = runSteps(k, k.prologue, undefined, undefined);
      }
      const [acc] = def.evaluate(args, toAttrs(k.attrs), 1);
      result = k.epilogue ? runSteps(k, k.epilogue, acc, acc!.dims as number[]) : acc!;
    }
    expect(result.dims).toEqual(outSlot.shape);
    env.set(k.outputs[0]!, result);
  }
  return new Map(plan.outputSlots.map((id, i) => [plan.slots[id]!.name + `#${i}`, env.get(id)!]));
}

/** Reference interpreter before fusion vs the fused plan, on fresh random inputs. */
function checkPlanNumerics(name: string, seed: number): EmittedPlan {
  const before = parseGraph(source(name));
  const after = parseGraph(source(name));
  fusePass.run(after, newPassContext());
  const e = emitPlan(after, 'cpu');
  const feeds = randomFeeds(before, seed);
  const want = [...interpret(before, feeds).values()];
  const got = [...runPlan(e, feeds, after.inputs.map((v) => v.name)).values()];
  expect(got.length).toBe(want.length);
  want.forEach((w, i) => {
    const g = got[i]!;
    expect(g.dims).toEqual(w.dims);
    g.values.forEach((x, j) => expect(Math.abs(x - w.values[j]!), `output ${i}[${j}]`).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(w.values[j]!))));
  });
  return e;
}

const kernelsOf = (g: Graph) => (g.kernels ?? []).map((k) => k.nodes.map((n) => n.op).join('+'));

describe('fuse', () => {
  it('puts a residual Add and Relu after a Conv, a Gelu DAG after a MatMul and a Clip after a Gemm', () => {
    const { changed, after } = runGolden(fusePass, 'contraction');
    expect(changed).toBe(true);
    expect(kernelsOf(after)).toEqual(['Conv+Add+Relu', 'MatMul+Add+Div+Erf+Add+Mul+Mul', 'Gemm+Clip']);
    expect(checkKernels(after)).toEqual([]);
  });

  it('gives reductions a prologue computing input 0 and an epilogue', () => {
    const { after } = runGolden(fusePass, 'reduction');
    expect(kernelsOf(after)).toEqual(['Add+Add+LayerNormalization+Mul', 'Mul+Add+Softmax+IsNaN+Where', 'ReduceMean+Cast']);
  });

  it('fuses connected elementwise ops into one Elementwise kernel and leaves the Reshape alone', () => {
    const { after } = runGolden(fusePass, 'elementwise');
    expect(kernelsOf(after)).toEqual(['Mul+Add+Tanh+Sub+Cast', 'Sigmoid+Neg']);
    expect(decideFusion(parseGraph(source('elementwise'))).rejected.map((r) => r.reason)).toEqual([
      'Reshape /ew/Reshape only changes metadata: kept as its own node, a view slot of its input in the plan',
      'Reshape /ew/Reshape only changes metadata: kept as its own node, a view slot of its input in the plan',
    ]);
  });

  it('keeps values with outside readers, shape-changing broadcasts, graph outputs and second anchors out', () => {
    const { changed, after } = runGolden(fusePass, 'negative');
    expect(changed).toBe(false);
    expect(after.kernels).toEqual([]);
    const d = decideFusion(parseGraph(source('negative')));
    expect(d.rejected.map((r) => `${r.value}: ${r.reason}`)).toEqual([
      'h: value %h has 1 reader outside the group of Relu /shared/Relu',
      'a: shape [1,6] of %a differs from the output [1,4,6]',
      'g: %g is a graph output',
      'kr: MatMul /pro/MatMul takes no prologue (%kr would be computed inside it)',
      'km: two anchors: MatMul /pro/MatMul and Softmax /pro/Softmax',
      'mean: shape [2,5] of %cen differs from the output [2,1] of ReduceMean',
    ]);
  });

  it('prints kernel blocks that parse back to the same graph', () => {
    for (const name of goldenCases('fuse')) {
      const g = parseGraph(source(name));
      fusePass.run(g, newPassContext());
      const text = printGraph(g);
      const again = parseGraph(text);
      expect(checkKernels(again)).toEqual([]);
      expect(printGraph(again)).toBe(text);
    }
  });

  it('emits plans whose kernels compute what the graph computed (fresh inputs, 1e-5 relative)', () => {
    for (const name of goldenCases('fuse')) for (const seed of [11, 12]) checkPlanNumerics(name, seed);
  });

  it('emits one kernel per group with anchor inputs first, steps, every source and no slot for register values', () => {
    const e = checkPlanNumerics('contraction', 3);
    const [conv, mm, gemm] = e.plan.kernels;
    expect(e.plan.kernels.length).toBe(3);
    expect(conv!.op).toBe('Conv');
    expect(conv!.family).toBe('contraction');
    expect(conv!.inputs.length).toBe(4); // x, w, b, then the residual
    expect(conv!.epilogue!.map((s) => `${s.op}(${s.args.map((a) => JSON.stringify(a)).join(',')})`)).toEqual(['Add({"acc":true},{"input":3})', 'Relu({"step":0})']);
    expect(conv!.sources).toEqual(['/layer1/conv/Conv', '/layer1/Add', '/layer1/Relu']);
    expect(mm!.inputs.length).toBe(2 + 4); // t, mw, then mb, sqrt2, one, half
    expect(mm!.epilogue!.length).toBe(6);
    expect(gemm!.inputs[2]).toBe(-1); // Gemm's omitted C keeps its position
    expect(e.plan.slots.map((s) => s.name)).not.toContain('c');
    expect(e.registers.map((v) => v.name)).toEqual(['c', 'r', 'm', 'h', 'd', 'e', 'e1', 'p', 'gm']);
    const red = checkPlanNumerics('reduction', 4);
    expect(red.plan.kernels[0]!.prologue!.map((s) => s.op)).toEqual(['Add', 'Add']);
    expect(red.plan.kernels[0]!.inputs[0]).toBe(-1);
  });

  it('has a test for every golden case', () => {
    expect(goldenCases('fuse')).toEqual(['contraction', 'elementwise', 'negative', 'reduction']);
  });
});
