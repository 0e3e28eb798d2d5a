// Resize (opset 11+; Upsample and Resize-10 are lowered to it): nearest, linear and cubic modes
// with every coordinate transformation, nearest rounding, antialias, exclude_outside, axes and
// keep_aspect_ratio_policy. One axis at a time in double, as the reference (compiler/ops/resize.ts)
// and ONNX's own reference do, so the results match them; scales/sizes/roi are read at run time.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "elementwise.h"

namespace mcpc {
namespace ew {
namespace {

using Ints = std::vector<int64_t>;

struct ResizeOptions {
  std::string mode, coord, nearest, policy;
  double cubicA = -0.75, extrapolation = 0;
  bool excludeOutside = false, antialias = false;
};

std::vector<double> Coefficients(const ResizeOptions& o, double ratio, double scale) {
  if (o.mode == "nearest") {
    if (ratio == 1) return {0, 1};
    if (o.nearest == "round_prefer_floor") return ratio <= 0.5 ? std::vector<double>{1, 0} : std::vector<double>{0, 1};
    if (o.nearest == "round_prefer_ceil") return ratio < 0.5 ? std::vector<double>{1, 0} : std::vector<double>{0, 1};
    if (o.nearest == "floor") return {1, 0};
    return {0, 1};
  }
  std::vector<double> c;
  if (o.mode == "linear") {
    if (!o.antialias) return {1 - ratio, ratio};
    // Antialiasing widens the kernel by 1/scale when downsampling.
    const double s = std::min(scale, 1.0);
    const int64_t start = static_cast<int64_t>(std::floor(-1 / s)) + 1;
    for (int64_t k = 0; k < 2 - 2 * start; ++k) c.push_back(std::min(std::max(1 - std::fabs((start + k - ratio) * s), 0.0), 1.0));
  } else {
    const double A = o.cubicA;
    auto kernel = [A](double x0) {
      const double x = std::fabs(x0);
      if (x <= 1) return (A + 2) * std::pow(x, 3) - (A + 3) * x * x + 1;
      if (x < 2) return A * std::pow(x, 3) - 5 * A * x * x + 8 * A * x - 4 * A;
      return 0.0;
    };
    if (!o.antialias) return {kernel(ratio + 1), kernel(ratio), kernel(1 - ratio), kernel(2 - ratio)};
    const double s = std::min(scale, 1.0);
    const int64_t start = static_cast<int64_t>(std::floor(-2 / s)) + 1;
    for (int64_t k = 0; k < 2 - 2 * start; ++k) c.push_back(kernel(s * (start + k - ratio)));
  }
  double sum = 0;
  for (double x : c) sum += x;
  for (double& x : c) x /= sum;
  return c;
}

/** Source coordinate of output position y along an axis; false where it extrapolates. */
bool SourceCoord(const ResizeOptions& o, double y, double scale, double inW, double outW, const double* roi, double* out) {
  const double outF = scale * inW;
  double x;
  if (o.coord == "align_corners") x = outF == 1 ? 0 : (y * (inW - 1)) / (outF - 1);
  else if (o.coord == "asymmetric") x = y / scale;
  else if (o.coord == "tf_half_pixel_for_nn") x = (y + 0.5) / scale;
  else if (o.coord == "pytorch_half_pixel") x = outF == 1 ? -0.5 : (y + 0.5) / scale - 0.5;
  else if (o.coord == "half_pixel_symmetric") {
    const double offset = (inW / 2) * (1 - outW / outF);
    x = offset + (y + 0.5) / scale - 0.5;
  } else if (o.coord == "tf_crop_and_resize") {
    const double r0 = roi ? roi[0] : 0, r1 = roi ? roi[1] : 1;
    x = outF == 1 ? ((r1 - r0) * (inW - 1)) / 2 : (y * (r1 - r0) * (inW - 1)) / (outF - 1);
    x += r0 * (inW - 1);
    if (x < 0 || x > inW - 1) return false;
  } else {
    x = (y + 0.5) / scale - 0.5;
  }
  *out = x;
  return true;
}

std::vector<double> ResizeAxis(const std::vector<double>& src, const Ints& dims, size_t axis, double scale, int64_t outW, const ResizeOptions& o,
                               const double* roi) {
  const int64_t inW = dims[axis];
  const int64_t outer = Numel(Ints(dims.begin(), dims.begin() + axis));
  const int64_t inner = Numel(Ints(dims.begin() + axis + 1, dims.end()));
  std::vector<double> out(outer * outW * inner);
  for (int64_t y = 0; y < outW; ++y) {
    double x = 0;
    const bool inside = SourceCoord(o, static_cast<double>(y), scale, static_cast<double>(inW), static_cast<double>(outW), roi, &x);
    std::vector<double> w;
    Ints idx;
    if (inside) {
      const double p = std::floor(x);
      const double frac = x - p;
      w = Coefficients(o, frac == 0 ? 1 : frac, scale);
      const int64_t n = static_cast<int64_t>(w.size());
      // Neighbours are the n positions nearest x, preferring the lower ones on ties.
      const int64_t start = static_cast<int64_t>(p) + (frac == 0 ? -(n >> 1) : -(n >> 1) + 1);
      for (int64_t k = 0; k < n; ++k) idx.push_back(start + k);
      if (o.excludeOutside) {
        double sum = 0;
        for (int64_t k = 0; k < n; ++k) {
          if (idx[k] < 0 || idx[k] >= inW) w[k] = 0;
          sum += w[k];
        }
        if (sum != 0) for (double& c : w) c /= sum;
      }
      for (int64_t& i : idx) i = std::min(std::max<int64_t>(i, 0), inW - 1);
    }
    for (int64_t a = 0; a < outer; ++a) {
      for (int64_t b = 0; b < inner; ++b) {
        double acc = 0;
        if (!inside) acc = o.extrapolation;
        else
          for (size_t k = 0; k < idx.size(); ++k)
            if (w[k] != 0) acc += w[k] * src[(a * inW + idx[k]) * inner + b];
        out[(a * outW + y) * inner + b] = acc;
      }
    }
  }
  return out;
}

StatusOr<std::unique_ptr<Kernel>> MakeResize(const PrepareContext& ctx) {
  const KernelSpec& spec = ctx.spec;
  const Slot* x = ctx.input(0);
  if (!x) return BadPlan(spec, "needs an input");
  if (!(Bit(x->dtype) & kNumericTypes)) return Unsupported(spec, x->dtype);
  ResizeOptions o;
  o.mode = spec.String("mode", "nearest");
  o.coord = spec.String("coordinate_transformation_mode", "half_pixel");
  o.nearest = spec.String("nearest_mode", "round_prefer_floor");
  o.policy = spec.String("keep_aspect_ratio_policy", "stretch");
  o.cubicA = spec.Float("cubic_coeff_a", -0.75);
  o.excludeOutside = spec.Int("exclude_outside", 0) != 0;
  o.extrapolation = spec.Float("extrapolation_value", 0);
  o.antialias = spec.Int("antialias", 0) != 0;
  if (o.mode != "nearest" && o.mode != "linear" && o.mode != "cubic") return BadPlan(spec, "unknown mode " + o.mode);
  const Ints dims = x->shape;
  const int64_t rank = static_cast<int64_t>(dims.size());
  Ints axes;
  if (spec.has("axes")) {
    for (int64_t a : spec.Ints("axes")) {
      a = a < 0 ? a + rank : a;
      if (a < 0 || a >= rank) return BadPlan(spec, "axes out of range");
      axes.push_back(a);
    }
  } else {
    for (int64_t a = 0; a < rank; ++a) axes.push_back(a);
  }
  const Ints outDims = ctx.output(0)->shape;
  const DType t = x->dtype;
  const std::string source = spec.source;
  return MakeKernel([=](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext&) {
    auto fail = [&](const char* why) { return MCPC_ERROR(MCPC_E_KERNEL, "Resize (node %s): %s", source.c_str(), why); };
    const bool hasSizes = in.size() > 3 && in[3].data && in[3].numel > 0;
    const bool hasScales = !hasSizes && in.size() > 2 && in[2].data && in[2].numel > 0;
    const size_t na = axes.size();
    std::vector<double> scales(rank, 1.0);
    Ints sizes = dims;
    if (hasSizes) {
      const Ints sz = ReadInts(in[3].data, in[3].dtype, in[3].numel);
      if (sz.size() != na) return fail("sizes must have one entry per axis");
      for (size_t i = 0; i < na; ++i) {
        sizes[axes[i]] = sz[i];
        scales[axes[i]] = static_cast<double>(sz[i]) / dims[axes[i]];
      }
      if (o.policy != "stretch") {
        double s = o.policy == "not_larger" ? INFINITY : -INFINITY;
        for (int64_t a : axes) s = o.policy == "not_larger" ? std::min(s, scales[a]) : std::max(s, scales[a]);
        for (int64_t a : axes) {
          scales[a] = s;
          sizes[a] = static_cast<int64_t>(std::floor(s * dims[a] + 0.5));
        }
      }
    } else if (hasScales) {
      const std::vector<double> sc = ReadDoubles(in[2].data, in[2].dtype, in[2].numel);
      if (sc.size() != na) return fail("scales must have one entry per axis");
      for (size_t i = 0; i < na; ++i) {
        if (!(sc[i] > 0)) return fail("scales must be positive");
        scales[axes[i]] = sc[i];
        sizes[axes[i]] = static_cast<int64_t>(std::floor(sc[i] * dims[axes[i]]));
      }
    } else {
      return fail("needs scales or sizes");
    }
    if (sizes != outDims) return fail("the output shape differs from the one compiled");
    std::vector<double> roi;
    if (in.size() > 1 && in[1].data && in[1].numel > 0) {
      const std::vector<double> r = ReadDoubles(in[1].data, in[1].dtype, in[1].numel);
      if (r.size() != 2 * na) return fail("roi must have two entries per axis");
      roi.assign(2 * rank, 0.0);
      std::fill(roi.begin() + rank, roi.end(), 1.0);
      for (size_t i = 0; i < na; ++i) {
        roi[axes[i]] = r[i];
        roi[axes[i] + rank] = r[i + na];
      }
    }
    std::vector<double> vals = ReadDoubles(in[0].data, t, Numel(dims));
    Ints cur = dims;
    for (int64_t a : axes) {
      double axisRoi[2] = {0, 1};
      const bool hasRoi = !roi.empty();
      if (hasRoi) {
        axisRoi[0] = roi[a];
        axisRoi[1] = roi[a + rank];
      }
      const bool identity = std::fabs(scales[a] - 1) <= 1e-9 && sizes[a] == cur[a] &&
                            (!hasRoi || (std::fabs(axisRoi[0]) <= 1e-9 && std::fabs(axisRoi[1] - 1) <= 1e-9));
      if (identity) continue;
      if (o.coord == "tf_crop_and_resize" && !hasRoi) return fail("roi is required for tf_crop_and_resize");
      vals = ResizeAxis(vals, cur, static_cast<size_t>(a), scales[a], sizes[a], o, hasRoi ? axisRoi : nullptr);
      cur[a] = sizes[a];
    }
    VisitDType(t, [&](auto tag) {
      using T = typename decltype(tag)::type;
      T* p = out[0].as<T>();
      for (size_t i = 0; i < vals.size(); ++i) p[i] = FromDouble<T>(vals[i]);
    });
    return Status::Ok();
  });
}

MCPC_REGISTER_KERNEL("Resize", MakeResize);

}  // namespace
}  // namespace ew
}  // namespace mcpc
