// Library anchors (MatMul, Gemm, Conv) on the emulator: the harness computes the cuBLASLt/cuDNN
// part with plain reference loops (and the LibraryEpilogue cuBLASLt takes), the generated `after`
// launch adds the rest (Gemm's beta * C, Conv's bias, the remaining steps) in place; compared with
// the reference interpreter.

import { afterAll, describe, expect, it } from 'vitest';
import type { ModelSpec } from '../helpers/onnx-builder.js';
import { buildModel } from '../helpers/onnx-builder.js';
import { compileCuda } from './harness.js';
import { checkModel, init, kernelSummary, ONNX, printMeasured } from './helpers.js';

afterAll(() => printMeasured('library'));

describe('cuda library anchors and their epilogues', () => {
  it('Conv + bias + residual Add + Relu: cudnn, then one in-place launch', () => {
    const model: ModelSpec = {
      inputs: [{ name: 'x', dims: [2, 8, 12, 12] }],
      outputs: [{ name: 'y', dims: [2, 8, 12, 12] }],
      initializers: [init('w', [8, 8, 3, 3], 5, 0.3), init('cb', [8], 6)],
      nodes: [
        { op: 'Conv', inputs: ['x', 'w', 'cb'], outputs: ['c'], name: '/block/Conv', attrs: { pads: [1, 1, 1, 1], kernel_shape: [3, 3] } },
        { op: 'Add', inputs: ['c', 'x'], outputs: ['a'], name: '/block/Add' },
        { op: 'Relu', inputs: ['a'], outputs: ['y'], name: '/block/Relu' },
      ],
    };
    const { compiled } = checkModel('library conv residual', model);
    const k = compiled.plan.kernels[0]!;
    expect(kernelSummary(compiled.plan)).toEqual([['Conv', [], ['Add', 'Relu']]]);
    expect(k.cuda!.library).toBe('cudnn');
    expect(k.cuda!.after).toHaveLength(1);
    // In place: the output slot is the first argument and also read.
    expect(k.cuda!.after[0]!.args[0]).toBe(k.outputs[0]);
  });

  it('grouped, depthwise and strided convolutions with and without bias', () => {
    const model: ModelSpec = {
      inputs: [{ name: 'x', dims: [1, 6, 13, 11] }],
      outputs: [{ name: 'g' }, { name: 'd' }, { name: 's' }],
      initializers: [init('wg', [4, 3, 3, 3], 1, 0.3), init('bg', [4], 2), init('wd', [6, 1, 3, 3], 3, 0.3), init('ws', [5, 6, 2, 3], 4, 0.3)],
      nodes: [
        { op: 'Conv', inputs: ['x', 'wg', 'bg'], outputs: ['g'], name: '/conv/group', attrs: { group: 2, pads: [1, 0, 1, 2] } },
        { op: 'Conv', inputs: ['x', 'wd'], outputs: ['dc'], name: '/conv/depthwise', attrs: { group: 6, pads: [1, 1, 1, 1], strides: [2, 2] } },
        { op: 'Clip', inputs: ['dc', 'lo', 'hi'], outputs: ['d'], name: '/conv/Clip' },
        { op: 'Conv', inputs: ['x', 'ws'], outputs: ['s'], name: '/conv/strided', attrs: { strides: [2, 1], dilations: [2, 2], auto_pad: 'SAME_UPPER' } },
      ],
      opset: 17,
    };
    model.initializers!.push({ name: 'lo', dims: [], floats: [0] }, { name: 'hi', dims: [], floats: [0.6] });
    const { compiled } = checkModel('library conv variants', model);
    const strided = compiled.plan.kernels.find((k) => k.sources.includes('/conv/strided'))!;
    expect(strided.cuda).toEqual({ library: 'cudnn', before: [], after: [] });
  });

  it('Gemm with beta * C (broadcast), transA and transB; MatMul with broadcast batch and an epilogue', () => {
    const model: ModelSpec = {
      inputs: [{ name: 'a', dims: [7, 12] }, { name: 'p', dims: [2, 3, 5, 12] }, { name: 'at', dims: [12, 7] }],
      outputs: [{ name: 'g' }, { name: 'g2' }, { name: 'm' }, { name: 'gt' }],
      initializers: [init('b', [9, 12], 1), init('c', [9], 2), init('c2', [7, 1], 3), init('w', [3, 12, 4], 4), init('bias', [4], 5)],
      nodes: [
        { op: 'Gemm', inputs: ['a', 'b', 'c'], outputs: ['g'], name: '/fc/Gemm', attrs: { transB: 1, alpha: { float: 0.5 }, beta: { float: 2 } } },
        { op: 'Gemm', inputs: ['a', 'b', 'c2'], outputs: ['gg'], name: '/fc2/Gemm', attrs: { transB: 1 } },
        { op: 'Tanh', inputs: ['gg'], outputs: ['g2'], name: '/fc2/Tanh' },
        { op: 'Gemm', inputs: ['at', 'b', 'c'], outputs: ['gt'], name: '/fc3/Gemm', attrs: { transA: 1, transB: 1, beta: { float: -1 } } },
        { op: 'MatMul', inputs: ['p', 'w'], outputs: ['mm'], name: '/mm/MatMul' },
        { op: 'Add', inputs: ['mm', 'bias'], outputs: ['ma'], name: '/mm/Add' },
        { op: 'Gelu', inputs: ['ma'], outputs: ['m'], name: '/mm/Gelu' },
      ],
      opset: 20,
    };
    const { compiled } = checkModel('library gemm matmul', model, { tol: 2e-6 });
    const summary = kernelSummary(compiled.plan);
    expect(summary).toContainEqual(['Gemm', [], []]);
    expect(summary).toContainEqual(['Gemm', [], ['Tanh']]);
    expect(summary).toContainEqual(['MatMul', [], ['Add', 'Gelu']]);
    for (const k of compiled.plan.kernels) expect(k.cuda!.library).toBe('cublaslt');
  });

  it('cuBLASLt takes a scalar factor, a bias row, a residual and Relu; Gemm C of the output shape; tanh Gelu', () => {
    const model: ModelSpec = {
      inputs: [{ name: 'p', dims: [2, 3, 5, 12] }, { name: 'r', dims: [2, 3, 5, 4] }, { name: 'a', dims: [7, 12] }],
      outputs: [{ name: 'm' }, { name: 'g' }, { name: 't' }, { name: 'q' }, { name: 'h' }],
      initializers: [
        init('w', [12, 4], 1), init('bias', [4], 2), init('b', [9, 12], 3), init('c', [7, 9], 4), init('w2', [12, 6], 5), init('w3', [12, 4], 6),
        { name: 'scale', dims: [], floats: [0.25] }, init('wh', [3, 12, 4], 7), init('hb', [3, 1, 4], 8),
      ],
      nodes: [
        { op: 'MatMul', inputs: ['p', 'w'], outputs: ['mm'], name: '/mm/MatMul' },
        { op: 'Add', inputs: ['bias', 'mm'], outputs: ['mb'], name: '/mm/AddBias' },
        { op: 'Add', inputs: ['mb', 'r'], outputs: ['mr'], name: '/mm/AddResidual' },
        { op: 'Relu', inputs: ['mr'], outputs: ['m'], name: '/mm/Relu' },
        { op: 'Gemm', inputs: ['a', 'b', 'c'], outputs: ['g'], name: '/fc/Gemm', attrs: { transB: 1, beta: { float: 0.5 } } },
        { op: 'MatMul', inputs: ['a', 'w2'], outputs: ['tm'], name: '/ff/MatMul' },
        { op: 'Gelu', inputs: ['tm'], outputs: ['t'], name: '/ff/Gelu', attrs: { approximate: 'tanh' } },
        { op: 'MatMul', inputs: ['p', 'w3'], outputs: ['qm'], name: '/q/MatMul' },
        { op: 'Mul', inputs: ['qm', 'scale'], outputs: ['qs'], name: '/q/Mul' },
        { op: 'Add', inputs: ['qs', 'r'], outputs: ['q'], name: '/q/Add' },
        // Per-head projection with a per-head bias: cuBLASLt's bias batch stride.
        { op: 'MatMul', inputs: ['a', 'wh'], outputs: ['hm'], name: '/h/MatMul' },
        { op: 'Add', inputs: ['hm', 'hb'], outputs: ['h'], name: '/h/Add' },
      ],
      opset: 20,
    };
    const { compiled } = checkModel('library cublaslt epilogues', model, { tol: 2e-6 });
    const bySource = (s: string) => compiled.plan.kernels.find((k) => k.sources.includes(s))!;
    const mm = bySource('/mm/MatMul');
    expect(mm.epilogue?.map((s) => s.op)).toEqual(['Add', 'Add', 'Relu']);
    expect(mm.cuda!.after).toEqual([]);
    const input = (k: typeof mm, name: string) => k.inputs.findIndex((id) => compiled.plan.slots[id]!.name === name);
    expect(mm.cuda!.libraryEpilogue).toEqual({ bias: input(mm, 'bias'), c: input(mm, 'r'), activation: 'relu' });
    const gemm = bySource('/fc/Gemm');
    expect(gemm.cuda).toEqual({ library: 'cublaslt', libraryEpilogue: { c: 2, beta: 0.5 }, before: [], after: [] });
    const ff = bySource('/ff/MatMul');
    expect(ff.cuda).toEqual({ library: 'cublaslt', libraryEpilogue: { activation: 'gelu-tanh' }, before: [], after: [] });
    const q = bySource('/q/MatMul');
    expect(q.cuda!.libraryEpilogue).toEqual({ alpha: 0.25, c: input(q, 'r') });
    expect(q.cuda!.after).toEqual([]);
    const h = bySource('/h/MatMul');
    expect(h.cuda).toEqual({ library: 'cublaslt', libraryEpilogue: { bias: input(h, 'hb') }, before: [], after: [] });
  });

  it('steps cuBLASLt cannot take stay in the launch after it, and the chain stops where a later step reads inside it', () => {
    const model: ModelSpec = {
      inputs: [{ name: 'p', dims: [6, 12] }],
      outputs: [{ name: 'y' }, { name: 'z' }],
      initializers: [init('w', [12, 8], 1), init('bias', [8], 2), init('w2', [12, 8], 3), init('bias2', [8], 4)],
      nodes: [
        // Relu could be cuBLASLt's, but the last Add reads the value before it again.
        { op: 'MatMul', inputs: ['p', 'w'], outputs: ['mm'], name: '/a/MatMul' },
        { op: 'Add', inputs: ['mm', 'bias'], outputs: ['mb'], name: '/a/Add' },
        { op: 'Relu', inputs: ['mb'], outputs: ['mr'], name: '/a/Relu' },
        { op: 'Add', inputs: ['mr', 'mb'], outputs: ['y'], name: '/a/Add2' },
        // The bias goes to cuBLASLt, erf Gelu (not its tanh form) stays in the launch.
        { op: 'MatMul', inputs: ['p', 'w2'], outputs: ['m2'], name: '/b/MatMul' },
        { op: 'Add', inputs: ['m2', 'bias2'], outputs: ['b2'], name: '/b/Add' },
        { op: 'Gelu', inputs: ['b2'], outputs: ['z'], name: '/b/Gelu' },
      ],
      opset: 20,
    };
    const { compiled } = checkModel('library cublaslt partial epilogues', model, { tol: 2e-6 });
    // 2-D MatMul + bias is a Gemm whose C is the bias row: cuBLASLt's bias epilogue.
    const a = compiled.plan.kernels.find((k) => k.sources.includes('/a/MatMul'))!;
    expect([a.op, a.epilogue?.map((s) => s.op)]).toEqual(['Gemm', ['Relu', 'Add']]);
    expect(a.cuda!.libraryEpilogue).toEqual({ bias: 2 });
    expect(a.cuda!.after).toHaveLength(1);
    const b = compiled.plan.kernels.find((k) => k.sources.includes('/b/MatMul'))!;
    expect([b.op, b.epilogue?.map((s) => s.op)]).toEqual(['Gemm', ['Gelu']]);
    expect(b.cuda!.libraryEpilogue).toEqual({ bias: 2 });
    expect(b.cuda!.after).toHaveLength(1);
  });

  it('a plain MatMul needs no generated launch', () => {
    const { compiled } = checkModel('library plain matmul', {
      inputs: [{ name: 'a', dims: [4, 6] }, { name: 'b', dims: [6] }],
      outputs: [{ name: 'y' }],
      nodes: [{ op: 'MatMul', inputs: ['a', 'b'], outputs: ['y'], name: '/mv/MatMul' }],
    });
    expect(compiled.plan.kernels[0]!.cuda).toEqual({ library: 'cublaslt', before: [], after: [] });
  });

  it('Conv + bias + Relu on f16 slots, and Gemm on bf16 slots', () => {
    const model = (elemType: number): ModelSpec => ({
      inputs: [{ name: 'x', elemType, dims: [1, 4, 8, 8] }, { name: 'a', elemType, dims: [5, 16] }],
      outputs: [{ name: 'y', elemType }, { name: 'g', elemType }],
      initializers: [init('w', [4, 4, 3, 3], 5, 0.3), init('cb', [4], 6), init('gb', [16, 16], 7, 0.3), init('gc', [16], 8)],
      nodes: [
        { op: 'Cast', inputs: ['w'], outputs: ['wh'], attrs: { to: elemType } },
        { op: 'Cast', inputs: ['cb'], outputs: ['cbh'], attrs: { to: elemType } },
        { op: 'Cast', inputs: ['gb'], outputs: ['gbh'], attrs: { to: elemType } },
        { op: 'Cast', inputs: ['gc'], outputs: ['gch'], attrs: { to: elemType } },
        { op: 'Conv', inputs: ['x', 'wh', 'cbh'], outputs: ['c'], name: '/h/Conv', attrs: { pads: [1, 1, 1, 1] } },
        { op: 'Relu', inputs: ['c'], outputs: ['y'], name: '/h/Relu' },
        { op: 'Gemm', inputs: ['a', 'gbh', 'gch'], outputs: ['g'], name: '/h/Gemm' },
      ],
    });
    checkModel('library f16', model(ONNX.f16), { tol: 1e-2 });
    checkModel('library bf16', model(ONNX.bf16), { tol: 2e-2 });
  });

  it('a library call\'s scratch is the largest run of arena bytes no value uses at its step', () => {
    // h1 and h2 die early; m3 and m4 run while only their operands are live, so the arena has room.
    const model: ModelSpec = {
      inputs: [{ name: 'x', dims: [16, 32] }],
      outputs: [{ name: 'y' }],
      initializers: [init('w1', [32, 64], 1, 0.3), init('w2', [64, 32], 2, 0.3), init('w3', [32, 8], 3, 0.3), init('w4', [8, 8], 4, 0.3)],
      nodes: [
        { op: 'MatMul', inputs: ['x', 'w1'], outputs: ['h1'], name: '/m1' },
        { op: 'Relu', inputs: ['h1'], outputs: ['r1'], name: '/r1' },
        { op: 'Sigmoid', inputs: ['r1'], outputs: ['s1'], name: '/s1' },
        { op: 'MatMul', inputs: ['s1', 'w2'], outputs: ['h2'], name: '/m2' },
        { op: 'MatMul', inputs: ['h2', 'w3'], outputs: ['h3'], name: '/m3' },
        { op: 'MatMul', inputs: ['h3', 'w4'], outputs: ['y'], name: '/m4' },
      ],
    };
    const { compiled } = checkModel('library scratch', model, { compiled: compileCuda(buildModel(model), { skip: ['fuse'] }) });
    const { kernels, slots } = compiled.plan;
    // Lifetimes from the plan itself: a slot is live from its first to its last kernel.
    const live = new Map<number, [number, number]>();
    kernels.forEach((k, i) => {
      for (const s of [...k.inputs, ...k.outputs]) {
        if (s < 0 || slots[s]!.kind !== 'arena') continue;
        const span = live.get(s) ?? [i, i];
        live.set(s, [Math.min(span[0], i), Math.max(span[1], i)]);
      }
    });
    const arenaEnd = Math.max(...[...live.keys()].map((s) => slots[s]!.index + slots[s]!.byteLength));
    const library = kernels.filter((k) => k.cuda!.library);
    expect(library.length).toBe(4);
    let withScratch = 0;
    for (const k of library) {
      const busy = [...live].filter(([, [a, b]]) => a <= k.id && k.id <= b).map(([s]) => [slots[s]!.index, slots[s]!.index + slots[s]!.byteLength] as const);
      // The largest 256-aligned gap between the live slots (and up to the last slot's end).
      let largest = 0;
      let cursor = 0;
      for (const [start, end] of [...busy].sort((p, q) => p[0] - q[0]).concat([[arenaEnd, arenaEnd]])) {
        largest = Math.max(largest, start - Math.ceil(cursor / 256) * 256);
        cursor = Math.max(cursor, end);
      }
      const region = k.cuda!.scratch;
      if (largest <= 0) continue;
      withScratch++;
      expect(region, `kernel ${k.id} has free arena bytes but no scratch`).toBeDefined();
      expect(region!.offset % 256).toBe(0);
      for (const [start, end] of busy) expect(region!.offset >= end || region!.offset + region!.bytes <= start, `kernel ${k.id}: scratch overlaps a live slot`).toBe(true);
      // At least the largest gap; more only by the arena's alignment past the last slot.
      expect(region!.bytes).toBeGreaterThanOrEqual(largest);
      expect(region!.bytes).toBeLessThan(largest + 64);
    }
    expect(withScratch).toBeGreaterThan(0);
  });
});
