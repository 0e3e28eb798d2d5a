// Signal processing, as compiler/ops/signal.ts defines it: DFT (complex values as a trailing
// [re, im] axis; one-sided, inverse, padded or truncated to dft_length), STFT, the Hann, Hamming
// and Blackman windows and MelWeightMatrix. The DFT is the reference's direct sum in float64 with
// the same exactly reduced angles (a twiddle table indexed by f * t mod len).
#include "f64_ref.h"

namespace mcpc {
namespace ew {
namespace {

constexpr double kPi = 3.141592653589793;

/** cos/sin of sign * 2 pi j / len for j in [0, len), computed as the reference does. */
struct Twiddles {
  std::vector<double> c, s;
  Twiddles(int64_t len, double sign) : c(static_cast<size_t>(len)), s(static_cast<size_t>(len)) {
    for (int64_t j = 0; j < len; ++j) {
      const double ang = (sign * 2 * kPi * static_cast<double>(j)) / static_cast<double>(len);
      c[j] = std::cos(ang);
      s[j] = std::sin(ang);
    }
  }
};

/**
 * One transform of `len` points of (re, im) (n given points, zero beyond); writes outLen results.
 * Inverse one-sided input is extended with its Hermitian mirror.
 */
void Dft1(const Twiddles& tw, std::vector<double>& re, std::vector<double>& im, int64_t n, int64_t len, int64_t outLen, bool inverse,
          bool onesided, double* outRe, double* outIm) {
  if (inverse && onesided) {
    const int64_t half = len / 2;
    for (int64_t k = len - 1; k > 0; --k) {
      if (k > half || k >= n) { re[k] = 0; im[k] = 0; }
    }
    for (int64_t k = 1; k <= half && k < n; ++k) {
      if (len - k > half) { re[len - k] = re[k]; im[len - k] = -im[k]; }
    }
  }
  for (int64_t f = 0; f < outLen; ++f) {
    double sr = 0, si = 0;
    for (int64_t t = 0; t < len; ++t) {
      const int64_t j = (f * t) % len;
      sr += re[t] * tw.c[j] - im[t] * tw.s[j];
      si += re[t] * tw.s[j] + im[t] * tw.c[j];
    }
    if (inverse) {
      sr /= static_cast<double>(len);
      si /= static_cast<double>(len);
    }
    outRe[f] = sr;
    outIm[f] = si;
  }
}

StatusOr<std::unique_ptr<Kernel>> MakeDft(const PrepareContext& ctx) {
  const KernelSpec spec = ctx.spec;
  const Slot* x = ctx.input(0);
  if (!x) return BadPlan(spec, "needs an input");
  if (!IsIn(kFloatTypes, x->dtype)) return Unsupported(spec, x->dtype);
  const std::vector<int64_t> dims = x->shape;
  const std::vector<int64_t> outDims = ctx.output(0)->shape;
  const int64_t rank = static_cast<int64_t>(dims.size());
  if (rank < 2 || outDims.size() != dims.size()) return BadPlan(spec, "input must have rank >= 2");
  const bool inverse = spec.Int("inverse", 0) != 0, onesided = spec.Int("onesided", 0) != 0;
  return MakeKernel([=](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext&) -> Status {
    const std::vector<int64_t> lenIn = in.size() > 1 ? ViewInts(in[1]) : std::vector<int64_t>();
    const std::vector<int64_t> axisIn = in.size() > 2 ? ViewInts(in[2]) : std::vector<int64_t>();
    int64_t axis = axisIn.empty() ? -2 : axisIn[0];
    if (axis < 0) axis += rank;
    if (axis < 0 || axis >= rank - 1) return KernelError(spec, "axis out of range (or names the [re, im] dim)");
    const int64_t n = dims[axis], comps = dims[rank - 1];
    const int64_t len = !lenIn.empty() ? lenIn[0] : (inverse && onesided ? 2 * (n - 1) : n);
    if (len <= 0) return KernelError(spec, "dft_length must be positive");
    const int64_t outLen = onesided && !inverse ? len / 2 + 1 : len;
    const int64_t outComps = inverse && onesided ? 1 : 2;
    if (outDims[axis] != outLen || outDims[rank - 1] != outComps) return KernelError(spec, "transform length differs from the planned output shape");
    int64_t outer = 1, inner = 1;
    for (int64_t k = 0; k < axis; ++k) outer *= dims[k];
    for (int64_t k = axis + 1; k < rank - 1; ++k) inner *= dims[k];
    const std::vector<double> v = ViewDoubles(in[0]);
    const Twiddles tw(len, inverse ? 1.0 : -1.0);
    std::vector<double> y(static_cast<size_t>(outer * outLen * inner * outComps));
    std::vector<double> re(len), im(len), ore(outLen), oim(outLen);
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t i = 0; i < inner; ++i) {
        std::fill(re.begin(), re.end(), 0.0);
        std::fill(im.begin(), im.end(), 0.0);
        for (int64_t k = 0; k < std::min(n, len); ++k) {
          const int64_t at = ((o * n + k) * inner + i) * comps;
          re[k] = v[at];
          im[k] = comps == 2 ? v[at + 1] : 0;
        }
        Dft1(tw, re, im, n, len, outLen, inverse, onesided, ore.data(), oim.data());
        for (int64_t f = 0; f < outLen; ++f) {
          const int64_t at = ((o * outLen + f) * inner + i) * outComps;
          y[at] = ore[f];
          if (outComps == 2) y[at + 1] = oim[f];
        }
      }
    }
    WriteDoubles(out[0].data, out[0].dtype, y.data(), out[0].numel);
    return Status::Ok();
  });
}

StatusOr<std::unique_ptr<Kernel>> MakeStft(const PrepareContext& ctx) {
  const KernelSpec spec = ctx.spec;
  const Slot* x = ctx.input(0);
  if (!x || !ctx.input(1)) return BadPlan(spec, "needs signal and frame_step");
  if (!IsIn(kFloatTypes, x->dtype)) return Unsupported(spec, x->dtype);
  if (x->shape.size() != 3) return BadPlan(spec, "signal must be [batch, length, 1|2]");
  const bool onesided = spec.Int("onesided", 1) != 0;
  const int64_t B = x->shape[0], L = x->shape[1], comps = x->shape[2];
  if (onesided && comps == 2) return BadPlan(spec, "onesided=1 needs a real signal");
  const std::vector<int64_t> outDims = ctx.output(0)->shape;
  return MakeKernel([=](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext&) -> Status {
    const std::vector<int64_t> stepIn = ViewInts(in[1]);
    const std::vector<double> w = in.size() > 2 ? ViewDoubles(in[2]) : std::vector<double>();
    const std::vector<int64_t> frameIn = in.size() > 3 ? ViewInts(in[3]) : std::vector<int64_t>();
    const int64_t step = stepIn.empty() ? 0 : stepIn[0];
    if (step <= 0) return KernelError(spec, "frame_step must be positive");
    const int64_t frame = !frameIn.empty() ? frameIn[0] : (!w.empty() ? static_cast<int64_t>(w.size()) : L);
    if (!w.empty() && static_cast<int64_t>(w.size()) != frame) return KernelError(spec, "window length differs from frame_length");
    const int64_t frames = (L - frame) / step + 1;
    if (frame < 1 || frame > L || frames < 1) return KernelError(spec, "frame_length is longer than the signal");
    const int64_t bins = onesided ? frame / 2 + 1 : frame;
    if (outDims[1] != frames || outDims[2] != bins) return KernelError(spec, "frames/bins differ from the planned output shape");
    const std::vector<double> v = ViewDoubles(in[0]);
    const Twiddles tw(frame, -1.0);
    std::vector<double> y(static_cast<size_t>(B * frames * bins * 2));
    std::vector<double> re(frame), im(frame), ore(bins), oim(bins);
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t f = 0; f < frames; ++f) {
        for (int64_t k = 0; k < frame; ++k) {
          const int64_t at = (b * L + f * step + k) * comps;
          const double g = w.empty() ? 1.0 : w[k];
          re[k] = v[at] * g;
          im[k] = comps == 2 ? v[at + 1] * g : 0;
        }
        Dft1(tw, re, im, frame, frame, bins, false, false, ore.data(), oim.data());
        for (int64_t k = 0; k < bins; ++k) {
          const int64_t at = ((b * frames + f) * bins + k) * 2;
          y[at] = ore[k];
          y[at + 1] = oim[k];
        }
      }
    }
    WriteDoubles(out[0].data, out[0].dtype, y.data(), out[0].numel);
    return Status::Ok();
  });
}

