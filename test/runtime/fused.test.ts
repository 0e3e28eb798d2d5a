// Fused kernels on the native executor: small models whose nodes the
// fuse pass groups into one kernel (contraction + epilogue, reduction + prologue/epilogue,
// elementwise DAGs with broadcasting and dtype changes) run through Session and match the
// reference interpreter; the plan is checked to really hold the fused kernel.

import { describe, expect, it } from 'vitest';
import type { Kernel } from '../../compiler/artifact/format.js';
import { TARGET_RUNS_FUSED_KERNELS } from '../../compiler/compile.js';
import { interpret } from '../../compiler/interpreter/interpret.js';
import { TensorData } from '../../compiler/ir/tensor.js';
import { checkCpuSupport } from '../../compiler/targets/cpu.js';
import { readArtifact, Session, Tensor } from '../../runtime/index.js';
import { loadNativeAddon, type NativeLoadArgs } from '../../runtime/native-addon.js';
import { buildModel, type ModelSpec } from '../helpers/onnx-builder.js';
import { compileBytes, randomFloats, relativeError } from './helpers.js';

const F32 = 1;
const BOOL = 9;
const F64 = 11;

interface Case {
  name: string;
  model: ModelSpec;
  /** The fused kernel the plan must contain. */
  expect: (k: Kernel) => boolean;
}

const numel = (dims: number[]) => dims.reduce((a, b) => a * b, 1);
const init = (name: string, dims: number[], seed: number, scale = 1) => ({ name, dims, floats: Array.from(randomFloats(numel(dims), seed, scale)) });

