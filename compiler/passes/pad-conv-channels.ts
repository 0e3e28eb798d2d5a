// pad-conv-channels: widens the input channels of a channels-last convolution to a multiple of 8,
// the 16 bytes per pixel that cuDNN's half-precision tensor-core kernels read. An RGB stem (C = 3)
// otherwise falls to kernels that expand the input into a K = KH*KW*C matrix in a workspace
// (resnet50 at batch 64: 122 MiB for conv1).
//   NhwcConv(x, W, B), group 1, C % 8 != 0  ->  NhwcConv(Pad(x, C -> C'), W', B)
//     x: [N,H,W,C] padded with zeros on the channel axis to C' = C rounded up to 8
//     W: [M,KH,KW,C] padded with zeros to [M,KH,KW,C'] at compile time
// Exact: the added channels are zero in both the input and the weights. Convolutions reading the
// same x share one Pad.
// Needs: channels-last (NhwcConv with a constant weight). Runs on request (--enable-pass; compile.ts
// TARGET_SKIPPED_PASSES has the measurements), where channels-last runs (f16/bf16 GPU plans),
// before lower-precision rounds the padded weights.

import { attr, Attrs, type Graph, type Node, type Value } from '../ir/graph.js';
import { TensorData } from '../ir/tensor.js';
import { bumpStat, type Pass } from './pass.js';

/** Channels per pixel that half-precision tensor-core convolutions want (16 bytes). */
export const CONV_CHANNEL_MULTIPLE = 8;

const roundUp = (c: number): number => Math.ceil(c / CONV_CHANNEL_MULTIPLE) * CONV_CHANNEL_MULTIPLE;

/** The convolution's input channel count when padding applies to it. */
function paddableChannels(n: Node): number | undefined {
  if (n.op !== 'NhwcConv' || n.attrs.int('group', 1) !== 1) return undefined;
  const [x, w] = n.inputs;
  const c = x?.type.shape[3];
  if (!x || !w?.constant || x.type.shape.length !== 4 || w.type.shape.length !== 4 || typeof c !== 'number') return undefined;
  return c % CONV_CHANNEL_MULTIPLE !== 0 && w.type.shape[3] === c ? c : undefined;
}

/** W [M,KH,KW,C] with zero channels appended up to `padded`. */
function padWeight(w: TensorData, padded: number): TensorData {
  const [m, kh, kw, c] = w.dims as [number, number, number, number];
  const src = w.values;
  const dst = new Float64Array(m * kh * kw * padded);
  for (let pixel = 0; pixel < m * kh * kw; pixel++) dst.set(src.subarray(pixel * c, (pixel + 1) * c), pixel * padded);
  return TensorData.fromValues(w.dtype, [m, kh, kw, padded], dst);
}

export function padConvChannels(g: Graph): number {
  const padOf = new Map<Value, Value>();
  const order: Node[] = [];
  let padded = 0;
  for (const n of [...g.nodes]) {
    const c = paddableChannels(n);
    if (c === undefined) {
      order.push(n);
      continue;
    }
    const wide = roundUp(c);
    const x = n.inputs[0]!;
    let xp = padOf.get(x);
    if (!xp) {
      const [N, H, W] = x.type.shape;
      const pads = g.addConstant(`${x.name}_channel_pads`, TensorData.fromValues('i64', [8], [0, 0, 0, 0, 0, 0, 0, wide - c]));
      const pad = g.addNode({
        op: 'Pad', inputs: [x, pads], attrs: new Attrs([['mode', attr.string('constant')]]),
        outputTypes: [{ dtype: x.type.dtype, shape: [N!, H!, W!, wide] }], outputNames: [`${x.name}_c${wide}`], loc: `${n.loc}/pad_channels`,
      });
      order.push(pad);
      padOf.set(x, (xp = pad.outputs[0]!));
    }
    const w = n.inputs[1]!;
    n.inputs[0] = xp;
    n.inputs[1] = g.addConstant(`${w.name}_c${wide}`, padWeight(w.constant!, wide));
    order.push(n);
    padded++;
  }
  g.nodes = order;
  g.pruneConstants();
  return padded;
}

export const padConvChannelsPass: Pass = {
  name: 'pad-conv-channels',
  summary: 'pad the input channels of channels-last convolutions to a multiple of 8 (zeros in input and weights), for tensor-core kernels',
  run(g, ctx) {
    if (ctx.floatStorage === 'f32') return false;
    const padded = padConvChannels(g);
    if (padded) bumpStat(ctx, 'pad-conv-channels', 'convolutions', padded);
    return padded > 0;
  },
};
