// Channels-last (NHWC) forms of the 2-D convolution and pools, made only by the channels-last pass
// for GPU plans (cuDNN's tensor-core kernels read NHWC); the importer refuses them. Each is its
// NCHW op with permuted operands: X [N,H,W,C], W [M,KH,KW,C/group], result [N,OH,OW,M]; the
// attributes (pads, strides, dilations, kernel_shape, group, auto_pad, ceil_mode...) keep their
// ONNX meaning over the spatial axes (H, W). Shape rule and reference implementation are the NCHW
// op's, applied to transposed operands, so the two forms agree by construction.

import { attr, Attrs } from '../ir/graph.js';
// The NCHW ops these forms wrap must be registered first.
import './contraction.js';
import './movement.js';
import './pooling.js';
import { defineOp, getOp, normalizeInferResult, OpError, type InferContext, type OpDef } from '../ir/ops.js';
import type { TensorData } from '../ir/tensor.js';
import type { TensorType } from '../ir/types.js';

/** NHWC -> NCHW (also [M,KH,KW,C] -> [M,C,KH,KW]): dim k of the result is dim PERM[k] of the input. */
export const TO_CHANNELS_FIRST: readonly number[] = [0, 3, 1, 2];
/** NCHW -> NHWC. */
export const TO_CHANNELS_LAST: readonly number[] = [0, 2, 3, 1];

/** The channels-last op of each NCHW op, and back. */
export const CHANNELS_LAST_OPS: Readonly<Record<string, string>> = { Conv: 'NhwcConv', MaxPool: 'NhwcMaxPool', AveragePool: 'NhwcAveragePool' };

export function permuteType(t: TensorType, perm: readonly number[]): TensorType {
  return { dtype: t.dtype, shape: perm.map((p) => t.shape[p]!) };
}

export function permuteTensor(t: TensorData, perm: readonly number[]): TensorData {
  return getOp('Transpose')!.evaluate([t], new Attrs([['perm', attr.ints(perm)]]), 1)[0]!;
}

/** Inputs of rank 4 are permuted to NCHW (X and W); others (Conv's bias) stay. */
const toFirst = (t: TensorType): TensorType => (t.shape.length === 4 ? permuteType(t, TO_CHANNELS_FIRST) : t);

function defineChannelsLast(name: string, base: OpDef, inputs: [number, number]): void {
  defineOp({
    name,
    fusionClass: base.fusionClass,
    inputs,
    outputs: [1, 1],
    internal: true,
    infer(ctx) {
      const x = ctx.input(0);
      if (x.shape.length !== 4) throw new OpError(`${name} takes a 4-D input [N,H,W,C], got [${x.shape}]`);
      const view: InferContext = {
        node: ctx.node,
        attrs: ctx.attrs,
        inputCount: ctx.inputCount,
        input: (i) => toFirst(ctx.input(i)),
        optionalInput: (i) => {
          const t = ctx.optionalInput(i);
          return t && toFirst(t);
        },
        constant: () => undefined,
        shapeValue: () => undefined,
        freshDim: (hint) => ctx.freshDim(hint),
      };
      const [y] = normalizeInferResult(base.infer(view)).types;
      return [permuteType(y!, TO_CHANNELS_LAST)];
    },
    evaluate(ins: readonly (TensorData | undefined)[], attrs: Attrs) {
      const nchw = ins.map((t) => (t && t.rank === 4 ? permuteTensor(t, TO_CHANNELS_FIRST) : t));
      const [y] = base.evaluate(nchw, attrs, 1);
      return [permuteTensor(y!, TO_CHANNELS_LAST)];
    },
  });
}

defineChannelsLast('NhwcConv', getOp('Conv')!, [2, 3]);
defineChannelsLast('NhwcMaxPool', getOp('MaxPool')!, [1, 1]);
defineChannelsLast('NhwcAveragePool', getOp('AveragePool')!, [1, 1]);
