// Depthwise convolutions (group == C_in == C_out) as one generated kernel with the bias and the
// epilogue (compiler/targets/cuda/depthwise.ts) instead of cuDNN and an epilogue launch: NCHW
// (Conv) and NHWC (NhwcConv, the channels-last pass's), f32/f16/bf16, strides, pads, dilations,
// windows up to the rolled tap loop, every vector width of the NHWC kernel (8, 4, 2 and 1
// channels) and several outputs per thread, run on the emulator against the reference interpreter.

import { afterAll, describe, expect, it } from 'vitest';
import type { KernelPlan, Precision } from '../../compiler/artifact/format.js';
import { buildModel, type ModelSpec } from '../helpers/onnx-builder.js';
import { compileCuda } from './harness.js';
import { checkModel, init, kernelText, printMeasured } from './helpers.js';

afterAll(() => printMeasured('depthwise'));

type Attrs = NonNullable<ModelSpec['nodes'][number]['attrs']>;

interface Case {
  name: string;
  k: [number, number];
  attrs: Attrs;
  bias?: boolean;
  /** Clip(0, 0.6), Relu, or a per-channel scale then the input as a residual (stride 1 only). */
  epilogue?: 'clip' | 'relu' | 'scale-residual';
}

/** One input [N, C, H, W] and a depthwise convolution per case, each its own output. */
function depthwiseModel(dims: [number, number, number, number], cases: Case[]): ModelSpec {
  const C = dims[1];
  const spec: ModelSpec = {
    inputs: [{ name: 'x', dims }],
    outputs: [],
    nodes: [],
    initializers: [{ name: 'lo', dims: [], floats: [0] }, { name: 'hi', dims: [], floats: [0.6] }, init('scale', [1, C, 1, 1], 99)],
    opset: 17,
  };
  cases.forEach((c, i) => {
    spec.initializers!.push(init(`w${i}`, [C, 1, ...c.k], 10 + i, 0.4));
    if (c.bias) spec.initializers!.push(init(`b${i}`, [C], 50 + i, 0.5));
    const conv = { op: 'Conv', inputs: ['x', `w${i}`, ...(c.bias ? [`b${i}`] : [])], outputs: [`c${i}`], name: `/dw/${c.name}`, attrs: { group: C, kernel_shape: c.k, ...c.attrs } };
    spec.nodes.push(conv);
    let y = `c${i}`;
    if (c.epilogue === 'clip') spec.nodes.push({ op: 'Clip', inputs: [y, 'lo', 'hi'], outputs: [(y = `y${i}`)], name: `/dw/${c.name}/Clip` });
    if (c.epilogue === 'relu') spec.nodes.push({ op: 'Relu', inputs: [y], outputs: [(y = `y${i}`)], name: `/dw/${c.name}/Relu` });
    if (c.epilogue === 'scale-residual') {
      spec.nodes.push({ op: 'Mul', inputs: [y, 'scale'], outputs: [`m${i}`], name: `/dw/${c.name}/Mul` });
      spec.nodes.push({ op: 'Add', inputs: [`m${i}`, 'x'], outputs: [(y = `y${i}`)], name: `/dw/${c.name}/Add` });
    }
    spec.outputs.push({ name: y });
  });
  return spec;
}

/** Strides, pads (asymmetric too), dilations, SAME_UPPER, a window too large for registers. */
const VARIANTS: Case[] = [
  { name: 's1', k: [3, 3], attrs: { pads: [1, 1, 1, 1] }, bias: true, epilogue: 'clip' },
  { name: 's2', k: [3, 3], attrs: { pads: [1, 1, 1, 1], strides: [2, 2] } },
  { name: 'dilated', k: [3, 3], attrs: { pads: [2, 1, 0, 2], dilations: [2, 2] }, bias: true, epilogue: 'relu' },
  { name: 'same', k: [5, 3], attrs: { strides: [1, 2], auto_pad: 'SAME_UPPER' }, bias: true },
  { name: 'residual', k: [3, 3], attrs: { pads: [1, 1, 1, 1] }, bias: true, epilogue: 'scale-residual' },
  { name: 'rolled', k: [9, 9], attrs: { pads: [4, 4, 4, 4] }, bias: true, epilogue: 'clip' },
];

