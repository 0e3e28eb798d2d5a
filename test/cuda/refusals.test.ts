// What the cuda target refuses, each as a noTargetKernel diagnostic (MCPC2012) naming the node:
// ops without CUDA code, fused steps without CUDA code, convolutions other than 2-D, epilogues that
// change a library anchor's dtype, shape inputs only known at run time, attention with a KV cache.

import { describe, expect, it } from 'vitest';
import { compileModel } from '../../compiler/compile.js';
import { DiagnosticError } from '../../compiler/diagnostics.js';
import { emitCudaCode } from '../../compiler/targets/cuda/index.js';
import { buildModel, type ModelSpec } from '../helpers/onnx-builder.js';
import { compileCuda } from './harness.js';
import { init, ONNX } from './helpers.js';

function refusal(f: () => unknown): DiagnosticError {
  try {
    f();
  } catch (e) {
    if (e instanceof DiagnosticError) return e;
    throw e;
  }
  throw new Error('expected a diagnostic');
}

const one = (node: ModelSpec['nodes'][number], inputs: ModelSpec['inputs'], extra: Partial<ModelSpec> = {}): Uint8Array =>
  buildModel({ inputs, outputs: node.outputs.map((name) => ({ name })), nodes: [node], ...extra });

describe('cuda refusals', () => {
  it('an op without CUDA code is MCPC2012 naming its node (through compileModel --target cuda)', () => {
    const model = one({ op: 'CumSum', inputs: ['x', 'axis'], outputs: ['y'], name: '/seq/CumSum' }, [{ name: 'x', dims: [4, 5] }], {
      initializers: [{ name: 'axis', dims: [], int64s: [1] }],
    });
    const e = refusal(() => compileModel({ bytes: model }, { target: 'cuda' }));
    expect(e.code).toBe('MCPC2012');
    expect(e.message).toBe("op CumSum at node '/seq/CumSum' has no kernel for target cuda yet");
  });

  it('a fused step without CUDA code names the step\'s node', () => {
    const { plan, weights } = compileCuda(buildModel({
      inputs: [{ name: 'x', dims: [4, 8] }],
      outputs: [{ name: 'y' }],
      nodes: [
        { op: 'Relu', inputs: ['x'], outputs: ['r'], name: '/act/Relu' },
        { op: 'Neg', inputs: ['r'], outputs: ['y'], name: '/act/Neg' },
      ],
    }));
    plan.kernels[0]!.epilogue![1]!.op = 'NoSuchOp';
    const e = refusal(() => emitCudaCode(plan, 'fp32', weights));
    expect(e.message).toBe("op NoSuchOp at node '/act/Neg' has no kernel for target cuda yet");
  });

  it('refuses 1-D and 3-D Conv and ConvTranspose', () => {
    const conv1d = one({ op: 'Conv', inputs: ['x', 'w'], outputs: ['y'], name: '/c1/Conv' }, [{ name: 'x', dims: [1, 2, 9] }], { initializers: [init('w', [3, 2, 3], 1)] });
    expect(refusal(() => compileCuda(conv1d)).message).toBe("op Conv with 1-D input (cuda runs 2-D convolutions) at node '/c1/Conv' has no kernel for target cuda yet");
    const conv3d = one({ op: 'Conv', inputs: ['x', 'w'], outputs: ['y'], name: '/c3/Conv' }, [{ name: 'x', dims: [1, 2, 4, 4, 4] }], { initializers: [init('w', [3, 2, 2, 2, 2], 1)] });
    expect(refusal(() => compileCuda(conv3d)).code).toBe('MCPC2012');
    const convT = one({ op: 'ConvTranspose', inputs: ['x', 'w'], outputs: ['y'], name: '/up/ConvTranspose' }, [{ name: 'x', dims: [1, 2, 4, 4] }], { initializers: [init('w', [2, 3, 2, 2], 1)] });
    expect(refusal(() => compileCuda(convT)).message).toContain("ConvTranspose at node '/up/ConvTranspose'");
  });

  it('keeps a dtype-changing Cast out of a library anchor, and refuses such an epilogue in a plan', () => {
    const model = buildModel({
      inputs: [{ name: 'a', dims: [4, 6] }],
      outputs: [{ name: 'y', elemType: ONNX.f64 }],
      initializers: [init('b', [6, 5], 1)],
      nodes: [
        { op: 'MatMul', inputs: ['a', 'b'], outputs: ['m'], name: '/fc/MatMul' },
        { op: 'Cast', inputs: ['m'], outputs: ['y'], name: '/fc/Cast', attrs: { to: ONNX.f64 } },
      ],
    });
    // The fuse pass leaves the Cast its own kernel (cuBLASLt writes the anchor's dtype in place)...
    const { plan, weights } = compileCuda(model);
    expect(plan.kernels.map((k) => `${k.op}:${k.epilogue?.length ?? 0}`)).toEqual(['MatMul:0', 'Cast:0']);
    // ...and a plan that fused it anyway is refused, naming the anchor's node.
    const [matmul, cast] = plan.kernels;
    matmul!.epilogue = [{ op: 'Cast', attrs: { to: { i: ONNX.f64 } }, args: [{ acc: true }], dtype: 'f64', source: '/fc/Cast' }];
    matmul!.outputs = cast!.outputs;
    plan.kernels = [matmul!];
    delete plan.cuda;
    for (const k of plan.kernels) delete k.cuda;
    expect(refusal(() => emitCudaCode(plan, 'fp32', weights)).message).toMatch(/^op MatMul with an epilogue producing f64 from f32 .* at node '\/fc\/MatMul'/);
  });

  it('refuses shape inputs whose values are only known at run time (Slice starts, Reduce axes)', () => {
    const model = buildModel({
      inputs: [{ name: 'x', dims: [4, 6] }, { name: 'n', elemType: ONNX.i64, dims: [1] }],
      outputs: [{ name: 'y' }, { name: 'r' }],
      initializers: [{ name: 's', dims: [1], int64s: [1] }, { name: 'e', dims: [1], int64s: [5] }, { name: 'a', dims: [1], int64s: [1] }],
      nodes: [
        { op: 'Slice', inputs: ['x', 's', 'e', 'a'], outputs: ['y'], name: '/cut/Slice' },
        { op: 'ReduceSum', inputs: ['x', 'a'], outputs: ['r'], name: '/sum/ReduceSum' },
        { op: 'Identity', inputs: ['n'], outputs: ['unused'], name: '/n/Identity' },
      ],
    });
    const { plan, weights } = compileCuda(model);
    // Static shapes make such inputs constants; rewire them to a graph input to get the run-time case.
    const runtimeSlot = plan.inputSlots[1]!;
    const slice = structuredClone(plan);
    slice.kernels.find((k) => k.op === 'Slice')!.inputs[1] = runtimeSlot;
    expect(refusal(() => emitCudaCode(slice, 'fp32', weights)).message).toBe("op Slice with starts computed at run time at node '/cut/Slice' has no kernel for target cuda yet");
    const reduce = structuredClone(plan);
    reduce.kernels.find((k) => k.op === 'ReduceSum')!.inputs[1] = runtimeSlot;
    expect(refusal(() => emitCudaCode(reduce, 'fp32', weights)).message).toBe("op ReduceSum with axes computed at run time at node '/sum/ReduceSum' has no kernel for target cuda yet");
    // Without the weights the generator cannot read constants it was meant to have: a compiler bug.
    expect(() => emitCudaCode(structuredClone(plan), 'fp32')).toThrow(/were not given to emitCudaCode; pass EmittedPlan.weights/);
  });

  it('refuses Attention with a KV cache', () => {
    const model = buildModel({
      inputs: [
        { name: 'q', dims: [1, 2, 3, 4] }, { name: 'k', dims: [1, 2, 3, 4] }, { name: 'v', dims: [1, 2, 3, 4] },
        { name: 'pk', dims: [1, 2, 5, 4] }, { name: 'pv', dims: [1, 2, 5, 4] },
      ],
      outputs: [{ name: 'y' }],
      nodes: [{ op: 'Attention', inputs: ['q', 'k', 'v', '', 'pk', 'pv'], outputs: ['y'], name: '/dec/Attention' }],
      opset: 23,
    });
    expect(refusal(() => compileCuda(model)).message).toBe("op Attention with past_key/past_value at node '/dec/Attention' has no kernel for target cuda yet");
  });
});
