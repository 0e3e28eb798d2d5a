// Golden tests for fuse-attention (test/passes/golden/fuse-attention/): torch's SDPA export in its
// TorchScript and dynamo forms, the eager BERT form, head splits folded into the 3-D form (merged to
// [B,S,H*D] or flattened further, as GPT-2's Conv1D does), and subgraphs Attention cannot express.
// A GPT-2 attention block built as ONNX also goes through the cuda fp16 pipeline at batch 1 and 4.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { skippedPasses } from '../../compiler/compile.js';
import type { Graph } from '../../compiler/ir/graph.js';
import { parseGraph } from '../../compiler/ir/parser.js';
import { importOnnx } from '../../compiler/onnx/import.js';
import { findAttentions, fuseAttentionPass } from '../../compiler/passes/fuse-attention.js';
import { runPipeline } from '../../compiler/passes/pipeline.js';
import { GOLDEN_DIR, goldenCases, runGolden } from '../helpers/golden.js';
import { buildModel, type ModelSpec } from '../helpers/onnx-builder.js';
import { expectSameOnFreshInputs } from './fresh-inputs.js';

const ops = (g: { nodes: { op: string }[] }) => g.nodes.map((n) => n.op);

/**
 * A GPT-2 attention block as the TorchScript exporter writes it, batch symbolic: Conv1D c_attn
 * (Reshape to rows, Gemm, Reshape back), Split into q, k, v, head splits (K^T by [0,2,3,1]), scores
 * divided by sqrt(D) plus an additive mask, and the merge Reshape to [B,S,H*D] viewed again as the
 * rows [B*S, H*D] of the Conv1D c_proj, then the residual Add.
 */
function gpt2Attention(S: number, H: number, D: number): ModelSpec {
  const E = H * D;
  const weight = (name: string, dims: number[]) => ({
    name, dims, floats: Array.from({ length: dims.reduce((a, b) => a * b, 1) }, (_, i) => Math.round(Math.sin(i * 0.37 + name.length) * 64) / 128),
  });
  const node = (op: string, inputs: string[], outputs: string[], name: string, attrs?: ModelSpec['nodes'][number]['attrs']) => ({ op, inputs, outputs, name, attrs });
  return {
    inputs: [{ name: 'x', dims: ['batch', S, E] }, { name: 'mask', dims: ['batch', 1, S, S] }],
    outputs: [{ name: 'y' }],
    initializers: [
      weight('wqkv', [E, 3 * E]), weight('bqkv', [3 * E]), weight('wo', [E, E]), weight('bo', [E]),
      { name: 'rows', dims: [2], int64s: [-1, E] },
      { name: 'seq3', dims: [3], int64s: [-1, S, 3 * E] },
      { name: 'seq', dims: [3], int64s: [-1, S, E] },
      { name: 'heads', dims: [4], int64s: [-1, S, H, D] },
      { name: 'parts', dims: [3], int64s: [E, E, E] },
      { name: 'sqrt_d', dims: [], floats: [Math.sqrt(D)] },
    ],
    nodes: [
      node('Reshape', ['x', 'rows'], ['x2'], '/attn/c_attn/Reshape'),
      node('Gemm', ['x2', 'wqkv', 'bqkv'], ['qkv2'], '/attn/c_attn/Gemm'),
      node('Reshape', ['qkv2', 'seq3'], ['qkv'], '/attn/c_attn/Reshape_1'),
      node('Split', ['qkv', 'parts'], ['q0', 'k0', 'v0'], '/attn/Split', { axis: 2 }),
      node('Reshape', ['q0', 'heads'], ['q1'], '/attn/Reshape_2'),
      node('Transpose', ['q1'], ['q'], '/attn/Transpose_1', { perm: [0, 2, 1, 3] }),
      node('Reshape', ['k0', 'heads'], ['k1'], '/attn/Reshape'),
      node('Transpose', ['k1'], ['kt'], '/attn/Transpose_2', { perm: [0, 2, 3, 1] }),
      node('Reshape', ['v0', 'heads'], ['v1'], '/attn/Reshape_1'),
      node('Transpose', ['v1'], ['v'], '/attn/Transpose', { perm: [0, 2, 1, 3] }),
      node('MatMul', ['q', 'kt'], ['s'], '/attn/MatMul'),
      node('Div', ['s', 'sqrt_d'], ['sd'], '/attn/Div'),
      node('Add', ['sd', 'mask'], ['sm'], '/attn/Add'),
      node('Softmax', ['sm'], ['p'], '/attn/Softmax', { axis: -1 }),
      node('MatMul', ['p', 'v'], ['o'], '/attn/MatMul_1'),
      node('Transpose', ['o'], ['o1'], '/attn/Transpose_3', { perm: [0, 2, 1, 3] }),
      node('Reshape', ['o1', 'seq'], ['o2'], '/attn/Reshape_3'),
      node('Reshape', ['o2', 'rows'], ['o3'], '/attn/c_proj/Reshape'),
      node('Gemm', ['o3', 'wo', 'bo'], ['proj2'], '/attn/c_proj/Gemm'),
      node('Reshape', ['proj2', 'seq'], ['proj'], '/attn/c_proj/Reshape_1'),
      node('Add', ['proj', 'x'], ['y'], '/Add'),
    ],
  };
}

