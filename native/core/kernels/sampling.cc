// GridSample and AffineGrid. GridSample (opset 16+, any number of spatial dims): samples X at the normalized grid positions
// with nearest, linear or cubic interpolation and zeros, border or reflection padding. Computed in
// double and separable per axis, exactly as compiler/ops/sampling.ts does.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "elementwise.h"

namespace mcpc {
namespace ew {
namespace {

using Ints = std::vector<int64_t>;

enum class Mode { Linear, Nearest, Cubic };
enum class Padding { Zeros, Border, Reflection };

/** Folds x into [lo, hi] by reflecting at the borders as often as needed. */
double Reflect(double x, double lo, double hi) {
  const double span = hi - lo;
  if (x >= lo && x <= hi) return x;
  if (span <= 0) return lo;
  const bool below = x < lo;
  const double d = below ? lo - x : x - hi;
  const double n = std::floor(d / span);
  const double r = d - n * span;
  // An even number of whole spans lands on the side the coordinate left from.
  return (std::fmod(n, 2.0) == 0) == below ? lo + r : hi - r;
}

double RoundHalfEven(double x) {
  const double f = std::floor(x);
  const double d = x - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return std::fmod(f, 2.0) == 0 ? f : f + 1;
}

struct Taps {
  int n = 0;
  int64_t idx[4];
  double w[4];
};

StatusOr<std::unique_ptr<Kernel>> MakeGridSample(const PrepareContext& ctx) {
  const KernelSpec& spec = ctx.spec;
  const Slot* x = ctx.input(0);
  const Slot* g = ctx.input(1);
  if (!x || !g) return BadPlan(spec, "needs X and grid");
  if (!(Bit(x->dtype) & kFloatTypes) || !(Bit(g->dtype) & kFloatTypes)) return Unsupported(spec, x->dtype);
  const std::string ms = spec.String("mode", "linear"), ps = spec.String("padding_mode", "zeros");
  Mode mode;
  if (ms == "linear" || ms == "bilinear") mode = Mode::Linear;
  else if (ms == "nearest") mode = Mode::Nearest;
  else if (ms == "cubic" || ms == "bicubic") mode = Mode::Cubic;
  else return BadPlan(spec, "unknown mode " + ms);
  Padding pad;
  if (ps == "zeros") pad = Padding::Zeros;
  else if (ps == "border") pad = Padding::Border;
  else if (ps == "reflection") pad = Padding::Reflection;
  else return BadPlan(spec, "unknown padding_mode " + ps);
  const bool align = spec.Int("align_corners", 0) != 0;
  if (x->shape.size() < 3 || g->shape.size() != x->shape.size()) return BadPlan(spec, "grid rank must equal X rank (>= 3)");
  const int64_t N = x->shape[0], C = x->shape[1];
  const Ints sp(x->shape.begin() + 2, x->shape.end());
  const int r = static_cast<int>(sp.size());
  if (g->shape.back() != r) return BadPlan(spec, "grid last dim must equal the number of spatial dims");
  if (r > 8) return Unsupported(spec, x->dtype, "input with more than 8 spatial dims,");
  const int64_t P = Numel(Ints(g->shape.begin() + 1, g->shape.end() - 1));
  const int64_t plane = Numel(sp);
  Ints strides(r, 1);
  for (int i = r - 1; i > 0; --i) strides[i - 1] = strides[i] * sp[i];
  const DType xt = x->dtype, gt = g->dtype;
  return MakeKernel([=](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext&) {
    const std::vector<double> xv = ReadDoubles(in[0].data, xt, N * C * plane);
    const std::vector<double> gv = ReadDoubles(in[1].data, gt, N * P * r);
    std::vector<double> res(N * C * P);
    std::vector<Taps> taps(r);
    for (int64_t n = 0; n < N; ++n) {
      for (int64_t p = 0; p < P; ++p) {
        const int64_t gb = (n * P + p) * r;
        for (int i = 0; i < r; ++i) {
          // Grid vectors list the innermost axis first (x, y[, z]).
          const double nv = gv[gb + r - 1 - i];
          const double L = static_cast<double>(sp[i]);
          double v = align ? ((nv + 1) / 2) * (L - 1) : ((nv + 1) * L - 1) / 2;
          const double lo = align ? 0 : -0.5, hi = align ? L - 1 : L - 0.5;
          if (mode == Mode::Nearest) v = RoundHalfEven(v);
          if (v < lo || v > hi) {
            if (pad == Padding::Border) v = std::min(std::max(v, 0.0), L - 1);
            else if (pad == Padding::Reflection) v = Reflect(v, lo, hi);
          }
          Taps& t = taps[i];
          if (mode == Mode::Nearest) {
            t.n = 1;
            t.idx[0] = static_cast<int64_t>(std::trunc(v));
            t.w[0] = 1;
          } else {
            const double f = std::floor(v), d = v - f;
            const int64_t fi = static_cast<int64_t>(f);
            if (mode == Mode::Linear) {
              t.n = 2;
              t.idx[0] = fi;
              t.idx[1] = fi + 1;
              t.w[0] = 1 - d;
              t.w[1] = d;
            } else {
              const double A = -0.75;
              auto far = [A](double e) { return ((A * e - 5 * A) * e + 8 * A) * e - 4 * A; };
              auto near = [A](double e) { return ((A + 2) * e - (A + 3)) * e * e + 1; };
              t.n = 4;
              for (int k = 0; k < 4; ++k) t.idx[k] = fi - 1 + k;
              t.w[0] = far(d + 1);
              t.w[1] = near(d);
              t.w[2] = near(1 - d);
              t.w[3] = far(2 - d);
            }
          }
          // Map each tap to a valid index (or -1 for a zero pad) per the padding mode.
          for (int k = 0; k < t.n; ++k) {
            const int64_t j = t.idx[k];
            if (j >= 0 && j < sp[i]) continue;
            if (pad == Padding::Zeros) t.idx[k] = -1;
            else if (pad == Padding::Border) t.idx[k] = std::min<int64_t>(std::max<int64_t>(j, 0), sp[i] - 1);
            else t.idx[k] = static_cast<int64_t>(std::trunc(Reflect(static_cast<double>(j), lo, hi)));
          }
        }
        for (int64_t c = 0; c < C; ++c) {
          const double* base = xv.data() + (n * C + c) * plane;
          // Product of per-axis taps, visited depth-first as the reference does.
          double sum = 0;
          int k[8] = {0, 0, 0, 0, 0, 0, 0, 0};
          for (;;) {
            double w = 1;
            int64_t off = 0;
            bool skip = false;
            for (int i = 0; i < r && !skip; ++i) {
              const Taps& t = taps[i];
              if (t.idx[k[i]] < 0 || t.w[k[i]] == 0) skip = true;
              else {
                w *= t.w[k[i]];
                off += t.idx[k[i]] * strides[i];
              }
            }
            if (!skip) sum += w * base[off];
            int i = r - 1;
            while (i >= 0 && ++k[i] == taps[i].n) k[i--] = 0;
            if (i < 0) break;
          }
          res[(n * C + c) * P + p] = sum;
        }
      }
    }
    VisitDType(xt, [&](auto tag) {
      using T = typename decltype(tag)::type;
      T* o = out[0].as<T>();
      for (size_t i = 0; i < res.size(); ++i) o[i] = FromDouble<T>(res[i]);
    });
    return Status::Ok();
  });
}

MCPC_REGISTER_KERNEL("GridSample", MakeGridSample);

// AffineGrid (opset 20): the grid of GridSample coordinates that theta [N, r, r + 1] maps the
// normalized output positions to. The output's spatial dims are the plan's; input `size` must
// agree with them at run time.
StatusOr<std::unique_ptr<Kernel>> MakeAffineGrid(const PrepareContext& ctx) {
  const KernelSpec& spec = ctx.spec;
  const Slot* theta = ctx.input(0);
  const Slot* size = ctx.input(1);
  if (!theta || !size) return BadPlan(spec, "needs theta and size");
  if (!(Bit(theta->dtype) & kFloatTypes)) return Unsupported(spec, theta->dtype);
  if (size->dtype != DType::I64) return Unsupported(spec, size->dtype, "size of type");
  const Ints& ys = ctx.output(0)->shape;
  const int r = static_cast<int>(ys.size()) - 2;
  if (r != 2 && r != 3) return BadPlan(spec, "the output must be [N, H, W, 2] or [N, D, H, W, 3]");
  if (theta->shape.size() != 3 || theta->shape[0] != ys[0] || theta->shape[1] != r || theta->shape[2] != r + 1 || ys.back() != r) {
    return BadPlan(spec, "theta must be [N, r, r + 1] for an output of r spatial dims");
  }
  if (Numel(size->shape) != r + 2) return BadPlan(spec, "size must have rank + 2 elements");
  const bool align = spec.Int("align_corners", 0) != 0;
  const int64_t N = ys[0];
  const Ints sp(ys.begin() + 1, ys.end() - 1);
  const int64_t P = Numel(sp);
  const DType tt = theta->dtype;
  return MakeKernel([=](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext&) -> Status {
    const int64_t* sz = in[1].as<int64_t>();
    for (int i = 0; i < r; ++i) {
      if (sz[2 + i] != sp[i]) {
        return MCPC_ERROR(MCPC_E_BAD_INPUT, "AffineGrid input size[%d] is %lld, the plan was compiled for %lld (node %s)", 2 + i,
                          static_cast<long long>(sz[2 + i]), static_cast<long long>(sp[i]), spec.source.c_str());
      }
    }
    const std::vector<double> tv = ReadDoubles(in[0].data, tt, N * r * (r + 1));
    std::vector<double> res(static_cast<size_t>(N * P * r));
    auto base = [align](int64_t k, int64_t L) {
      return align ? (L > 1 ? -1.0 + 2.0 * static_cast<double>(k) / static_cast<double>(L - 1) : 0.0)
                   : (2.0 * static_cast<double>(k) + 1.0) / static_cast<double>(L) - 1.0;
    };
    Ints idx(r, 0);
    double pt[4];
    for (int64_t p = 0; p < P; ++p) {
      // Homogeneous point, innermost axis first: (x, y[, z], 1).
      for (int i = 0; i < r; ++i) pt[i] = base(idx[r - 1 - i], sp[r - 1 - i]);
      pt[r] = 1;
      for (int64_t n = 0; n < N; ++n) {
        for (int i = 0; i < r; ++i) {
          double s = 0;
          for (int j = 0; j <= r; ++j) s += tv[(n * r + i) * (r + 1) + j] * pt[j];
          res[(n * P + p) * r + i] = s;
        }
      }
      for (int k = r - 1; k >= 0; --k) {
        if (++idx[k] < sp[k]) break;
        idx[k] = 0;
      }
    }
    VisitDType(tt, [&](auto tag) {
      using T = typename decltype(tag)::type;
      T* o = out[0].as<T>();
      for (size_t i = 0; i < res.size(); ++i) o[i] = FromDouble<T>(res[i]);
    });
    return Status::Ok();
  });
}

MCPC_REGISTER_KERNEL("AffineGrid", MakeAffineGrid);

}  // namespace
}  // namespace ew
}  // namespace mcpc