/** The mobilenet_v2 block: 3x3, pad 1, bias, Clip(0, 6) (here 0.6), stride 1 or 2. */
const MOBILENET: Case[] = [
  { name: 's1', k: [3, 3], attrs: { pads: [1, 1, 1, 1] }, bias: true, epilogue: 'clip' },
  { name: 's2', k: [3, 3], attrs: { pads: [1, 1, 1, 1], strides: [2, 2] }, bias: true, epilogue: 'clip' },
];

const TOL: Record<Precision, number> = { fp32: 1e-5, tf32: 1e-5, fp16: 1e-2, bf16: 3e-2 };

/** Every Conv/NhwcConv of the plan is a single generated launch; returns their entries. */
function expectGenerated(plan: KernelPlan, op: 'Conv' | 'NhwcConv'): string[] {
  const convs = plan.kernels.filter((k) => k.op === 'Conv' || k.op === 'NhwcConv');
  expect(convs.length).toBeGreaterThan(0);
  for (const k of convs) {
    expect(k.op).toBe(op);
    expect(k.cuda!.library).toBeUndefined();
    expect(k.cuda!.after).toHaveLength(1);
    expect(k.cuda!.after[0]!.entry).toContain(`${op}_depthwise`);
  }
  return convs.map((k) => k.cuda!.after[0]!.entry);
}

function run(name: string, spec: ModelSpec, precision: Precision, layout: 'NCHW' | 'NHWC', skip: string[] = []): KernelPlan {
  // NCHW half plans: without the channels-last pass. NHWC f32: channels-last runs for f16 storage,
  // so skipping lower-precision leaves f32 NhwcConvs.
  const compiled = compileCuda(buildModel(spec), { precision, skip });
  checkModel(`depthwise ${name}`, new Uint8Array(), { compiled, tol: TOL[precision] });
  expectGenerated(compiled.plan, layout === 'NCHW' ? 'Conv' : 'NhwcConv');
  return compiled.plan;
}