const CASES: Case[] = [
  {
    name: 'MatMul + Add(bias) + Relu (gemm tile epilogue)',
    model: {
      inputs: [{ name: 'x', dims: [2, 70, 48] }],
      outputs: [{ name: 'y', dims: [2, 70, 40] }],
      initializers: [init('w', [48, 40], 1, 0.3), init('b', [40], 2)],
      nodes: [
        { op: 'MatMul', inputs: ['x', 'w'], outputs: ['m'], name: '/fc/MatMul' },
        { op: 'Add', inputs: ['b', 'm'], outputs: ['a'], name: '/fc/Add' },
        { op: 'Relu', inputs: ['a'], outputs: ['y'], name: '/fc/Relu' },
      ],
    },
    expect: (k) => k.op === 'MatMul' && k.epilogue?.length === 2,
  },
  {
    name: 'MatMul + Add(bias) + Tanh + Mul (Gemm with a bias after the pattern passes, then steps)',
    model: {
      inputs: [{ name: 'x', dims: [33, 20] }],
      outputs: [{ name: 'y', dims: [33, 50] }],
      initializers: [init('w', [20, 50], 3, 0.4), init('b', [50], 4)],
      nodes: [
        { op: 'MatMul', inputs: ['x', 'w'], outputs: ['m'], name: '/fc/MatMul' },
        { op: 'Add', inputs: ['m', 'b'], outputs: ['a'], name: '/fc/Add' },
        { op: 'Tanh', inputs: ['a'], outputs: ['t'], name: '/fc/Tanh' },
        { op: 'Mul', inputs: ['t', 'a'], outputs: ['y'], name: '/fc/Mul' },
      ],
    },
    expect: (k) => (k.op === 'MatMul' && k.epilogue?.length === 3) || (k.op === 'Gemm' && k.epilogue?.length === 2),
  },
  {
    name: 'Conv + Add(residual) + Relu',
    model: {
      inputs: [{ name: 'x', dims: [1, 8, 12, 12] }],
      outputs: [{ name: 'y', dims: [1, 8, 12, 12] }],
      initializers: [init('w', [8, 8, 3, 3], 5, 0.3), init('cb', [8], 6)],
      nodes: [
        { op: 'Conv', inputs: ['x', 'w', 'cb'], outputs: ['c'], name: '/block/Conv', attrs: { pads: [1, 1, 1, 1], kernel_shape: [3, 3] } },
        { op: 'Add', inputs: ['c', 'x'], outputs: ['a'], name: '/block/Add' },
        { op: 'Relu', inputs: ['a'], outputs: ['y'], name: '/block/Relu' },
      ],
    },
    expect: (k) => k.op === 'Conv' && k.epilogue?.length === 2,
  },
  {
    name: 'Add + LayerNormalization (prologue)',
    model: {
      inputs: [{ name: 'x', dims: [2, 16, 64] }, { name: 'r', dims: [2, 16, 64] }],
      outputs: [{ name: 'y', dims: [2, 16, 64] }],
      initializers: [init('g', [64], 7), init('be', [64], 8)],
      nodes: [
        { op: 'Add', inputs: ['x', 'r'], outputs: ['s'], name: '/ln/Add' },
        { op: 'LayerNormalization', inputs: ['s', 'g', 'be'], outputs: ['y'], name: '/ln/LayerNorm', attrs: { axis: -1, epsilon: { float: 1e-5 } } },
      ],
    },
    expect: (k) => k.op === 'LayerNormalization' && k.prologue?.length === 1,
  },
  {
    name: 'Add + Erf-GELU chain + Mul (elementwise, several chunks and a tail)',
    model: {
      inputs: [{ name: 'x0', dims: [3, 1111] }],
      outputs: [{ name: 'y', dims: [3, 1111] }],
      initializers: [
        init('bias', [1111], 10),
        { name: 'sqrt2', dims: [], floats: [Math.SQRT2] },
        { name: 'one', dims: [], floats: [1] },
        { name: 'half', dims: [], floats: [0.5] },
      ],
      nodes: [
        { op: 'Add', inputs: ['x0', 'bias'], outputs: ['x'], name: '/gelu/AddBias' },
        { op: 'Div', inputs: ['x', 'sqrt2'], outputs: ['d'], name: '/gelu/Div' },
        { op: 'Erf', inputs: ['d'], outputs: ['e'], name: '/gelu/Erf' },
        { op: 'Add', inputs: ['e', 'one'], outputs: ['p'], name: '/gelu/Add' },
        { op: 'Mul', inputs: ['x', 'p'], outputs: ['m'], name: '/gelu/Mul' },
        { op: 'Mul', inputs: ['m', 'half'], outputs: ['h'], name: '/gelu/Mul_1' },
        { op: 'Mul', inputs: ['h', 'x0'], outputs: ['y'], name: '/gelu/Scale' },
      ],
    },
    expect: (k) => k.op === 'Elementwise' && (k.epilogue?.length ?? 0) >= 3,
  },
  {
    name: 'Softmax + Cast to f64 (epilogue with a dtype change)',
    model: {
      inputs: [{ name: 'x', dims: [4, 300] }],
      outputs: [{ name: 'y', elemType: F64, dims: [4, 300] }],
      nodes: [
        { op: 'Softmax', inputs: ['x'], outputs: ['s'], name: '/sm/Softmax', attrs: { axis: -1 } },
        { op: 'Cast', inputs: ['s'], outputs: ['y'], name: '/sm/Cast', attrs: { to: F64 } },
      ],
    },
    expect: (k) => k.op === 'Softmax' && k.epilogue?.length === 1,
  },
  {
    name: 'elementwise DAG: [C,1,1] constant, scalar, bool condition, Where',
    model: {
      inputs: [{ name: 'x', dims: [2, 4, 30, 30] }],
      outputs: [{ name: 'y', dims: [2, 4, 30, 30] }],
      initializers: [init('c', [4, 1, 1], 9), { name: 's', dims: [], floats: [0.25] }, { name: 'zero', dims: [], floats: [0] }],
      nodes: [
        { op: 'Mul', inputs: ['x', 'c'], outputs: ['a'], name: '/dag/Mul' },
        { op: 'Add', inputs: ['a', 's'], outputs: ['b'], name: '/dag/Add' },
        { op: 'Greater', inputs: ['x', 'zero'], outputs: ['g'], name: '/dag/Greater' },
        { op: 'Sigmoid', inputs: ['b'], outputs: ['sg'], name: '/dag/Sigmoid' },
        { op: 'Neg', inputs: ['a'], outputs: ['n'], name: '/dag/Neg' },
        { op: 'Where', inputs: ['g', 'sg', 'n'], outputs: ['w'], name: '/dag/Where' },
        { op: 'Sub', inputs: ['w', 'c'], outputs: ['y'], name: '/dag/Sub' },
      ],
    },
    expect: (k) => k.op === 'Elementwise' && (k.epilogue?.length ?? 0) >= 5,
  },
  {
    name: 'elementwise: Cast to bool and back, Not, Equal, Pow',
    model: {
      inputs: [{ name: 'x', dims: [5, 500] }, { name: 'm', elemType: BOOL, dims: [1, 500] }],
      outputs: [{ name: 'y', dims: [5, 500] }],
      initializers: [{ name: 'two', dims: [], floats: [2] }],
      nodes: [
        { op: 'Not', inputs: ['m'], outputs: ['nm'], name: '/mask/Not' },
        { op: 'Cast', inputs: ['nm'], outputs: ['f'], name: '/mask/Cast', attrs: { to: F32 } },
        { op: 'Pow', inputs: ['x', 'two'], outputs: ['p'], name: '/mask/Pow' },
        { op: 'Equal', inputs: ['f', 'p'], outputs: ['eq'], name: '/mask/Equal' },
        { op: 'Where', inputs: ['eq', 'x', 'p'], outputs: ['w'], name: '/mask/Where' },
        { op: 'Mul', inputs: ['w', 'f'], outputs: ['y'], name: '/mask/Mul' },
      ],
    },
    expect: (k) => k.op === 'Elementwise' && (k.epilogue?.length ?? 0) >= 4,
  },
];

