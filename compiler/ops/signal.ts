// Signal processing: DFT (complex values as a trailing [re, im] axis), STFT, the Hann, Hamming and
// Blackman windows and MelWeightMatrix. The reference DFT is the direct O(n^2) sum, which is exact
// enough to define the op; kernels are free to use an FFT.

import { dtypeFromOnnx, isFloat, isInteger, type DType } from '../ir/dtype.js';
import { defineOp, type InferContext } from '../ir/ops.js';
import type { Dim } from '../ir/types.js';
import { Attrs, OpError, TensorData, normalizeAxis, requireInput } from './common.js';
import { numbersInput } from './movement-util.js';

// ---------------------------------------------------------------------------------------------
// DFT

/** Transform length and output length along the axis (numpy semantics: pad or truncate to len). */
function dftLengths(n: number, dftLength: number | undefined, inverse: boolean, onesided: boolean): [number, number] {
  const len = dftLength ?? (inverse && onesided ? 2 * (n - 1) : n);
  if (!(len > 0)) throw new OpError(`dft_length must be positive, got ${len}`);
  return [len, onesided && !inverse ? Math.floor(len / 2) + 1 : len];
}

/**
 * One transform of `len` points: src(k) gives the input as [re, im] at k < n (zero beyond), and
 * the result's first outLen points are written through dst. Inverse one-sided input is extended
 * with its Hermitian mirror and only real parts are kept.
 */
function dft1(src: (k: number) => [number, number], n: number, len: number, outLen: number, inverse: boolean, onesided: boolean, dst: (k: number, re: number, im: number) => void): void {
  const re = new Float64Array(len);
  const im = new Float64Array(len);
  if (inverse && onesided) {
    const half = Math.floor(len / 2);
    for (let k = 0; k <= half && k < n; k++) {
      const [a, b] = src(k);
      re[k] = a;
      im[k] = b;
      if (k > 0 && len - k > half) { re[len - k] = a; im[len - k] = -b; }
    }
  } else {
    for (let k = 0; k < Math.min(n, len); k++) [re[k], im[k]] = src(k);
  }
  const sign = inverse ? 1 : -1;
  for (let f = 0; f < outLen; f++) {
    let sr = 0;
    let si = 0;
    for (let t = 0; t < len; t++) {
      // Reduce the angle's integer part exactly before scaling by 2pi.
      const ang = (sign * 2 * Math.PI * ((f * t) % len)) / len;
      const c = Math.cos(ang);
      const s = Math.sin(ang);
      sr += re[t]! * c - im[t]! * s;
      si += re[t]! * s + im[t]! * c;
    }
    if (inverse) { sr /= len; si /= len; }
    dst(f, sr, si);
  }
}

/** Runs a DFT over `axis` of x ([..., n, ..., 1|2]) and returns the result tensor. */
function runDft(x: TensorData, axis: number, dftLength: number | undefined, inverse: boolean, onesided: boolean): TensorData {
  const dims = x.dims;
  const rank = dims.length;
  const comps = dims[rank - 1]!;
  const n = dims[axis]!;
  const [len, outLen] = dftLengths(n, dftLength, inverse, onesided);
  const outComps = inverse && onesided ? 1 : 2;
  let outer = 1;
  for (let k = 0; k < axis; k++) outer *= dims[k]!;
  let inner = 1;
  for (let k = axis + 1; k < rank - 1; k++) inner *= dims[k]!;
  const v = x.values;
  const out = new Float64Array(outer * outLen * inner * outComps);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const src = (k: number): [number, number] => {
        const at = ((o * n + k) * inner + i) * comps;
        return [v[at]!, comps === 2 ? v[at + 1]! : 0];
      };
      dft1(src, n, len, outLen, inverse, onesided, (f, re, im) => {
        const at = ((o * outLen + f) * inner + i) * outComps;
        out[at] = re;
        if (outComps === 2) out[at + 1] = im;
      });
    }
  }
  const outDims = [...dims];
  outDims[axis] = outLen;
  outDims[rank - 1] = outComps;
  return TensorData.fromValues(x.dtype, outDims, out);
}

function scalarInput(t: TensorData | undefined): number | undefined {
  return t && t.size > 0 ? t.values[0]! : undefined;
}

