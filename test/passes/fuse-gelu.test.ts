// Golden tests for fuse-gelu (test/passes/golden/fuse-gelu/): TorchScript and dynamo erf forms,
// GPT-2's tanh form, and chains that must stay (wrong constant, intermediate read elsewhere).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseGraph } from '../../compiler/ir/parser.js';
import { findGelus, fuseGeluPass } from '../../compiler/passes/fuse-gelu.js';
import { GOLDEN_DIR, goldenCases, runGolden } from '../helpers/golden.js';

const ops = (g: { nodes: { op: string }[] }) => g.nodes.map((n) => n.op);

describe('fuse-gelu', () => {
  it('fuses the TorchScript erf form and keeps locations', () => {
    const { changed, after } = runGolden(fuseGeluPass, 'erf-torchscript');
    expect(changed).toBe(true);
    expect(ops(after)).toEqual(['Gelu', 'Relu']);
    const gelu = after.nodes[0]!;
    expect(gelu.attrs.string('approximate')).toBe('none');
    expect(gelu.loc).toBe('/act/Mul_1');
    expect(gelu.attrs.strings('_sources')).toEqual(['/act/Div', '/act/Erf', '/act/Add', '/act/Mul']);
  });
  it('fuses the dynamo erf form with commuted operands', () => {
    const { after } = runGolden(fuseGeluPass, 'erf-dynamo');
    expect(ops(after)).toEqual(['Gelu']);
    expect(after.outputs[0]!.name).toBe('gelu');
  });
  it('fuses the tanh form with Pow(x,3) and x*(x*x)', () => {
    const { after } = runGolden(fuseGeluPass, 'tanh-gpt2');
    expect(ops(after)).toEqual(['Gelu', 'Gelu']);
    expect(after.nodes.every((n) => n.attrs.string('approximate') === 'tanh')).toBe(true);
  });
  it('does not fire on a wrong constant or a shared intermediate, and says why', () => {
    const { changed } = runGolden(fuseGeluPass, 'negative');
    expect(changed).toBe(false);
    const src = parseGraph(readCase('negative'));
    const reasons = findGelus(src).rejected.map((r) => `${r.loc}: ${r.reason}`);
    expect(reasons).toEqual([
      expect.stringMatching(/^\/a\/Erf: the Erf argument is not/),
      expect.stringMatching(/^\/b\/Erf: .*graph output/),
      expect.stringMatching(/^\/c\/Tanh: the Tanh argument is not/),
    ]);
  });
  it('has a test for every golden case', () => {
    expect(goldenCases('fuse-gelu')).toEqual(['erf-dynamo', 'erf-torchscript', 'negative', 'tanh-gpt2']);
  });
});

function readCase(name: string): string {
  return readFileSync(join(GOLDEN_DIR, 'fuse-gelu', `${name}.mcir`), 'utf8');
}
