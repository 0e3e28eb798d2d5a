// Generated elementwise kernels on the CPU emulator against the reference interpreter: every
// elementwise op alone (float, integer, bool, casts), numpy broadcasting, the 16-byte vector path
// and the scalar path, fused DAGs, and f16/bf16 slots.

import { afterAll, describe, expect, it } from 'vitest';
import { buildModel, type ModelSpec, type NodeSpec } from '../helpers/onnx-builder.js';
import { checkModel, init, kernelSummary, ONNX, printMeasured, tensor } from './helpers.js';
import { compileCuda } from './harness.js';

const X = [3, 4, 40];

/** One graph with every unary float op applied to x (vectorized: 480 elements) and to z (35: scalar path). */
function unaryZoo(): ModelSpec {
  const ops: [string, NodeSpec['attrs']?][] = [
    ['Abs'], ['Neg'], ['Sqrt'], ['Reciprocal'], ['Exp'], ['Log'], ['Erf'], ['Tanh'], ['Sigmoid'], ['Relu'], ['LeakyRelu', { alpha: { float: 0.1 } }],
    ['Gelu'], ['Gelu', { approximate: 'tanh' }], ['HardSigmoid', { alpha: { float: 0.3 }, beta: { float: 0.4 } }], ['HardSwish'], ['Softplus'],
    ['Floor'], ['Ceil'], ['Round'], ['Sign'], ['Sin'], ['Cos'], ['Identity'], ['Elu', { alpha: { float: 0.7 } }], ['Selu'], ['Celu', { alpha: { float: 1.5 } }],
    ['Softsign'], ['Mish'], ['ThresholdedRelu', { alpha: { float: 0.2 } }], ['Shrink', { lambd: { float: 0.3 }, bias: { float: 0.1 } }],
    ['Tan'], ['Atan'], ['Sinh'], ['Cosh'], ['Asinh'],
  ];
  const nodes: NodeSpec[] = [];
  const outputs: ModelSpec['outputs'] = [];
  ops.forEach(([op, attrs], k) => {
    for (const input of ['x', 'z']) {
      const out = `${op}_${k}_${input}`;
      nodes.push({ op, inputs: [input], outputs: [out], name: `/unary/${op}_${k}_${input}`, ...(attrs ? { attrs } : {}) });
      outputs.push({ name: out });
    }
  });
  return { inputs: [{ name: 'x', dims: X }, { name: 'z', dims: [5, 7] }], outputs, nodes, opset: 20 };
}

