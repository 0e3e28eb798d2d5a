// Golden tests for fuse-attention (test/passes/golden/fuse-attention/): torch's SDPA export in its
// TorchScript and dynamo forms, the eager BERT form, and subgraphs Attention cannot express.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseGraph } from '../../compiler/ir/parser.js';
import { findAttentions, fuseAttentionPass } from '../../compiler/passes/fuse-attention.js';
import { GOLDEN_DIR, goldenCases, runGolden } from '../helpers/golden.js';

const ops = (g: { nodes: { op: string }[] }) => g.nodes.map((n) => n.op);

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
    expect(goldenCases('fuse-attention')).toEqual(['bert-eager', 'head-splits', 'negative', 'sdpa-dynamo', 'sdpa-torchscript']);
  });
});
