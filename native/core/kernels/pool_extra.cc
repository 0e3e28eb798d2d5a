// The rarer pooling-family ops, any float dtype, in double like compiler/ops/pooling.ts and
// layout.ts: LpPool and GlobalLpPool, MaxUnpool (scatter by MaxPool indices), RoiAlign (bilinear
// sampling per region of interest, avg or max) and Col2Im (the adjoint of im2col, any rank).
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "elementwise.h"
#include "window.h"

namespace mcpc {
namespace ew {
namespace {

using Ints = std::vector<int64_t>;

void StoreDoubles(const std::vector<double>& v, void* dst, DType t) {
  VisitDType(t, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* p = static_cast<T*>(dst);
    for (size_t i = 0; i < v.size(); ++i) p[i] = FromDouble<T>(v[i]);
  });
}

bool IsFloatSlot(const Slot* s) { return s && (Bit(s->dtype) & kFloatTypes); }

// ---------------------------------------------------------------------------------------------
// LpPool: (sum over the window's in-bounds taps of |x|^p)^(1/p)

StatusOr<std::unique_ptr<Kernel>> MakeLpPool(const PrepareContext& ctx) {
  const KernelSpec& spec = ctx.spec;
  const Slot* x = ctx.input(0);
  if (!x) return BadPlan(spec, "needs an input");
  if (!IsFloatSlot(x)) return Unsupported(spec, x->dtype);
  if (x->shape.size() < 3) return BadPlan(spec, "input must have rank >= 3");
  const Ints inSp(x->shape.begin() + 2, x->shape.end());
  const Ints& os = ctx.output(0)->shape;
  const Ints outSp(os.begin() + 2, os.end());
  Window3 w;
  MCPC_RETURN_IF_ERROR(ResolveWindow(spec, inSp, spec.Ints("kernel_shape"), outSp, &w));
  const double p = spec.Float("p", 2);
  const int64_t NC = x->shape[0] * x->shape[1];
  const DType t = x->dtype;
  return MakeKernel([=](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext&) {
    const std::vector<double> v = ReadDoubles(in[0].data, t, NC * w.inSize());
    std::vector<double> r(NC * w.outSize());
    for (int64_t c = 0; c < NC; ++c) {
      const double* xb = v.data() + c * w.inSize();
      for (int64_t od = 0; od < w.out[0]; ++od)
        for (int64_t oh = 0; oh < w.out[1]; ++oh)
          for (int64_t ow = 0; ow < w.out[2]; ++ow) {
            double acc = 0;
            for (int64_t kd = 0; kd < w.k[0]; ++kd) {
              const int64_t id = od * w.stride[0] - w.padBegin[0] + kd * w.dil[0];
              if (id < 0 || id >= w.in[0]) continue;
              for (int64_t kh = 0; kh < w.k[1]; ++kh) {
                const int64_t ih = oh * w.stride[1] - w.padBegin[1] + kh * w.dil[1];
                if (ih < 0 || ih >= w.in[1]) continue;
                for (int64_t kw = 0; kw < w.k[2]; ++kw) {
                  const int64_t iw = ow * w.stride[2] - w.padBegin[2] + kw * w.dil[2];
                  if (iw < 0 || iw >= w.in[2]) continue;
                  acc += std::pow(std::fabs(xb[(id * w.in[1] + ih) * w.in[2] + iw]), p);
                }
              }
            }
            r[c * w.outSize() + (od * w.out[1] + oh) * w.out[2] + ow] = std::pow(acc, 1 / p);
          }
    }
    StoreDoubles(r, out[0].data, t);
    return Status::Ok();
  });
}

StatusOr<std::unique_ptr<Kernel>> MakeGlobalLpPool(const PrepareContext& ctx) {
  const KernelSpec& spec = ctx.spec;
  const Slot* x = ctx.input(0);
  if (!x) return BadPlan(spec, "needs an input");
  if (!IsFloatSlot(x)) return Unsupported(spec, x->dtype);
  if (x->shape.size() < 3) return BadPlan(spec, "input must have rank >= 3");
  const int64_t NC = x->shape[0] * x->shape[1];
  const int64_t plane = Numel(Ints(x->shape.begin() + 2, x->shape.end()));
  const double p = spec.Float("p", 2);
  const DType t = x->dtype;
  return MakeKernel([=](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext&) {
    const std::vector<double> v = ReadDoubles(in[0].data, t, NC * plane);
    std::vector<double> r(NC);
    for (int64_t c = 0; c < NC; ++c) {
      double acc = 0;
      for (int64_t j = 0; j < plane; ++j) acc += std::pow(std::fabs(v[c * plane + j]), p);
      r[c] = std::pow(acc, 1 / p);
    }
    StoreDoubles(r, out[0].data, t);
    return Status::Ok();
  });
}

// ---------------------------------------------------------------------------------------------
// MaxUnpool: indices address the unpadded layout MaxPool's input would have had; that layout sits
// at the origin of the output (output_shape may be larger).

StatusOr<std::unique_ptr<Kernel>> MakeMaxUnpool(const PrepareContext& ctx) {
  const KernelSpec& spec = ctx.spec;
  const Slot* x = ctx.input(0);
  const Slot* ind = ctx.input(1);
  if (!x || !ind) return BadPlan(spec, "needs X and I");
  if (!(Bit(x->dtype) & kNumericTypes)) return Unsupported(spec, x->dtype);
  const size_t r = x->shape.size();
  if (r < 3 || ind->shape.size() != r) return BadPlan(spec, "I must have the shape of X (rank >= 3)");
  const size_t n = r - 2;
  const Ints kernel = spec.Ints("kernel_shape");
  const Ints strides = spec.Ints("strides", Ints(n, 1));
  const Ints pads = spec.Ints("pads", Ints(2 * n, 0));
  if (kernel.size() != n || strides.size() != n || pads.size() != 2 * n) return BadPlan(spec, "kernel_shape/strides/pads do not match the spatial dims");
  Ints inferred = {x->shape[0], x->shape[1]};
  for (size_t i = 0; i < n; ++i) inferred.push_back((x->shape[2 + i] - 1) * strides[i] + kernel[i] - pads[i] - pads[n + i]);
  const Ints dims = ctx.output(0)->shape;
  if (dims.size() != r) return BadPlan(spec, "output rank differs from input rank");
  Ints inSt(r, 1), outSt(r, 1);
  for (size_t k = r - 1; k > 0; --k) {
    inSt[k - 1] = inSt[k] * inferred[k];
    outSt[k - 1] = outSt[k] * dims[k];
  }
  const int64_t total = Numel(inferred), count = Numel(x->shape), outN = Numel(dims);
  const size_t esize = DTypeSize(x->dtype);
  const std::string source = spec.source;
  return MakeKernel([=](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext&) {
    const Ints idx = ReadInts(in[1].data, in[1].dtype, count);
    uint8_t* dst = out[0].as<uint8_t>();
    const uint8_t* src = in[0].as<const uint8_t>();
    std::memset(dst, 0, outN * esize);
    for (int64_t i = 0; i < count; ++i) {
      int64_t f = idx[i];
      if (f < 0 || f >= total) return MCPC_ERROR(MCPC_E_KERNEL, "MaxUnpool (node %s): index %ld is out of range", source.c_str(), (long)f);
      int64_t o = 0;
      for (size_t k = 0; k < r; ++k) {
        const int64_t q = f / inSt[k];
        f -= q * inSt[k];
        if (q >= dims[k]) {
          o = -1;
          break;
        }
        o += q * outSt[k];
      }
      if (o >= 0) std::memcpy(dst + o * esize, src + i * esize, esize);
    }
    return Status::Ok();
  });
}

// ---------------------------------------------------------------------------------------------
// RoiAlign

struct Sample {
  double w[4];
  int64_t off[4];
};

/** Bilinear weights and offsets of the four neighbours of (y, x); false outside the map. */
bool Bilinear(double y, double x, int64_t H, int64_t W, Sample* s) {
  if (y < -1 || y > H || x < -1 || x > W) return false;
  y = std::max(y, 0.0);
  x = std::max(x, 0.0);
  int64_t y0 = static_cast<int64_t>(std::floor(y)), x0 = static_cast<int64_t>(std::floor(x));
  int64_t y1 = y0 + 1, x1 = x0 + 1;
  if (y0 >= H - 1) {
    y0 = y1 = H - 1;
    y = static_cast<double>(y0);
  }
  if (x0 >= W - 1) {
    x0 = x1 = W - 1;
    x = static_cast<double>(x0);
  }
  const double ly = y - y0, lx = x - x0, hy = 1 - ly, hx = 1 - lx;
  *s = Sample{{hy * hx, hy * lx, ly * hx, ly * lx}, {y0 * W + x0, y0 * W + x1, y1 * W + x0, y1 * W + x1}};
  return true;
}

StatusOr<std::unique_ptr<Kernel>> MakeRoiAlign(const PrepareContext& ctx) {
  const KernelSpec& spec = ctx.spec;
  const Slot* x = ctx.input(0);
  const Slot* rs = ctx.input(1);
  const Slot* bs = ctx.input(2);
  if (!x || !rs || !bs) return BadPlan(spec, "needs X, rois and batch_indices");
  if (!IsFloatSlot(x) || !IsFloatSlot(rs)) return Unsupported(spec, x->dtype);
  if (x->shape.size() != 4) return BadPlan(spec, "X must be 4-D");
  const int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
  const int64_t OH = spec.Int("output_height", 1), OW = spec.Int("output_width", 1);
  const int64_t ratio = spec.Int("sampling_ratio", 0);
  const double scale = spec.Float("spatial_scale", 1);
  const bool isMax = spec.String("mode", "avg") == "max";
  const bool halfPixel = spec.String("coordinate_transformation_mode", "half_pixel") == "half_pixel";
  const double offset = halfPixel ? 0.5 : 0;
  const int64_t R = Numel(bs->shape);
  const DType xt = x->dtype, rt = rs->dtype;
  const std::string source = spec.source;
  return MakeKernel([=](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext&) {
    const std::vector<double> v = ReadDoubles(in[0].data, xt, N * C * H * W);
    const std::vector<double> rois = ReadDoubles(in[1].data, rt, R * 4);
    const Ints bidx = ReadInts(in[2].data, in[2].dtype, R);
    std::vector<double> res(R * C * OH * OW);
    std::vector<Sample> samples;
    for (int64_t r = 0; r < R; ++r) {
      const int64_t b = bidx[r];
      if (b < 0 || b >= N) return MCPC_ERROR(MCPC_E_KERNEL, "RoiAlign (node %s): batch index %ld is out of range", source.c_str(), (long)b);
      const double sx = rois[4 * r] * scale - offset, sy = rois[4 * r + 1] * scale - offset;
      double rw = rois[4 * r + 2] * scale - offset - sx, rh = rois[4 * r + 3] * scale - offset - sy;
      if (!halfPixel) {
        rw = std::max(rw, 1.0);
        rh = std::max(rh, 1.0);
      }
      const double bh = rh / OH, bw = rw / OW;
      const int64_t gh = ratio > 0 ? ratio : static_cast<int64_t>(std::ceil(rh / OH));
      const int64_t gw = ratio > 0 ? ratio : static_cast<int64_t>(std::ceil(rw / OW));
      const double count = static_cast<double>(std::max<int64_t>(gh * gw, 1));
      for (int64_t ph = 0; ph < OH; ++ph) {
        for (int64_t pw = 0; pw < OW; ++pw) {
          samples.clear();
          for (int64_t iy = 0; iy < gh; ++iy) {
            const double yy = sy + ph * bh + ((iy + 0.5) * bh) / gh;
            for (int64_t ix = 0; ix < gw; ++ix) {
              Sample s;
              if (Bilinear(yy, sx + pw * bw + ((ix + 0.5) * bw) / gw, H, W, &s)) samples.push_back(s);
            }
          }
          for (int64_t c = 0; c < C; ++c) {
            const double* base = v.data() + (b * C + c) * H * W;
            double acc = isMax && !samples.empty() ? -INFINITY : 0;
            for (const Sample& s : samples) {
              const double t0 = s.w[0] * base[s.off[0]], t1 = s.w[1] * base[s.off[1]];
              const double t2 = s.w[2] * base[s.off[2]], t3 = s.w[3] * base[s.off[3]];
              // max mode takes the largest weighted corner, as onnxruntime does.
              acc = isMax ? std::max({acc, t0, t1, t2, t3}) : acc + t0 + t1 + t2 + t3;
            }
            res[((r * C + c) * OH + ph) * OW + pw] = isMax ? acc : acc / count;
          }
        }
      }
    }
    StoreDoubles(res, out[0].data, xt);
    return Status::Ok();
  });
}

// ---------------------------------------------------------------------------------------------
// Col2Im: sums each column of [N, C*prod(block), L] back into its block position of the image.

StatusOr<std::unique_ptr<Kernel>> MakeCol2Im(const PrepareContext& ctx) {
  const KernelSpec& spec = ctx.spec;
  const Slot* x = ctx.input(0);
  if (!x || !ctx.input(1) || !ctx.input(2)) return BadPlan(spec, "needs input, image_shape and block_shape");
  if (!IsFloatSlot(x)) return Unsupported(spec, x->dtype);
  if (x->shape.size() != 3) return BadPlan(spec, "input must have rank 3");
  const Ints outDims = ctx.output(0)->shape;
  const int64_t nd = static_cast<int64_t>(outDims.size()) - 2;
  if (nd < 1) return BadPlan(spec, "output must have rank >= 3");
  const Ints strides = spec.Ints("strides", Ints(nd, 1));
  const Ints dil = spec.Ints("dilations", Ints(nd, 1));
  const Ints pads = spec.Ints("pads", Ints(2 * nd, 0));
  if (static_cast<int64_t>(strides.size()) != nd || static_cast<int64_t>(dil.size()) != nd || static_cast<int64_t>(pads.size()) != 2 * nd) {
    return BadPlan(spec, "strides/dilations/pads do not match the image rank");
  }
  const int64_t n = x->shape[0], cb = x->shape[1], L = x->shape[2];
  const DType t = x->dtype;
  const std::string source = spec.source;
  return MakeKernel([=](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext&) {
    const Ints image = ReadInts(in[1].data, in[1].dtype, nd);
    const Ints block = ReadInts(in[2].data, in[2].dtype, nd);
    const int64_t bsz = Numel(block);
    if (bsz <= 0 || cb % bsz) return MCPC_ERROR(MCPC_E_KERNEL, "Col2Im (node %s): channels are not divisible by the block size", source.c_str());
    const int64_t c = cb / bsz;
    Ints pos(nd), imgSt(nd, 1), blkSt(nd, 1);
    for (int64_t i = 0; i < nd; ++i) pos[i] = (image[i] + pads[i] + pads[i + nd] - dil[i] * (block[i] - 1) - 1) / strides[i] + 1;
    for (int64_t i = nd - 1; i > 0; --i) {
      imgSt[i - 1] = imgSt[i] * image[i];
      blkSt[i - 1] = blkSt[i] * block[i];
    }
    if (Numel(pos) != L) return MCPC_ERROR(MCPC_E_KERNEL, "Col2Im (node %s): the input's block count does not match the shapes", source.c_str());
    const int64_t imgN = Numel(image);
    if (n * c * imgN != Numel(outDims)) return MCPC_ERROR(MCPC_E_KERNEL, "Col2Im (node %s): output shape differs from the one compiled", source.c_str());
    const std::vector<double> src = ReadDoubles(in[0].data, t, n * cb * L);
    std::vector<double> res(n * c * imgN, 0.0);
    Ints bOff(nd), p(nd);
    for (int64_t ni = 0; ni < n; ++ni) {
      for (int64_t ch = 0; ch < cb; ++ch) {
        const int64_t ci = ch / bsz;
        for (int64_t i = 0; i < nd; ++i) bOff[i] = ((ch % bsz) / blkSt[i]) % block[i];
        std::fill(p.begin(), p.end(), 0);
        for (int64_t l = 0; l < L; ++l) {
          int64_t f = 0;
          bool inside = true;
          for (int64_t i = 0; i < nd && inside; ++i) {
            const int64_t y = p[i] * strides[i] - pads[i] + bOff[i] * dil[i];
            if (y < 0 || y >= image[i]) inside = false;
            else f += y * imgSt[i];
          }
          if (inside) res[(ni * c + ci) * imgN + f] += src[(ni * cb + ch) * L + l];
          for (int64_t i = nd - 1; i >= 0; --i) {
            if (++p[i] < pos[i]) break;
            p[i] = 0;
          }
        }
      }
    }
    StoreDoubles(res, out[0].data, t);
    return Status::Ok();
  });
}

MCPC_REGISTER_KERNEL("LpPool", MakeLpPool);
MCPC_REGISTER_KERNEL("GlobalLpPool", MakeGlobalLpPool);
MCPC_REGISTER_KERNEL("MaxUnpool", MakeMaxUnpool);
MCPC_REGISTER_KERNEL("RoiAlign", MakeRoiAlign);
MCPC_REGISTER_KERNEL("Col2Im", MakeCol2Im);

}  // namespace
}  // namespace ew
}  // namespace mcpc