/** Binary and variadic ops with numpy broadcasting, comparisons, logic, Where, Clip, Mod, Pow. */
function binaryZoo(): ModelSpec {
  const nodes: NodeSpec[] = [
    { op: 'Add', inputs: ['x', 'b'], outputs: ['add'] },
    { op: 'Sub', inputs: ['col', 'x'], outputs: ['sub'] },
    { op: 'Mul', inputs: ['x', 'half'], outputs: ['mul'] },
    { op: 'Abs', inputs: ['col'], outputs: ['acol'] },
    { op: 'Add', inputs: ['acol', 'half'], outputs: ['den'] },
    { op: 'Div', inputs: ['x', 'den'], outputs: ['div'] },
    { op: 'Abs', inputs: ['x'], outputs: ['ax'] },
    { op: 'Pow', inputs: ['ax', 'b'], outputs: ['pow'] },
    { op: 'Pow', inputs: ['x', 'two'], outputs: ['pow2'] },
    { op: 'Mod', inputs: ['x', 'm'], outputs: ['fmod'], attrs: { fmod: 1 } },
    { op: 'Mod', inputs: ['x', 'm'], outputs: ['pymod'], attrs: { fmod: 0 } },
    { op: 'Max', inputs: ['x', 'b', 'col'], outputs: ['max3'] },
    { op: 'Min', inputs: ['x', 'col'], outputs: ['min2'] },
    { op: 'Sum', inputs: ['x', 'b', 'col'], outputs: ['sum3'] },
    { op: 'Mean', inputs: ['x', 'col'], outputs: ['mean2'] },
    { op: 'Greater', inputs: ['x', 'b'], outputs: ['gt'] },
    { op: 'Less', inputs: ['x', 'col'], outputs: ['lt'] },
    { op: 'LessOrEqual', inputs: ['x', 'half'], outputs: ['le'] },
    { op: 'GreaterOrEqual', inputs: ['x', 'half'], outputs: ['ge'] },
    { op: 'Floor', inputs: ['x'], outputs: ['fl'] },
    { op: 'Equal', inputs: ['fl', 'zero'], outputs: ['eq'] },
    { op: 'Where', inputs: ['gt', 'x', 'col'], outputs: ['where'] },
    { op: 'And', inputs: ['gt', 'lt'], outputs: ['and'] },
    { op: 'Or', inputs: ['gt', 'lt'], outputs: ['or'] },
    { op: 'Xor', inputs: ['gt', 'mask'], outputs: ['xor'] },
    { op: 'Not', inputs: ['mask'], outputs: ['not'] },
    { op: 'Clip', inputs: ['x', 'lo', 'hi'], outputs: ['clip'] },
    { op: 'Clip', inputs: ['x', 'lo'], outputs: ['clipmin'] },
    { op: 'Clip', inputs: ['x', '', 'hi'], outputs: ['clipmax'] },
    { op: 'Log', inputs: ['x'], outputs: ['log'] },
    { op: 'IsNaN', inputs: ['log'], outputs: ['isnan'] },
    { op: 'Div', inputs: ['x', 'zero'], outputs: ['inf'] },
    { op: 'IsInf', inputs: ['inf'], outputs: ['isinf'] },
    { op: 'IsInf', inputs: ['inf'], outputs: ['isneginf'], attrs: { detect_positive: 0 } },
    { op: 'PRelu', inputs: ['x', 'slope'], outputs: ['prelu'] },
  ];
  const outs = ['add', 'sub', 'mul', 'div', 'pow', 'pow2', 'fmod', 'pymod', 'max3', 'min2', 'sum3', 'mean2', 'gt', 'lt', 'le', 'ge', 'eq', 'where', 'and', 'or', 'xor', 'not', 'clip', 'clipmin', 'clipmax', 'isnan', 'isinf', 'isneginf', 'prelu'];
  return {
    inputs: [{ name: 'x', dims: X }, { name: 'col', dims: [4, 1] }, { name: 'mask', elemType: ONNX.bool, dims: [1, 40] }],
    outputs: outs.map((name) => ({ name })),
    initializers: [
      init('b', [40], 3), init('slope', [4, 1], 4),
      { name: 'half', dims: [], floats: [0.5] }, { name: 'two', dims: [], floats: [2] }, { name: 'zero', dims: [], floats: [0] },
      { name: 'm', dims: [40], floats: Array.from({ length: 40 }, (_, i) => (i % 2 ? 0.7 : -0.7)) },
      { name: 'lo', dims: [], floats: [-0.5] }, { name: 'hi', dims: [], floats: [0.8] },
    ],
    nodes: nodes.map((n, i) => ({ ...n, name: `/binary/${n.op}_${i}` })),
  };
}

