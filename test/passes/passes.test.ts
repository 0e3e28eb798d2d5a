// Golden tests for every pass of the pipeline (test/passes/golden/<pass>/): the IR before and
// after, checked by the verifier and by running both on the reference interpreter.

import { describe, expect, it } from 'vitest';
import { bindShapesPass } from '../../compiler/passes/bind-shapes.js';
import { canonicalizePass } from '../../compiler/passes/canonicalize.js';
import { eliminateCommonSubexpressionsPass } from '../../compiler/passes/eliminate-common-subexpressions.js';
import { eliminateDeadCodePass } from '../../compiler/passes/eliminate-dead-code.js';
import { foldConstantsPass } from '../../compiler/passes/fold-constants.js';
import { inferShapesPass } from '../../compiler/passes/infer-shapes.js';
import { newPassContext } from '../../compiler/passes/pass.js';
import { parseGraph } from '../../compiler/ir/parser.js';
import { DiagnosticError } from '../../compiler/diagnostics.js';
import { goldenCases, runGolden } from '../helpers/golden.js';

describe('canonicalize', () => {
  it('removes no-op nodes and keeps the output name', () => {
    const { changed, after } = runGolden(canonicalizePass, 'no-ops');
    expect(changed).toBe(true);
    expect(after.outputs[0]!.name).toBe('y');
  });
  it('composes transposes', () => {
    expect(runGolden(canonicalizePass, 'transpose-pair').changed).toBe(true);
  });
  it('keeps real work', () => {
    expect(runGolden(canonicalizePass, 'keeps-real-work').changed).toBe(false);
  });
});

describe('fold-constants', () => {
  it('folds a Shape->Gather->Concat chain into a constant', () => {
    const { after } = runGolden(foldConstantsPass, 'shape-chain');
    expect(after.nodes.map((n) => n.op)).toEqual(['Reshape']);
  });
  it('folds work on weights and leaves work on inputs', () => {
    const { after } = runGolden(foldConstantsPass, 'weights');
    expect(after.nodes.map((n) => n.op)).toEqual(['MatMul']);
  });
});

describe('eliminate-dead-code', () => {
  it('removes an unused branch', () => {
    expect(runGolden(eliminateDeadCodePass, 'unused-branch').after.nodes.map((n) => n.op)).toEqual(['Relu']);
  });
  it('keeps nodes feeding any output', () => {
    expect(runGolden(eliminateDeadCodePass, 'all-live').changed).toBe(false);
  });
});

describe('eliminate-common-subexpressions', () => {
  it('merges repeated computations and constants', () => {
    const { after } = runGolden(eliminateCommonSubexpressionsPass, 'repeated');
    expect(after.nodes.map((n) => n.op)).toEqual(['Shape', 'Gather', 'Add']);
  });
  it('keeps nodes whose attributes differ', () => {
    expect(runGolden(eliminateCommonSubexpressionsPass, 'different-attrs').changed).toBe(false);
  });
});

describe('infer-shapes', () => {
  it('recomputes types from the inputs', () => {
    const src = `graph @main(%x: f32[2,8]) {
  %w = const f32[8,4] dense<0x${'0000803f'.repeat(32)}>
  %y = MatMul(%x, %w) : f32[1,4] loc("/MatMul")
  return %y
}
`;
    const g = parseGraph(src);
    expect(inferShapesPass.run(g, newPassContext())).toBe(true);
    expect(g.outputs[0]!.type.shape).toEqual([2, 4]);
    expect(runGolden(inferShapesPass, 'stale-types').changed).toBe(false);
  });
});

describe('bind-shapes', () => {
  it('binds symbols across inputs', () => {
    const ctx = newPassContext(new Map([['input_ids', [2, 5]]]));
    const { after } = runGolden(bindShapesPass, 'batch-seq', ctx);
    expect(after.inputs.map((v) => v.type.shape)).toEqual([[2, 5], [2, 5]]);
  });
  it('rejects a binding of the wrong rank or an unknown input', () => {
    const g = () => parseGraph('graph @main(%x: f32[batch,4]) {\n  %y = Relu(%x) : f32[batch,4] loc("r")\n  return %y\n}\n');
    expect(() => bindShapesPass.run(g(), newPassContext(new Map([['x', [1, 4, 4]]])))).toThrow(/rank 2/);
    expect(() => bindShapesPass.run(g(), newPassContext(new Map([['nope', [1]]])))).toThrow(DiagnosticError);
    expect(() => bindShapesPass.run(g(), newPassContext(new Map([['x', [1, 5]]])))).toThrow(/dim 1 of 'x' is fixed at 4/);
  });
});

describe('golden files', () => {
  it('every golden input has a test above', () => {
    const covered = ['canonicalize', 'fold-constants', 'eliminate-dead-code', 'eliminate-common-subexpressions', 'infer-shapes', 'bind-shapes'];
    for (const p of covered) expect(goldenCases(p).length).toBeGreaterThan(0);
  });
});