function feedsFor(spec: ModelSpec): Record<string, { dtype: 'f32' | 'bool'; dims: number[]; values: number[] }> {
  const feeds: Record<string, { dtype: 'f32' | 'bool'; dims: number[]; values: number[] }> = {};
  spec.inputs.forEach((inp, i) => {
    const dims = inp.dims as number[];
    const values = Array.from(randomFloats(numel(dims), 100 + i, 2));
    feeds[inp.name] = inp.elemType === BOOL ? { dtype: 'bool', dims, values: values.map((v) => (v > 0 ? 1 : 0)) } : { dtype: 'f32', dims, values };
  });
  return feeds;
}

describe('fused kernels on the native executor', () => {
  it('is the cpu target default', () => {
    expect(TARGET_RUNS_FUSED_KERNELS.cpu).toBe(true);
  });

  for (const c of CASES) {
    it(`${c.name} matches the reference interpreter`, async () => {
      const { artifact, result } = compileBytes(buildModel(c.model));
      const plan = result.emitted!.plan;
      const fused = plan.kernels.filter((k) => k.epilogue || k.prologue);
      expect(fused.some(c.expect), JSON.stringify(plan.kernels.map((k) => [k.op, k.epilogue?.map((s) => s.op), k.prologue?.map((s) => s.op)]))).toBe(true);
      expect(() => checkCpuSupport(plan)).not.toThrow();
      const feeds = feedsFor(c.model);
      const want = interpret(result.graph, Object.fromEntries(Object.entries(feeds).map(([n, f]) => [n, TensorData.fromValues(f.dtype, f.dims, f.values)])));
      for (const threads of [1, 3]) {
        const session = await Session.load(artifact, { threads });
        const out = await session.run(
          Object.fromEntries(Object.entries(feeds).map(([n, f]) => [n, f.dtype === 'bool' ? new Tensor('bool', Uint8Array.from(f.values), f.dims) : new Tensor('f32', Float32Array.from(f.values), f.dims)])),
        );
        for (const o of c.model.outputs) {
          const got = Array.from(out[o.name]!.data as ArrayLike<number>, Number);
          expect(relativeError(got, want.get(o.name)!.values)).toBeLessThan(1e-5);
        }
        session.dispose();
      }
    });
  }

  it('validates fused step operands natively (MCPC4010) and parses them with path-naming errors', async () => {
    const { artifact } = compileBytes(buildModel(CASES[2]!.model));
    const addon = loadNativeAddon();
    const loadArgs = (edit: (a: NativeLoadArgs) => void): NativeLoadArgs => {
      const a = readArtifact(new Uint8Array(artifact));
      const w = a.header.sections.find((s) => s.name === 'weights')!;
      const args: NativeLoadArgs = {
        plan: structuredClone(a.plan),
        arenaSize: a.header.arena.size,
        bytes: a.bytes,
        weightsOffset: w.offset,
        weightsLength: w.length,
        weights: a.header.weights.map((x) => ({ offset: x.offset, byteLength: x.byteLength })),
      };
      edit(args);
      return args;
    };
    const k = readArtifact(new Uint8Array(artifact)).plan.kernels.findIndex((x) => x.epilogue);
    const laterStep = loadArgs((a) => {
      a.plan.kernels[k]!.epilogue![0]!.args[0] = { step: 1 };
    });
    await expect(addon.loadSession(laterStep)).rejects.toMatchObject({ code: 'MCPC4010', message: expect.stringContaining(`plan.kernels[${k}] (Conv at node /block/Conv) epilogue[0].args[0] (Add) names a step that does not come before it`) });
    const noInput = loadArgs((a) => {
      a.plan.kernels[k]!.epilogue![0]!.args[1] = { input: 42 };
    });
    await expect(addon.loadSession(noInput)).rejects.toMatchObject({ code: 'MCPC4010', message: expect.stringContaining('names an input the kernel does not have') });
    const badShape = loadArgs((a) => {
      (a.plan.kernels[k]!.epilogue![1]! as unknown as { args: unknown[] }).args = [{ register: 0 }];
    });
    expect(() => addon.loadSession(badShape)).toThrow(`plan.kernels[${k}].epilogue[1].args[0] must be one of {acc: true}, {input}, {step}`);
  });

  it('rejects a fused step op the cpu target has no kernel for, naming its source node', () => {
    const { result } = compileBytes(buildModel(CASES[0]!.model));
    const plan = structuredClone(result.emitted!.plan);
    const k = plan.kernels.find((x) => x.epilogue)!;
    k.epilogue![1]!.op = 'NoSuchOp';
    expect(() => checkCpuSupport(plan)).toThrow(/NoSuchOp.*\/fc\/Relu/);
  });
});