/** Integer and bool arithmetic and the casts between float, integer and bool. */
function integerZoo(): ModelSpec {
  const nodes: NodeSpec[] = [
    { op: 'Add', inputs: ['i', 'j'], outputs: ['iadd'] },
    { op: 'Mul', inputs: ['i', 'j'], outputs: ['imul'] },
    { op: 'Div', inputs: ['i', 'j'], outputs: ['idiv'] },
    { op: 'Mod', inputs: ['i', 'j'], outputs: ['imod'] },
    { op: 'Mod', inputs: ['i', 'j'], outputs: ['ifmod'], attrs: { fmod: 1 } },
    { op: 'Neg', inputs: ['i'], outputs: ['ineg'] },
    { op: 'Abs', inputs: ['i'], outputs: ['iabs'] },
    { op: 'Max', inputs: ['i', 'j'], outputs: ['imax'] },
    { op: 'Sign', inputs: ['i'], outputs: ['isign'] },
    { op: 'Cast', inputs: ['x'], outputs: ['f2i'], attrs: { to: ONNX.i64 } },
    { op: 'Cast', inputs: ['x'], outputs: ['f2i32'], attrs: { to: ONNX.i32 } },
    { op: 'Cast', inputs: ['i'], outputs: ['i2f'], attrs: { to: ONNX.f32 } },
    { op: 'Cast', inputs: ['x'], outputs: ['f2b'], attrs: { to: ONNX.bool } },
    { op: 'Cast', inputs: ['f2b'], outputs: ['b2f'], attrs: { to: ONNX.f32 } },
    { op: 'Cast', inputs: ['x'], outputs: ['f2h'], attrs: { to: ONNX.f16 } },
    { op: 'Cast', inputs: ['x'], outputs: ['f2bf'], attrs: { to: ONNX.bf16 } },
    { op: 'Cast', inputs: ['x'], outputs: ['f2d'], attrs: { to: ONNX.f64 } },
    { op: 'Greater', inputs: ['i', 'j'], outputs: ['igt'] },
    { op: 'Where', inputs: ['igt', 'i', 'j'], outputs: ['iwhere'] },
  ];
  return {
    inputs: [{ name: 'x', dims: [6, 10] }, { name: 'i', elemType: ONNX.i64, dims: [6, 10] }, { name: 'j', elemType: ONNX.i64, dims: [10] }],
    outputs: nodes.map((n) => ({ name: n.outputs[0]! })).filter((o) => o.name !== 'f2b' && o.name !== 'igt'),
    nodes: nodes.map((n, i) => ({ ...n, name: `/int/${n.op}_${i}` })),
  };
}

afterAll(() => printMeasured('elementwise'));

