// The textual IR round-trips: print(parse(print(g))) === print(g), for imported models and for
// every golden file; syntax errors carry a line and column; the verifier reports broken graphs.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DiagnosticError } from '../../compiler/diagnostics.js';
import { interpret } from '../../compiler/interpreter/interpret.js';
import { parseGraph } from '../../compiler/ir/parser.js';
import { printGraph } from '../../compiler/ir/printer.js';
import { verifyGraph } from '../../compiler/ir/verify.js';
import { importOnnx, importOnnxFile } from '../../compiler/onnx/import.js';
import { addReluModel } from '../helpers/onnx-builder.js';
import { GOLDEN_DIR, randomFeeds } from '../helpers/golden.js';

const EXAMPLE = join(import.meta.dirname, '..', '..', 'examples', 'tiny-cnn.onnx');

function roundTrip(text: string): void {
  const again = printGraph(parseGraph(text));
  expect(again).toBe(text);
}

describe('text form', () => {
  it('round-trips an imported CNN with its weights, and the parsed graph computes the same', () => {
    const { graph } = importOnnxFile(EXAMPLE);
    const text = printGraph(graph);
    roundTrip(text);
    const parsed = parseGraph(text);
    expect(verifyGraph(parsed)).toEqual([]);
    const feeds = randomFeeds(graph);
    const a = interpret(graph, feeds).get('logits')!;
    const b = interpret(parsed, feeds).get('logits')!;
    expect(Array.from(b.values)).toEqual(Array.from(a.values));
  });

  it('round-trips symbolic dims, omitted inputs, quoted names and special floats', () => {
    const text = `graph @main(%"x:0": f32[batch,4], %m: bool[batch,4]) opsets("" = 17) {
  %k = const f32[] dense<[inf]>
  %n = const f32[4] dense<[-inf, -0.0, nan, 0.25]>
  %e = const f32[0] dense<[]>
  %c = Clip(%"x:0", _, %k) : f32[batch,4] loc("/clip \\"q\\"")
  %y = Add(%c, %n) : f32[batch,4] loc("/add")
  %z = Where(%m, %y, %"x:0") : f32[batch,4] loc("/where")
  %s = Softmax(%z) {axis = -1} : f32[batch,4] loc("/sm")
  %r = Resize(%s, _, %e) {axes = ints[], coordinate_transformation_mode = "half_pixel", cubic_coeff_a = -0.75} : f32[batch,4] loc("/r")
  return %r
}
`;
    const g = parseGraph(text);
    expect(printGraph(g)).toBe(text);
    expect(g.inputs[0]!.name).toBe('x:0');
    expect(g.nodes[0]!.inputs[1]).toBeNull();
  });

  it('round-trips every golden file', () => {
    for (const pass of readdirSync(GOLDEN_DIR)) {
      for (const f of readdirSync(join(GOLDEN_DIR, pass))) {
        const g = parseGraph(readFileSync(join(GOLDEN_DIR, pass, f), 'utf8'));
        roundTrip(printGraph(g));
      }
    }
  });

  it('prints elided constants for reading and refuses to parse them', () => {
    const { graph } = importOnnxFile(EXAMPLE);
    const text = printGraph(graph, { constants: 'elide' });
    expect(text).toMatch(/dense<elided: \d+ elements>/);
    expect(() => parseGraph(text)).toThrow(/elided/);
  });

  it('reports syntax errors with line and column', () => {
    const bad = 'graph @main(%x: f32[2]) {\n  %y = Relu(%x) : f32[2] loc("r")\n  %z = Relu(%nope) : f32[2] loc("s")\n  return %z\n}\n';
    try {
      parseGraph(bad, 'bad.mcir');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(DiagnosticError);
      expect((e as DiagnosticError).message).toBe('bad.mcir:3:13: %nope is not defined before its use');
    }
    expect(() => parseGraph('graph @main(%x: q32[2]) {\n return %x\n}')).toThrow(/1:17: expected a dtype, found 'q32'/);
  });
});

describe('verifier', () => {
  it('accepts imported graphs', () => {
    expect(verifyGraph(importOnnx(addReluModel()).graph)).toEqual([]);
  });
  it('reports a wrong output type, a use before definition and an arity error', () => {
    const wrongType = parseGraph('graph @main(%x: f32[2,3]) {\n  %y = Relu(%x) : f32[3,2] loc("r")\n  return %y\n}\n');
    expect(verifyGraph(wrongType)).toEqual(["node r (Relu): output %y is typed f32[3,2], the op's rule gives f32[2,3]"]);

    const g = parseGraph('graph @main(%x: f32[2]) {\n  %a = Relu(%x) : f32[2] loc("a")\n  %b = Neg(%a) : f32[2] loc("b")\n  return %b\n}\n');
    g.nodes.reverse();
    expect(verifyGraph(g)[0]).toMatch(/node b \(Neg\) reads %a \(input 0\) before it is defined/);

    const arity = parseGraph('graph @main(%x: f32[2]) {\n  %a = Relu(%x, %x) : f32[2] loc("a")\n  return %a\n}\n');
    expect(verifyGraph(arity)[0]).toMatch(/Relu takes 1 inputs, got 2/);
  });
});
