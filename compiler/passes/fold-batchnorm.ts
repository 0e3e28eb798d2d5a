// fold-batchnorm: folds an inference BatchNormalization into the Conv that feeds it.
//   y = BN(Conv(x, W, B)) with s[m] = scale[m] / sqrt(var[m] + eps) per output channel m:
//   y = Conv(x, W', B'),  W'[m, ...] = W[m, ...] * s[m],  B'[m] = (B[m] - mean[m]) * s[m] + bias[m]
//   (B = 0 when the Conv has none).
// Needs: types inferred; W, B and the four BN parameters constant; training_mode = 0 with a single
// BN output; the Conv output read only by the BN. Guarantees: the folded Conv keeps the BN's output
// value and location, and lists the Conv's location in `_sources`. A BatchNormalization after
// anything else is left as is (a later pass may lower it to Mul+Add).

import { type Graph, type Node, type Value } from '../ir/graph.js';
import { TensorData } from '../ir/tensor.js';
import { bumpStat, type Pass } from './pass.js';
import { GraphIndex, removeNodes, replaceMatched } from './pattern-match.js';

export interface BatchNormFold {
  conv: Node;
  bn: Node;
}

export interface BatchNormPlan {
  folds: BatchNormFold[];
  rejected: { loc: string; reason: string }[];
}

function whyNot(idx: GraphIndex, bn: Node): BatchNormFold | string {
  if (bn.attrs.int('training_mode', 0) !== 0 || bn.outputs.length !== 1) return 'BatchNormalization in training mode';
  if (!bn.inputs.slice(1, 5).every((v) => v?.constant)) return 'scale, bias, mean or variance is not constant';
  const x = bn.inputs[0]!;
  const conv = idx.producer(x);
  if (!conv) return 'its input is not computed by a node';
  if (conv.op !== 'Conv') return `its input comes from ${conv.op} ${conv.loc}, not a Conv`;
  if (!conv.inputs[1]?.constant) return `the weight of Conv ${conv.loc} is not constant`;
  if (conv.inputs[2] && !conv.inputs[2].constant) return `the bias of Conv ${conv.loc} is not constant`;
  const escapes = idx.escapes([conv, bn], bn);
  if (escapes) return `the Conv output is needed unnormalized: ${escapes}`;
  return { conv, bn };
}

/** Decides: the Conv+BatchNormalization pairs to fold, and why other BatchNormalizations stay. */
export function findBatchNormFolds(g: Graph): BatchNormPlan {
  const idx = new GraphIndex(g);
  const plan: BatchNormPlan = { folds: [], rejected: [] };
  for (const n of g.nodes) {
    if (n.op !== 'BatchNormalization') continue;
    const r = whyNot(idx, n);
    if (typeof r === 'string') plan.rejected.push({ loc: n.loc, reason: r });
    else plan.folds.push(r);
  }
  return plan;
}

function foldedWeights(g: Graph, { conv, bn }: BatchNormFold): [Value, Value] {
  const w = conv.inputs[1]!.constant!;
  const [scale, bias, mean, variance] = [1, 2, 3, 4].map((i) => bn.inputs[i]!.constant!.values);
  const eps = bn.attrs.float('epsilon', 1e-5);
  const M = w.dims[0]!;
  const per = w.size / M;
  const s = Float64Array.from({ length: M }, (_, m) => scale![m]! / Math.sqrt(variance![m]! + eps));
  const wv = w.values;
  const w2 = new Float64Array(wv.length);
  for (let m = 0; m < M; m++) for (let j = 0; j < per; j++) w2[m * per + j] = wv[m * per + j]! * s[m]!;
  const b = conv.inputs[2]?.constant?.values;
  const b2 = Float64Array.from({ length: M }, (_, m) => ((b ? b[m]! : 0) - mean![m]!) * s[m]! + bias![m]!);
  const base = conv.inputs[1]!.name;
  return [
    g.addConstant(`${base}.bn_folded`, TensorData.fromValues(w.dtype, w.dims, w2)),
    g.addConstant(`${conv.inputs[2]?.name ?? base}.bn_folded_bias`, TensorData.fromValues(w.dtype, [M], b2)),
  ];
}

/** Rewrites: each pair becomes one Conv with folded weights. */
export function applyBatchNormFolds(g: Graph, plan: BatchNormPlan): void {
  const dead = new Set<Node>();
  for (const f of plan.folds) {
    const [w, b] = foldedWeights(g, f);
    replaceMatched(g, [f.conv, f.bn], f.bn, { op: 'Conv', inputs: [f.conv.inputs[0]!, w, b], attrs: f.conv.attrs });
    dead.add(f.conv).add(f.bn);
  }
  removeNodes(g, dead);
}

export function foldBatchNorm(g: Graph): BatchNormPlan {
  const plan = findBatchNormFolds(g);
  applyBatchNormFolds(g, plan);
  return plan;
}

export const foldBatchNormPass: Pass = {
  name: 'fold-batchnorm',
  summary: 'fold inference BatchNormalization into the preceding Conv',
  run(g, ctx) {
    const plan = foldBatchNorm(g);
    bumpStat(ctx, 'fold-batchnorm', 'folded', plan.folds.length);
    return plan.folds.length > 0;
  },
};
