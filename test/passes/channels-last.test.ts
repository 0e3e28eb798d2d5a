// Golden tests for channels-last (test/passes/golden/channels-last/): a ResNet bottleneck with its
// residual, a MobileNet inverted residual (depthwise Conv, Clip), asymmetric pads, and a classifier
// tail (MaxPool, AveragePool, GlobalAveragePool, Flatten, Gemm) and a channel Concat run NHWC with transposes only at
// the region's edges; f32 plans and what the pass cannot convert stay NCHW. runGolden also runs
// the reference interpreter (float64) on the graph before and after and compares.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Graph } from '../../compiler/ir/graph.js';
import { parseGraph } from '../../compiler/ir/parser.js';
import { channelsLastPass, decideChannelsLast } from '../../compiler/passes/channels-last.js';
import { newPassContext } from '../../compiler/passes/pass.js';
import { GOLDEN_DIR, goldenCases, runGolden } from '../helpers/golden.js';

const half = () => newPassContext(undefined, undefined, 'f16');
const ops = (g: Graph) => g.nodes.map((n) => n.op);
const count = (g: Graph, op: string) => ops(g).filter((o) => o === op).length;

describe('channels-last', () => {
  it('runs a ResNet bottleneck NHWC between one Transpose in and one out', () => {
    const { changed, after } = runGolden(channelsLastPass, 'bottleneck', half());
    expect(changed).toBe(true);
    expect(ops(after)).toEqual(['Transpose', 'NhwcConv', 'Relu', 'NhwcConv', 'Relu', 'NhwcConv', 'Relu', 'NhwcConv', 'Add', 'Relu', 'Mul', 'Transpose']);
    const mul = after.nodes.find((n) => n.op === 'Mul')!;
    expect(mul.inputs[1]!.type.shape).toEqual([1, 1, 1, 4]);
    expect(after.nodes[1]!.inputs[1]!.type.shape).toEqual([4, 3, 3, 3]);
    expect(after.outputs[0]!.name).toBe('y');
    expect(after.outputs[0]!.type.shape).toEqual([1, 4, 3, 3]);
  });
  it('runs a MobileNet inverted residual NHWC, depthwise Conv and Clip included', () => {
    const { after } = runGolden(channelsLastPass, 'inverted-residual', half());
    expect(count(after, 'NhwcConv')).toBe(4);
    expect(count(after, 'Transpose')).toBe(2);
    const dw = after.nodes.find((n) => n.loc === '/ir/depthwise/Conv')!;
    expect(dw.inputs[1]!.type.shape).toEqual([8, 3, 3, 1]);
    expect(dw.attrs.int('group')).toBe(8);
  });
  it('keeps asymmetric and SAME_UPPER pads as attributes of NhwcConv', () => {
    const { after } = runGolden(channelsLastPass, 'asymmetric-pads', half());
    expect(ops(after)).toEqual(['Transpose', 'NhwcConv', 'NhwcConv', 'Add', 'Transpose']);
    expect(after.nodes[1]!.attrs.ints('pads')).toEqual([0, 1, 2, 1]);
    expect(after.nodes[3]!.inputs[1]!.type.shape).toEqual([1, 1, 2, 1]);
  });
  it('ends a classifier without a layout change: the global pool flattens itself', () => {
    const { after } = runGolden(channelsLastPass, 'tail', half());
    expect(ops(after)).toEqual(['Transpose', 'NhwcConv', 'Relu', 'NhwcMaxPool', 'NhwcAveragePool', 'NhwcConv', 'ReduceMean', 'Gemm']);
    const mean = after.nodes[6]!;
    expect(mean.attrs.int('keepdims')).toBe(0);
    expect(mean.outputs[0]!.name).toBe('f');
  });
  it('remaps the axis of a channel Concat of convolutions and permutes its constant operand', () => {
    const { after } = runGolden(channelsLastPass, 'concat', half());
    expect(ops(after)).toEqual(['Transpose', 'NhwcConv', 'NhwcConv', 'Concat', 'Relu', 'Concat', 'Transpose']);
    expect(after.nodes[3]!.attrs.int('axis')).toBe(3);
    expect(after.nodes[3]!.inputs[2]!.type.shape).toEqual([1, 4, 4, 1]);
    expect(after.nodes[5]!.attrs.int('axis')).toBe(1);
  });
  it('leaves f32 plans, 1-D and dynamic-weight convolutions and pools of NCHW values alone', () => {
    const f32 = parseGraph(readFileSync(join(GOLDEN_DIR, 'channels-last', 'bottleneck.mcir'), 'utf8'));
    expect(channelsLastPass.run(f32, newPassContext())).toBe(false);
    expect(count(f32, 'Conv')).toBe(4);
    const { after } = runGolden(channelsLastPass, 'negative', half());
    expect(ops(after)).toEqual(['Conv', 'Conv', 'MaxPool', 'Transpose', 'NhwcConv', 'Transpose', 'Add']);
    const g = parseGraph(readFileSync(join(GOLDEN_DIR, 'channels-last', 'negative.mcir'), 'utf8'));
    expect(decideChannelsLast(g).rejected).toEqual([
      { loc: '/conv1d/Conv', reason: '1-D convolution (channels-last covers 2-D)' },
      { loc: '/dynamic/Conv', reason: 'its weight is not a constant' },
      { loc: '/maxpool', reason: 'its input is channels-first' },
    ]);
  });
  it('has a test for every golden case', () => {
    expect(goldenCases('channels-last')).toEqual(['asymmetric-pads', 'bottleneck', 'concat', 'inverted-residual', 'negative', 'tail']);
  });
});