defineOp({
  name: 'DFT',
  fusionClass: 'opaque',
  inputs: [1, 3],
  outputs: [1, 1],
  onnxSince: 17,
  // Opsets 17-19 give the axis as an attribute (default 1); the IR form takes it as input 2.
  onnxLower(ctx) {
    const inputs = [...ctx.inputs];
    let attrs = ctx.attrs;
    if (ctx.opset < 20) {
      const axis = attrs.int('axis', 1);
      attrs = attrs.with('axis', undefined);
      while (inputs.length < 2) inputs.push(null);
      inputs[2] = ctx.constant(TensorData.scalar('i64', axis));
    }
    ctx.setOutputs(ctx.emit('DFT', inputs, attrs, 1));
  },
  infer(ctx) {
    const x = ctx.input(0);
    if (!isFloat(x.dtype)) throw new OpError(`DFT input must be float, got ${x.dtype}`);
    const rank = x.shape.length;
    const last = x.shape[rank - 1];
    if (rank < 2 || (typeof last === 'number' && last !== 1 && last !== 2)) {
      throw new OpError(`DFT input must have a last dim of 1 (real) or 2 (complex), got [${x.shape.join(',')}]`);
    }
    const inverse = ctx.attrs.int('inverse', 0) !== 0;
    const onesided = ctx.attrs.int('onesided', 0) !== 0;
    if (onesided && !inverse && last === 2) throw new OpError(`DFT with onesided=1 needs a real input (last dim 1), got [${x.shape.join(',')}]`);
    const lenIn = ctx.optionalInput(1) ? numbersInput(ctx, 1) : undefined;
    const dftLength = lenIn?.[0];
    const axisIn = ctx.optionalInput(2) ? numbersInput(ctx, 2) : [-2];
    const out: Dim[] = [...x.shape];
    out[rank - 1] = inverse && onesided ? 1 : 2;
    const lengthOf = (d: Dim): Dim => {
      if (ctx.optionalInput(1) && dftLength === undefined) return ctx.freshDim('dft');
      if (typeof d !== 'number') return dftLength === undefined && !onesided ? d : ctx.freshDim('dft');
      return dftLengths(d, dftLength, inverse, onesided)[1];
    };
    if (axisIn) {
      const axis = normalizeAxis(axisIn[0]!, rank, 'DFT axis');
      if (axis === rank - 1) throw new OpError(`DFT axis ${axisIn[0]} names the [re, im] dim of a rank-${rank} input`);
      out[axis] = lengthOf(x.shape[axis]!);
    } else {
      // Axis known only at run time: dims the transform cannot change keep their size.
      for (let k = 0; k < rank - 1; k++) {
        const d = x.shape[k]!;
        const known = typeof d === 'number' && !(ctx.optionalInput(1) && dftLength === undefined);
        // A dim too short to be the axis (an inverse one-sided transform of 1 point) keeps its size.
        const l = known && (dftLength !== undefined || !(inverse && onesided) || d > 1) ? dftLengths(d, dftLength, inverse, onesided)[1] : known && d === 1 ? d : undefined;
        if (l !== d) out[k] = ctx.freshDim('dft');
      }
    }
    return [{ dtype: x.dtype, shape: out }];
  },
  evaluate(inputs, attrs) {
    const x = requireInput(inputs, 0, 'DFT');
    const rank = x.rank;
    const axis = normalizeAxis(scalarInput(inputs[2]) ?? -2, rank, 'DFT axis');
    if (axis === rank - 1) throw new OpError(`DFT axis ${axis} names the [re, im] dim of a rank-${rank} input`);
    return [runDft(x, axis, scalarInput(inputs[1]), attrs.int('inverse', 0) !== 0, attrs.int('onesided', 0) !== 0)];
  },
});

// ---------------------------------------------------------------------------------------------
// STFT

defineOp({
  name: 'STFT',
  fusionClass: 'opaque',
  inputs: [2, 4],
  outputs: [1, 1],
  onnxSince: 17,
  infer(ctx) {
    const x = ctx.input(0);
    if (!isFloat(x.dtype)) throw new OpError(`STFT input signal must be float, got ${x.dtype}`);
    if (x.shape.length !== 3) throw new OpError(`STFT input signal must have shape [batch, length, 1|2], got [${x.shape.join(',')}]`);
    const onesided = ctx.attrs.int('onesided', 1) !== 0;
    const step = numbersInput(ctx, 1)?.[0];
    const w = ctx.optionalInput(2);
    let frame: Dim | undefined = ctx.optionalInput(3) ? numbersInput(ctx, 3)?.[0] : w ? w.shape[0] : x.shape[1];
    if (ctx.optionalInput(3) && frame === undefined) frame = ctx.freshDim('frame');
    const L = x.shape[1]!;
    const frames = typeof L === 'number' && typeof frame === 'number' && step !== undefined ? Math.floor((L - frame) / step) + 1 : ctx.freshDim('frames');
    const bins = typeof frame === 'number' ? (onesided ? Math.floor(frame / 2) + 1 : frame) : ctx.freshDim('bins');
    return [{ dtype: x.dtype, shape: [x.shape[0]!, frames, bins, 2] }];
  },
  evaluate(inputs, attrs) {
    const x = requireInput(inputs, 0, 'STFT');
    const step = scalarInput(inputs[1]);
    if (step === undefined || step <= 0) throw new OpError(`STFT frame_step must be positive, got ${step}`);
    const w = inputs[2]?.values;
    const frame = scalarInput(inputs[3]) ?? (w ? w.length : x.dims[1]!);
    if (w && w.length !== frame) throw new OpError(`STFT window has ${w.length} elements but frame_length is ${frame}`);
    const onesided = attrs.int('onesided', 1) !== 0;
    const [B, L, comps] = x.dims as [number, number, number];
    if (onesided && comps === 2) throw new OpError('STFT with onesided=1 needs a real signal (last dim 1)');
    const frames = Math.floor((L - frame) / step) + 1;
    if (frames < 1) throw new OpError(`STFT frame_length ${frame} is longer than the signal (${L})`);
    const bins = onesided ? Math.floor(frame / 2) + 1 : frame;
    const v = x.values;
    const out = new Float64Array(B * frames * bins * 2);
    for (let b = 0; b < B; b++) {
      for (let f = 0; f < frames; f++) {
        const src = (k: number): [number, number] => {
          const at = (b * L + f * step + k) * comps;
          const g = w ? w[k]! : 1;
          return [v[at]! * g, comps === 2 ? v[at + 1]! * g : 0];
        };
        dft1(src, frame, frame, bins, false, false, (k, re, im) => {
          const at = ((b * frames + f) * bins + k) * 2;
          out[at] = re;
          out[at + 1] = im;
        });
      }
    }
    return [TensorData.fromValues(x.dtype, [B, frames, bins, 2], out)];
  },
});