/** The block through the cuda fp16 pipeline up to the optimized IR (skipping `extra` too). */
function optimizedGpt2(batch: number, extra: string[] = []): Graph {
  const g = importOnnx(buildModel(gpt2Attention(5, 2, 8))).graph;
  const shapeBindings = new Map([['x', [batch, 5, 16]], ['mask', [batch, 1, 5, 5]]]);
  runPipeline(g, { shapeBindings, compileTo: 'optimized', verify: true, skip: [...skippedPasses('cuda', 'fp16', batch), ...extra] });
  return g;
}

describe('fuse-attention', () => {
  it('fuses the TorchScript SDPA export, guard included', () => {
    const { changed, after } = runGolden(fuseAttentionPass, 'sdpa-torchscript');
    expect(changed).toBe(true);
    expect(ops(after)).toEqual(['Transpose', 'Attention']);
    expect(after.nodes[0]!.attrs.ints('perm')).toEqual([0, 2, 1, 3]);
    const a = after.nodes[1]!;
    expect(a.attrs.float('scale')).toBeCloseTo(0.5, 6);
    expect(a.loc).toBe('/attn/MatMul_1');
  });
  it('fuses the eager form with K read directly', () => {
    const { after } = runGolden(fuseAttentionPass, 'bert-eager');
    expect(ops(after)).toEqual(['Attention']);
    expect(after.nodes[0]!.inputs.map((v) => v!.name)).toEqual(['q', 'k', 'v', 'mask']);
  });
  it("fuses dynamo's reshape-transpose-reshape K^T", () => {
    expect(ops(runGolden(fuseAttentionPass, 'sdpa-dynamo').after)).toEqual(['Attention']);
  });
  it('folds the head splits around it into the 3-D form', () => {
    const { after } = runGolden(fuseAttentionPass, 'head-splits');
    const a = after.nodes.find((n) => n.op === 'Attention')!;
    expect(a.inputs.map((v) => v!.name)).toEqual(['xq', 'xk', 'xv', 'mask']);
    expect([a.attrs.int('q_num_heads'), a.attrs.int('kv_num_heads')]).toEqual([2, 2]);
    expect(a.outputs[0]!.name).toBe('y');
    expect(a.loc).toBe('/attn/Reshape_3');
  });
  it("folds head splits whose merged output is flattened further, keeping that Reshape", () => {
    const { after } = runGolden(fuseAttentionPass, 'flattened-merge');
    const attentions = after.nodes.filter((n) => n.op === 'Attention');
    expect(attentions.map((a) => a.inputs.slice(0, 3).map((v) => v!.name))).toEqual([['q0', 'k0', 'v0'], ['bq0', 'bk0', 'bv0']]);
    expect(attentions.map((a) => a.outputs[0]!.type.shape)).toEqual([[2, 3, 8], [2, 3, 8]]);
    expect(attentions.map((a) => [a.attrs.int('q_num_heads'), a.attrs.int('kv_num_heads')])).toEqual([[2, 2], [2, 2]]);
    // The merging Reshapes read the Attentions; the one whose shape has a 0 gets a constant shape.
    const merges = ['y', 'by'].map((name) => after.nodes.find((n) => n.outputs[0]!.name === name)!);
    expect(merges.map((r) => [r.op, r.inputs[0]!.producer?.op])).toEqual([['Reshape', 'Attention'], ['Reshape', 'Attention']]);
    expect(merges[0]!.inputs[1]!.name).toBe('rows');
    expect(Array.from(merges[1]!.inputs[1]!.constant!.values)).toEqual([2, 24]);
    expect(ops(after).filter((op) => op === 'Transpose')).toHaveLength(4); // Q's and V's, dead
  });
  for (const batch of [1, 4]) {
    it(`folds a GPT-2 block's head splits at batch ${batch} (cuda fp16 pipeline): no Transpose left`, () => {
      const unfused = optimizedGpt2(batch, ['fuse-attention']);
      const fused = optimizedGpt2(batch);
      expect(ops(unfused)).toContain('Transpose');
      expect(ops(fused)).not.toContain('Transpose');
      const attentions = fused.nodes.filter((n) => n.op === 'Attention');
      expect(attentions).toHaveLength(1);
      const a = attentions[0]!;
      expect(a.inputs.slice(0, 3).map((v) => v!.type.shape)).toEqual([[batch, 5, 16], [batch, 5, 16], [batch, 5, 16]]);
      expect([a.attrs.int('q_num_heads'), a.attrs.int('kv_num_heads')]).toEqual([2, 2]);
      expect(a.outputs[0]!.type.shape).toEqual([batch, 5, 16]);
      expectSameOnFreshInputs(unfused, fused);
    });
  }
  it('leaves softmax over another axis, key-broadcast masks and shared scores', () => {
    expect(runGolden(fuseAttentionPass, 'negative').changed).toBe(false);
    const g = parseGraph(readFileSync(join(GOLDEN_DIR, 'fuse-attention', 'negative.mcir'), 'utf8'));
    expect(findAttentions(g).rejected.map((r) => r.reason)).toEqual([
      'not a softmax over the last axis of a 4-D tensor',
      'the mask [1,1,3,1] does not broadcast to [1,2,3,3]',
      '%s3 (/c/MatMul) is a graph output',
    ]);
  });
  it('has a test for every golden case', () => {
    expect(goldenCases('fuse-attention')).toEqual(['bert-eager', 'flattened-merge', 'head-splits', 'negative', 'sdpa-dynamo', 'sdpa-torchscript']);
  });
});