describe('cuda depthwise convolution kernel', () => {
  it('NCHW f32: strides, pads, dilation, SAME_UPPER, bias absent/present, epilogues, a rolled 9x9 window', () => {
    run('nchw f32 variants', depthwiseModel([2, 6, 13, 11], VARIANTS), 'fp32', 'NCHW');
  });
  it('NCHW f16 and bf16 (without channels-last)', () => {
    run('nchw f16 variants', depthwiseModel([2, 6, 13, 11], VARIANTS), 'fp16', 'NCHW', ['channels-last']);
    run('nchw bf16 mobilenet', depthwiseModel([1, 5, 12, 12], MOBILENET), 'bf16', 'NCHW', ['channels-last']);
  });
  it('NHWC f16: vectors of 8, 4, 2 and 1 channels (C = 16, 12, 6, 5), batch 2', () => {
    for (const C of [16, 12, 6, 5]) {
      const plan = run(`nhwc f16 C${C}`, depthwiseModel([2, C, 13, 11], C === 6 ? VARIANTS : MOBILENET), 'fp16', 'NHWC');
      const V = C === 16 ? 8 : C === 12 ? 4 : C === 6 ? 2 : 1;
      const text = kernelText(plan, plan.kernels.find((k) => k.op === 'NhwcConv')!.cuda!.after[0]!.entry);
      expect(text).toContain(`const int c = cg * ${V};`);
    }
  });
  it('NHWC bf16 and f32', () => {
    run('nhwc bf16 variants', depthwiseModel([2, 8, 9, 10], VARIANTS), 'bf16', 'NHWC');
    run('nhwc f32 variants', depthwiseModel([2, 12, 9, 10], VARIANTS), 'fp16', 'NHWC', ['lower-precision']);
  });
  it('several outputs per thread once the launch has threads to spare: NCHW 4 (f32) and 8 (f16), NHWC 2 with an odd OW', () => {
    const nchw32 = run('nchw f32 wide', depthwiseModel([1, 4, 128, 256], MOBILENET), 'fp32', 'NCHW');
    expect(nchw32.cuda!.source).toContain('float acc[4];');
    expect(nchw32.cuda!.source).toContain('*reinterpret_cast<uint4*>(p');
    // Stride 1 (8 outputs) and 2 (2 outputs): the interior input columns as aligned vector loads.
    const nchw16 = run('nchw f16 wide', depthwiseModel([1, 8, 128, 256], MOBILENET), 'fp16', 'NCHW', ['channels-last']);
    const [s1, s2] = nchw16.kernels.filter((k) => k.op === 'Conv').map((k) => kernelText(nchw16, k.cuda!.after[0]!.entry));
    expect(s1).toContain('float acc[8];');
    expect(s1).toContain('xb0.u = *reinterpret_cast<const uint4*>(xr + ow0);');
    expect(s2).toContain('float acc[2];');
    expect(s2).toContain('xb0.u = *reinterpret_cast<const uint2*>(xr + ow0 * 2);');
    const nhwc = run('nhwc f16 wide', depthwiseModel([2, 16, 64, 255], MOBILENET.slice(0, 1)), 'fp16', 'NHWC');
    const text = kernelText(nhwc, nhwc.kernels.find((k) => k.op === 'NhwcConv')!.cuda!.after[0]!.entry);
    expect(text).toContain('float acc[2][8];');
    expect(text).toContain('if (ow0 + r >= 255) break;');
  });
  it('launch geometry of mobilenet_v2\'s first depthwise layer at batch 64 (NHWC) and 1 (NCHW), compiled only', () => {
    const nhwc = compileCuda(buildModel(depthwiseModel([64, 32, 112, 112], MOBILENET.slice(0, 1))), { precision: 'fp16' }).plan;
    const k = nhwc.kernels.find((x) => x.op === 'NhwcConv')!;
    // 4 channel groups of 8 halves by 64 pixel items per block; the grid-stride loop, 1024 blocks.
    expect(k.cuda!.after[0]).toMatchObject({ grid: [1, 1024, 1], block: [4, 64, 1], sharedBytes: 0 });
    const text = kernelText(nhwc, k.cuda!.after[0]!.entry);
    expect(text).toContain('float w[8][9];');
    expect(text).toContain('float acc[2][8];');
    const b1 = buildModel(depthwiseModel([1, 32, 112, 112], MOBILENET.slice(0, 1)));
    const nchw = compileCuda(b1, { precision: 'fp16', skip: ['channels-last'] }).plan;
    const c = nchw.kernels.find((x) => x.op === 'Conv')!;
    expect(c.cuda!.after[0]).toMatchObject({ grid: [196, 1, 1], block: [256, 1, 1] });
    expect(kernelText(nchw, c.cuda!.after[0]!.entry)).toContain('float acc[8];');
  });
  it('leaves channel multipliers and grouped convolutions to cuDNN', () => {
    const spec: ModelSpec = {
      inputs: [{ name: 'x', dims: [1, 4, 8, 8] }],
      outputs: [{ name: 'm' }, { name: 'g' }],
      initializers: [init('wm', [8, 1, 3, 3], 1, 0.3), init('wg', [4, 2, 3, 3], 2, 0.3)],
      nodes: [
        { op: 'Conv', inputs: ['x', 'wm'], outputs: ['m'], name: '/conv/multiplier', attrs: { group: 4, pads: [1, 1, 1, 1] } },
        { op: 'Conv', inputs: ['x', 'wg'], outputs: ['g'], name: '/conv/grouped', attrs: { group: 2, pads: [1, 1, 1, 1] } },
      ],
      opset: 17,
    };
    for (const precision of ['fp32', 'fp16'] as Precision[]) {
      const { compiled } = checkModel(`depthwise refused ${precision}`, spec, { precision, tol: TOL[precision] });
      const convs = compiled.plan.kernels.filter((k) => k.op.endsWith('Conv'));
      expect(convs.map((k) => k.cuda!.library)).toEqual(['cudnn', 'cudnn']);
    }
  });
});