// ---------------------------------------------------------------------------------------------
// Windows and MelWeightMatrix

function outputDtype(attrs: Attrs): DType {
  const code = attrs.int('output_datatype', 1);
  const d = dtypeFromOnnx(code);
  if (!d || d === 'bool') throw new OpError(`attribute 'output_datatype' must name a numeric type, got ${code}`);
  return d;
}

function sizeDim(ctx: InferContext, i: number, what: string): Dim {
  const t = ctx.input(i);
  if (!isInteger(t.dtype)) throw new OpError(`input ${what} must be an integer, got ${t.dtype}`);
  const v = numbersInput(ctx, i)?.[0];
  if (v !== undefined && v < 0) throw new OpError(`input ${what} must be >= 0, got ${v}`);
  return v ?? ctx.freshDim(what);
}

/** A cosine-sum window: w[n] = sum_k (-1)^k a_k cos(2 pi k n / N), N = size or size - 1. */
function defineWindow(name: string, coeffs: readonly number[]): void {
  defineOp({
    name,
    fusionClass: 'opaque',
    inputs: [1, 1],
    outputs: [1, 1],
    onnxSince: 17,
    infer(ctx) {
      return [{ dtype: outputDtype(ctx.attrs), shape: [sizeDim(ctx, 0, 'size')] }];
    },
    evaluate(inputs, attrs) {
      const size = scalarInput(requireInput(inputs, 0, name)) ?? 0;
      const den = attrs.int('periodic', 1) !== 0 ? size : size - 1;
      const out = new Float64Array(size);
      for (let n = 0; n < size; n++) {
        let s = 0;
        coeffs.forEach((a, k) => { s += (k % 2 === 0 ? a : -a) * Math.cos((2 * Math.PI * k * n) / den); });
        out[n] = s;
      }
      return [TensorData.fromValues(outputDtype(attrs), [size], out)];
    },
  });
}

defineWindow('HannWindow', [0.5, 0.5]);
defineWindow('HammingWindow', [25 / 46, 21 / 46]);
defineWindow('BlackmanWindow', [0.42, 0.5, 0.08]);

defineOp({
  name: 'MelWeightMatrix',
  fusionClass: 'opaque',
  inputs: [5, 5],
  outputs: [1, 1],
  onnxSince: 17,
  infer(ctx) {
    const mel = sizeDim(ctx, 0, 'num_mel_bins');
    const len = sizeDim(ctx, 1, 'dft_length');
    return [{ dtype: outputDtype(ctx.attrs), shape: [typeof len === 'number' ? Math.floor(len / 2) + 1 : ctx.freshDim('bins'), mel] }];
  },
  evaluate(inputs, attrs) {
    const [mels, len, rate, lo, hi] = [0, 1, 2, 3, 4].map((i) => scalarInput(requireInput(inputs, i, 'MelWeightMatrix'))!) as [number, number, number, number, number];
    const bins = Math.floor(len / 2) + 1;
    const toMel = (hz: number) => 2595 * Math.log10(1 + hz / 700);
    const lowMel = toMel(lo);
    const step = (toMel(hi) - lowMel) / (mels + 2);
    // Triangle corners as spectrogram bin indices.
    const edge = Array.from({ length: mels + 2 }, (_, i) => Math.floor(((len + 1) * 700 * (10 ** ((i * step + lowMel) / 2595) - 1)) / rate));
    const out = new Float64Array(bins * mels);
    for (let m = 0; m < mels; m++) {
      const [l, c, h] = [edge[m]!, edge[m + 1]!, edge[m + 2]!];
      if (c === l) { if (c >= 0 && c < bins) out[c * mels + m] = 1; } else {
        for (let j = Math.max(l, 0); j <= c && j < bins; j++) out[j * mels + m] = (j - l) / (c - l);
      }
      for (let j = Math.max(c, 0); j < h && j < bins; j++) out[j * mels + m] = (h - j) / (h - c);
    }
    return [TensorData.fromValues(outputDtype(attrs), [bins, mels], out)];
  },
});