/** A cosine-sum window: w[n] = sum_k (-1)^k a_k cos(2 pi k n / N), N = size or size - 1. */
StatusOr<std::unique_ptr<Kernel>> MakeWindow(const PrepareContext& ctx, std::vector<double> coeffs) {
  const KernelSpec spec = ctx.spec;
  if (!ctx.input(0)) return BadPlan(spec, "needs size");
  if (ctx.output(0)->dtype == DType::Bool) return Unsupported(spec, DType::Bool, "output");
  const bool periodic = spec.Int("periodic", 1) != 0;
  return MakeKernel([=](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext&) -> Status {
    const std::vector<int64_t> sz = ViewInts(in[0]);
    const int64_t size = sz.empty() ? 0 : sz[0];
    if (size != out[0].numel) return KernelError(spec, "size differs from the planned output shape");
    const double den = static_cast<double>(periodic ? size : size - 1);
    std::vector<double> y(static_cast<size_t>(size));
    for (int64_t n = 0; n < size; ++n) {
      double s = 0;
      for (size_t k = 0; k < coeffs.size(); ++k) {
        s += (k % 2 == 0 ? coeffs[k] : -coeffs[k]) * std::cos((2 * kPi * static_cast<double>(k) * static_cast<double>(n)) / den);
      }
      y[n] = s;
    }
    WriteDoubles(out[0].data, out[0].dtype, y.data(), size);
    return Status::Ok();
  });
}