describe('cuda elementwise kernels', () => {
  it('compute every unary float op (vector and scalar paths)', () => {
    const { compiled } = checkModel('elementwise unary', unaryZoo(), { tol: 2e-6 });
    expect(compiled.plan.cuda!.source).toContain('reinterpret_cast<const uint4*>');
  });

  it('compute binary, variadic, comparison and logic ops with numpy broadcasting', () => {
    checkModel('elementwise binary', binaryZoo(), { tol: 2e-6 });
  });

  it('compute integer ops and casts exactly', () => {
    const feeds = {
      j: tensor('i64', [10], [3, -3, 7, -2, 1, 5, -5, 4, 2, -7]),
      x: tensor('f32', [6, 10], Array.from({ length: 60 }, (_, k) => (k - 30) * 0.37 + (k % 3 === 0 ? 0.5 : 0))),
    };
    checkModel('elementwise integer', integerZoo(), { tol: 0, feeds });
  });

  it('fuse a DAG with a [C,1,1] constant, a scalar, a bool condition and Where into one kernel', () => {
    const model: ModelSpec = {
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
    };
    const { compiled } = checkModel('elementwise dag', model);
    expect(kernelSummary(compiled.plan)).toEqual([['Elementwise', [], ['Mul', 'Add', 'Greater', 'Sigmoid', 'Neg', 'Where', 'Sub']]]);
  });

  it('fuse a chain with a Cast to bool and back, Not, Equal and Pow (scalar path: 2500 elements)', () => {
    const model: ModelSpec = {
      inputs: [{ name: 'x', dims: [5, 501] }, { name: 'm', elemType: ONNX.bool, dims: [1, 501] }],
      outputs: [{ name: 'y', dims: [5, 501] }],
      initializers: [{ name: 'two', dims: [], floats: [2] }],
      nodes: [
        { op: 'Not', inputs: ['m'], outputs: ['nm'], name: '/mask/Not' },
        { op: 'Cast', inputs: ['nm'], outputs: ['f'], name: '/mask/Cast', attrs: { to: ONNX.f32 } },
        { op: 'Pow', inputs: ['x', 'two'], outputs: ['p'], name: '/mask/Pow' },
        { op: 'Equal', inputs: ['f', 'p'], outputs: ['eq'], name: '/mask/Equal' },
        { op: 'Where', inputs: ['eq', 'x', 'p'], outputs: ['w'], name: '/mask/Where' },
        { op: 'Mul', inputs: ['w', 'f'], outputs: ['y'], name: '/mask/Mul' },
      ],
    };
    const { compiled } = checkModel('elementwise cast chain', model);
    expect(kernelSummary(compiled.plan)).toEqual([['Elementwise', [], ['Not', 'Cast']], ['Elementwise', [], ['Pow', 'Equal', 'Where', 'Mul']]]);
    expect(compiled.plan.cuda!.source).not.toContain('uint4');
  });

  for (const [precision, elemType, tol] of [['fp16', ONNX.f16, 2e-3], ['bf16', ONNX.bf16, 1.6e-2]] as const) {
    it(`handle ${precision} slots: loads and stores through the prelude, 8-wide vectors, Cast rounding`, () => {
      const model: ModelSpec = {
        inputs: [{ name: 'x', elemType, dims: [4, 64] }, { name: 'r', elemType, dims: [64] }],
        outputs: [{ name: 'y', elemType }, { name: 'g', elemType }, { name: 'f', elemType: ONNX.f32 }],
        initializers: [init('w', [64], 5)],
        nodes: [
          { op: 'Cast', inputs: ['w'], outputs: ['wh'], attrs: { to: elemType }, name: '/h/CastW' },
          { op: 'Mul', inputs: ['x', 'wh'], outputs: ['m'], name: '/h/Mul' },
          { op: 'Add', inputs: ['m', 'r'], outputs: ['a'], name: '/h/Add' },
          { op: 'Tanh', inputs: ['a'], outputs: ['y'], name: '/h/Tanh' },
          { op: 'Sigmoid', inputs: ['x'], outputs: ['sg'], name: '/h/Sigmoid' },
          { op: 'Mul', inputs: ['sg', 'x'], outputs: ['g'], name: '/h/Swish' },
          { op: 'Cast', inputs: ['x'], outputs: ['f'], attrs: { to: ONNX.f32 }, name: '/h/CastOut' },
        ],
        opset: 20,
      };
      const { compiled } = checkModel(`elementwise ${precision}`, model, { tol });
      const src = compiled.plan.cuda!.source;
      expect(src).toContain(precision === 'fp16' ? 'mcpc_f16 e[8]' : 'mcpc_bf16 e[8]');
      expect(src).toContain(precision === 'fp16' ? 'mcpc_f32_to_f16' : 'mcpc_f32_to_bf16');
    });
  }

  it('print one translation unit with the prelude only, identical kernels once', () => {
    const c = compileCuda(buildModel({
      inputs: [{ name: 'x', dims: [8, 8] }, { name: 'y', dims: [8, 8] }],
      outputs: [{ name: 'rx' }, { name: 'ry' }],
      nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['rx'] }, { op: 'Relu', inputs: ['y'], outputs: ['ry'] }],
    }));
    const [a, b] = c.plan.kernels.map((k) => k.cuda!.after[0]!);
    expect(a!.entry).toBe(b!.entry);
    expect(a!.args).not.toEqual(b!.args);
    expect(c.plan.cuda!.source.match(/extern "C" __global__/g)).toHaveLength(1);
    for (const k of c.plan.kernels) expect(k.cuda!.before).toEqual([]);
    expect(c.plan.cuda!.source.startsWith('#include "mcpc_prelude.cuh"\n')).toBe(true);
    expect(c.plan.cuda!.source.match(/#include/g)).toHaveLength(1);
    expect(c.plan.cuda!.minComputeCapability).toBe(80);
  });
});
