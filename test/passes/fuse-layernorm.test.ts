// Golden tests for fuse-layernorm (test/passes/golden/fuse-layernorm/): the torch decomposition
// with gamma and beta, variants (positive axes, d*d, commuted operands, two trailing axes, no
// affine part), and chains that must stay.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseGraph } from '../../compiler/ir/parser.js';
import { findLayerNorms, fuseLayerNormPass } from '../../compiler/passes/fuse-layernorm.js';
import { GOLDEN_DIR, goldenCases, runGolden } from '../helpers/golden.js';

describe('fuse-layernorm', () => {
  it('fuses the decomposition with gamma and beta', () => {
    const { changed, after } = runGolden(fuseLayerNormPass, 'decomposed');
    expect(changed).toBe(true);
    expect(after.nodes.map((n) => n.op)).toEqual(['LayerNormalization']);
    const ln = after.nodes[0]!;
    expect(ln.loc).toBe('/ln/Add_1');
    expect(ln.attrs.int('axis')).toBe(-1);
    expect(ln.attrs.float('epsilon')).toBeCloseTo(1e-5, 10);
    expect(ln.inputs.map((v) => v!.name)).toEqual(['x', 'gamma', 'beta']);
  });
  it('fuses variants, filling in a ones scale', () => {
    const { after } = runGolden(fuseLayerNormPass, 'variants');
    expect(after.nodes.map((n) => `${n.op}:${n.attrs.int('axis')}:${n.inputs.length}`)).toEqual(['LayerNormalization:-1:2', 'LayerNormalization:-2:2']);
  });
  it('leaves a norm over a leading axis and one whose variance is read elsewhere', () => {
    expect(runGolden(fuseLayerNormPass, 'negative').changed).toBe(false);
    const g = parseGraph(readFileSync(join(GOLDEN_DIR, 'fuse-layernorm', 'negative.mcir'), 'utf8'));
    const r = findLayerNorms(g).rejected;
    expect(r.find((x) => x.loc === '/a/mean')!.reason).toMatch(/trailing axes/);
    expect(r.find((x) => x.loc === '/b/mean')!.reason).toMatch(/graph output/);
  });
  it('has a test for every golden case', () => {
    expect(goldenCases('fuse-layernorm')).toEqual(['decomposed', 'negative', 'variants']);
  });
});