StatusOr<std::unique_ptr<Kernel>> MakeMel(const PrepareContext& ctx) {
  const KernelSpec spec = ctx.spec;
  for (size_t i = 0; i < 5; ++i) {
    if (!ctx.input(i)) return BadPlan(spec, "needs five inputs");
  }
  if (ctx.output(0)->dtype == DType::Bool) return Unsupported(spec, DType::Bool, "output");
  return MakeKernel([=](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext&) -> Status {
    double s[5];
    for (int i = 0; i < 5; ++i) {
      const std::vector<double> v = ViewDoubles(in[i]);
      s[i] = v.empty() ? 0 : v[0];
    }
    const int64_t mels = static_cast<int64_t>(s[0]), len = static_cast<int64_t>(s[1]);
    const double rate = s[2], lo = s[3], hi = s[4];
    const int64_t bins = len / 2 + 1;
    if (bins * mels != out[0].numel) return KernelError(spec, "sizes differ from the planned output shape");
    auto toMel = [](double hz) { return 2595 * std::log10(1 + hz / 700); };
    const double lowMel = toMel(lo);
    const double step = (toMel(hi) - lowMel) / static_cast<double>(mels + 2);
    // Triangle corners as spectrogram bin indices.
    std::vector<int64_t> edge(static_cast<size_t>(mels + 2));
    for (int64_t i = 0; i < mels + 2; ++i) {
      edge[i] = static_cast<int64_t>(std::floor((static_cast<double>(len + 1) * 700 * (std::pow(10.0, (static_cast<double>(i) * step + lowMel) / 2595) - 1)) / rate));
    }
    std::vector<double> y(static_cast<size_t>(bins * mels), 0.0);
    for (int64_t m = 0; m < mels; ++m) {
      const int64_t l = edge[m], c = edge[m + 1], h = edge[m + 2];
      if (c == l) {
        if (c >= 0 && c < bins) y[c * mels + m] = 1;
      } else {
        for (int64_t j = std::max<int64_t>(l, 0); j <= c && j < bins; ++j) y[j * mels + m] = static_cast<double>(j - l) / static_cast<double>(c - l);
      }
      for (int64_t j = std::max<int64_t>(c, 0); j < h && j < bins; ++j) y[j * mels + m] = static_cast<double>(h - j) / static_cast<double>(h - c);
    }
    WriteDoubles(out[0].data, out[0].dtype, y.data(), out[0].numel);
    return Status::Ok();
  });
}

MCPC_REGISTER_KERNEL("DFT", MakeDft);
MCPC_REGISTER_KERNEL("STFT", MakeStft);
MCPC_REGISTER_KERNEL("HannWindow", [](const PrepareContext& ctx) { return MakeWindow(ctx, {0.5, 0.5}); });
MCPC_REGISTER_KERNEL("HammingWindow", [](const PrepareContext& ctx) { return MakeWindow(ctx, {25.0 / 46.0, 21.0 / 46.0}); });
MCPC_REGISTER_KERNEL("BlackmanWindow", [](const PrepareContext& ctx) { return MakeWindow(ctx, {0.42, 0.5, 0.08}); });
MCPC_REGISTER_KERNEL("MelWeightMatrix", MakeMel);

}  // namespace
}  // namespace ew
}  // namespace mcpc
