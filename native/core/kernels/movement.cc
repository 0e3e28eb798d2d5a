// Data-movement ops that copy bytes by element size, whatever the dtype: the reshapes (Identity,
// Reshape, Flatten, Squeeze, Unsqueeze, Dropout), Transpose (tiled 2-D transposes after merging
// dims), Concat, Split, Slice, Expand, Tile, Pad, DepthToSpace/SpaceToDepth and Trilu. Output
// shapes are static in the plan, so most ops describe the copy as strides over the output shape
// (compiler/ops/movement.ts and layout.ts give the exact semantics).
#include <algorithm>
#include <numeric>

#include "elementwise.h"

namespace mcpc {
namespace ew {

// ---- Strided copy and transpose ---------------------------------------------------------------

void CopyStrided(RunContext& ctx, size_t esize, void* dst, const void* src, std::vector<int64_t> dims, std::vector<int64_t> strides) {
  // Drop size-1 dims and merge dims that are contiguous in the source.
  std::vector<int64_t> d, s;
  for (size_t k = 0; k < dims.size(); ++k) {
    if (dims[k] == 0) return;
    if (dims[k] == 1) continue;
    if (!d.empty() && s.back() == strides[k] * dims[k]) {
      d.back() *= dims[k];
      s.back() = strides[k];
    } else {
      d.push_back(dims[k]);
      s.push_back(strides[k]);
    }
  }
  if (d.empty()) {
    d.push_back(1);
    s.push_back(0);
  }
  const int r = static_cast<int>(d.size());
  const int64_t inner = d.back(), istride = s.back();
  const int64_t rows = Numel(d) / inner;
  VisitSize(esize, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* in = static_cast<const T*>(src);
    T* out = static_cast<T*>(dst);
    ParallelRange(ctx, rows, std::max<int64_t>(1, kGrain / inner), [&](int64_t begin, int64_t end) {
      int64_t idx[32];
      int64_t off = 0, rem = begin;
      for (int k = r - 2; k >= 0; --k) {
        idx[k] = rem % d[k];
        rem /= d[k];
        off += idx[k] * s[k];
      }
      for (int64_t row = begin; row < end; ++row) {
        T* o = out + row * inner;
        const T* p = in + off;
        if (istride == 1) std::memcpy(o, p, inner * sizeof(T));
        else if (istride == 0) std::fill(o, o + inner, p[0]);
        else for (int64_t i = 0; i < inner; ++i) o[i] = p[i * istride];
        for (int k = r - 2; k >= 0; --k) {
          off += s[k];
          if (++idx[k] < d[k]) break;
          off -= s[k] * d[k];
          idx[k] = 0;
        }
      }
    });
  });
}

namespace {

/** B independent [m, n] -> [n, m] transposes, in 32x32 tiles. */
template <class T>
void Transpose2D(RunContext& ctx, T* dst, const T* src, int64_t batch, int64_t m, int64_t n) {
  constexpr int64_t kTile = 32;
  const int64_t tilesM = (m + kTile - 1) / kTile;
  ParallelRange(ctx, batch * tilesM, std::max<int64_t>(1, kGrain / (kTile * n)), [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t b = t / tilesM, i0 = (t % tilesM) * kTile;
      const T* sb = src + b * m * n;
      T* db = dst + b * m * n;
      const int64_t i1 = std::min(m, i0 + kTile);
      for (int64_t j0 = 0; j0 < n; j0 += kTile) {
        const int64_t j1 = std::min(n, j0 + kTile);
        for (int64_t j = j0; j < j1; ++j) {
          for (int64_t i = i0; i < i1; ++i) db[j * m + i] = sb[i * n + j];
        }
      }
    }
  });
}

}  // namespace

void TransposeBytes(RunContext& ctx, size_t esize, void* dst, const void* src, const std::vector<int64_t>& inDims, const std::vector<int64_t>& perm) {
  // Drop size-1 dims, then merge runs of input dims that stay adjacent and in order in the output.
  const int r = static_cast<int>(inDims.size());
  std::vector<int> newId(r, -1);
  std::vector<int64_t> dims;
  for (int i = 0; i < r; ++i) {
    if (inDims[i] == 0) return;
    if (inDims[i] != 1) { newId[i] = static_cast<int>(dims.size()); dims.push_back(inDims[i]); }
  }
  std::vector<int> p;
  for (int64_t q : perm) if (newId[q] >= 0) p.push_back(newId[q]);
  // Groups of consecutive input dims, in output order.
  std::vector<std::pair<int, int>> groups;  // (first input dim, count)
  for (size_t k = 0; k < p.size(); ++k) {
    if (!groups.empty() && groups.back().first + groups.back().second == p[k]) ++groups.back().second;
    else groups.push_back({p[k], 1});
  }
  std::vector<int> order(groups.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int a, int b) { return groups[a].first < groups[b].first; });
  std::vector<int> gid(groups.size());
  std::vector<int64_t> cdims(groups.size());
  for (size_t j = 0; j < order.size(); ++j) {
    gid[order[j]] = static_cast<int>(j);
    int64_t n = 1;
    for (int c = 0; c < groups[order[j]].second; ++c) n *= dims[groups[order[j]].first + c];
    cdims[j] = n;
  }
  const int cr = static_cast<int>(cdims.size());
  std::vector<int64_t> cstr(cr);
  int64_t acc = 1;
  for (int j = cr - 1; j >= 0; --j) { cstr[j] = acc; acc *= cdims[j]; }
  std::vector<int> cp(cr);
  for (int k = 0; k < cr; ++k) cp[k] = gid[k];
  bool identity = true;
  for (int k = 0; k < cr; ++k) identity = identity && cp[k] == k;
  if (identity) {
    std::memcpy(dst, src, acc * esize);
    return;
  }
  bool swapLast = cr >= 2 && cp[cr - 1] == cr - 2 && cp[cr - 2] == cr - 1;
  for (int k = 0; k < cr - 2 && swapLast; ++k) swapLast = cp[k] == k;
  if (swapLast) {
    const int64_t m = cdims[cr - 2], n = cdims[cr - 1];
    VisitSize(esize, [&](auto tag) {
      using T = typename decltype(tag)::type;
      Transpose2D<T>(ctx, static_cast<T*>(dst), static_cast<const T*>(src), acc / (m * n), m, n);
    });
    return;
  }
  std::vector<int64_t> odims(cr), ostr(cr);
  for (int k = 0; k < cr; ++k) { odims[k] = cdims[cp[k]]; ostr[k] = cstr[cp[k]]; }
  CopyStrided(ctx, esize, dst, src, odims, ostr);
}

namespace {

using Ints = std::vector<int64_t>;

Ints StridesOf(const Ints& dims) {
  Ints s(dims.size());
  int64_t acc = 1;
  for (int k = static_cast<int>(dims.size()) - 1; k >= 0; --k) { s[k] = acc; acc *= dims[k]; }
  return s;
}

int64_t NormAxis(int64_t a, int64_t rank) { return a < 0 ? a + rank : a; }

// ---- Reshape family: plain copies -------------------------------------------------------------

StatusOr<std::unique_ptr<Kernel>> MakeCopy(const PrepareContext& ctx) {
  const bool dropout = ctx.spec.op == "Dropout";
  const bool mask = dropout && ctx.spec.outputs.size() > 1;
  if (!ctx.input(0)) return BadPlan(ctx.spec, "needs an input");
  const std::string source = ctx.spec.source;
  return MakeKernel([mask, dropout, source](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext&) {
    // Dropout in training mode is random; a copy would be a wrong answer, so refuse it.
    if (dropout && in.size() > 2 && in[2].data && *static_cast<const uint8_t*>(in[2].data) != 0) {
      const bool zeroRatio = in.size() > 1 && in[1].data && in[1].dtype == DType::F32 && *in[1].as<float>() == 0.0f;
      if (!zeroRatio) {
        return MCPC_ERROR(MCPC_E_UNSUPPORTED, "Dropout at node '%s' was run with training_mode=true, which is random; only inference is supported", source.c_str());
      }
    }
    const size_t bytes = in[0].numel * DTypeSize(in[0].dtype);
    if (in[0].data != out[0].data && bytes) std::memcpy(out[0].data, in[0].data, bytes);
    if (mask && out[1].data) std::memset(out[1].data, 1, out[1].numel);
    return Status::Ok();
  });
}

// ---- Transpose -------------------------------------------------------------------------------

StatusOr<std::unique_ptr<Kernel>> MakeTranspose(const PrepareContext& ctx) {
  const Slot* x = ctx.input(0);
  if (!x) return BadPlan(ctx.spec, "needs an input");
  const int64_t r = static_cast<int64_t>(x->shape.size());
  Ints perm = ctx.spec.Ints("perm");
  if (perm.empty() && r > 0) for (int64_t i = r - 1; i >= 0; --i) perm.push_back(i);
  Ints sorted = perm;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < r; ++i) if (static_cast<int64_t>(sorted.size()) != r || sorted[i] != i) return BadPlan(ctx.spec, "perm is not a permutation");
  Ints dims = x->shape;
  const size_t es = DTypeSize(x->dtype);
  return MakeKernel([dims, perm, es](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext& rc) {
    TransposeBytes(rc, es, out[0].data, in[0].data, dims, perm);
    return Status::Ok();
  });
}

// ---- Concat / Split --------------------------------------------------------------------------

StatusOr<std::unique_ptr<Kernel>> MakeConcat(const PrepareContext& ctx) {
  const Slot* o = ctx.output(0);
  const int64_t r = static_cast<int64_t>(o->shape.size());
  const int64_t axis = NormAxis(ctx.spec.Int("axis", 0), r);
  if (axis < 0 || axis >= r) return BadPlan(ctx.spec, "axis out of range");
  const size_t es = DTypeSize(o->dtype);
  const int64_t outer = Numel(Ints(o->shape.begin(), o->shape.begin() + axis));
  Ints chunk;  // bytes per outer step of each input
  for (size_t i = 0; i < ctx.spec.inputs.size(); ++i) {
    const Slot* s = ctx.input(i);
    if (!s) return BadPlan(ctx.spec, "has an omitted input");
    chunk.push_back(Numel(Ints(s->shape.begin() + axis, s->shape.end())) * static_cast<int64_t>(es));
  }
  const int64_t total = std::accumulate(chunk.begin(), chunk.end(), int64_t(0));
  return MakeKernel([outer, chunk, total](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext& rc) {
    char* dst = static_cast<char*>(out[0].data);
    ParallelRange(rc, outer, std::max<int64_t>(1, kGrain * 4 / std::max<int64_t>(total, 1)), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) {
        char* p = dst + o * total;
        for (size_t i = 0; i < chunk.size(); ++i) {
          if (chunk[i]) std::memcpy(p, static_cast<const char*>(in[i].data) + o * chunk[i], chunk[i]);
          p += chunk[i];
        }
      }
    });
    return Status::Ok();
  });
}

StatusOr<std::unique_ptr<Kernel>> MakeSplit(const PrepareContext& ctx) {
  const Slot* x = ctx.input(0);
  if (!x) return BadPlan(ctx.spec, "needs an input");
  const int64_t r = static_cast<int64_t>(x->shape.size());
  const int64_t axis = NormAxis(ctx.spec.Int("axis", 0), r);
  if (axis < 0 || axis >= r) return BadPlan(ctx.spec, "axis out of range");
  const size_t es = DTypeSize(x->dtype);
  const int64_t outer = Numel(Ints(x->shape.begin(), x->shape.begin() + axis));
  const int64_t total = Numel(Ints(x->shape.begin() + axis, x->shape.end())) * static_cast<int64_t>(es);
  Ints chunk;
  int64_t sum = 0;
  for (size_t i = 0; i < ctx.spec.outputs.size(); ++i) {
    const Slot* s = ctx.output(i);
    chunk.push_back(Numel(Ints(s->shape.begin() + axis, s->shape.end())) * static_cast<int64_t>(es));
    sum += chunk.back();
  }
  if (sum != total) return BadPlan(ctx.spec, "output sizes do not add up to the input");
  return MakeKernel([outer, chunk, total](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext& rc) {
    const char* src = static_cast<const char*>(in[0].data);
    ParallelRange(rc, outer, std::max<int64_t>(1, kGrain * 4 / std::max<int64_t>(total, 1)), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) {
        const char* p = src + o * total;
        for (size_t i = 0; i < chunk.size(); ++i) {
          if (chunk[i] && out[i].data) std::memcpy(static_cast<char*>(out[i].data) + o * chunk[i], p, chunk[i]);
          p += chunk[i];
        }
      }
    });
    return Status::Ok();
  });
}

// ---- Slice -------------------------------------------------------------------------------------

/** Start offset and strides of a slice; fails when the clamped counts differ from the output. */
Status SliceStrides(const KernelSpec& spec, const Ints& in, const Ints& outDims, const Ints& starts, const Ints& ends, const Ints& axesIn,
                    const Ints& stepsIn, int64_t* base, Ints* strides) {
  const int64_t r = static_cast<int64_t>(in.size());
  if (starts.size() != ends.size()) return MCPC_ERROR(MCPC_E_KERNEL, "Slice (node %s): starts and ends differ in length", spec.source.c_str());
  Ints axes = axesIn;
  if (axes.empty()) for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  if (axes.size() != starts.size() || (!stepsIn.empty() && stepsIn.size() != starts.size())) {
    return MCPC_ERROR(MCPC_E_KERNEL, "Slice (node %s): axes/steps do not match starts", spec.source.c_str());
  }
  Ints st = StridesOf(in);
  Ints first(r, 0), step(r, 1);
  for (size_t i = 0; i < axes.size(); ++i) {
    const int64_t a = NormAxis(axes[i], r);
    if (a < 0 || a >= r) return MCPC_ERROR(MCPC_E_KERNEL, "Slice (node %s): axis %lld out of range", spec.source.c_str(), (long long)axes[i]);
    const int64_t dim = in[a], sp = stepsIn.empty() ? 1 : stepsIn[i];
    if (sp == 0) return MCPC_ERROR(MCPC_E_KERNEL, "Slice (node %s): step is 0", spec.source.c_str());
    int64_t s = starts[i], e = ends[i];
    s = s < 0 ? (s < -dim ? 0 : s + dim) : s;
    e = e < 0 ? (e < -dim - 1 ? -1 : e + dim) : e;
    if (sp > 0) {
      s = std::min(std::max<int64_t>(s, 0), dim);
      e = std::min(std::max<int64_t>(e, 0), dim);
    } else {
      s = std::min(std::max<int64_t>(s, 0), dim - 1);
      e = std::min(std::max<int64_t>(e, -1), dim - 1);
    }
    const int64_t count = sp > 0 ? (e > s ? (e - s - 1) / sp + 1 : 0) : (s > e ? (s - e - 1) / -sp + 1 : 0);
    if (count != outDims[a]) {
      return MCPC_ERROR(MCPC_E_KERNEL, "Slice (node %s): axis %lld selects %lld elements, the plan expects %lld", spec.source.c_str(), (long long)a,
                        (long long)count, (long long)outDims[a]);
    }
    first[a] = s;
    step[a] = sp;
  }
  *base = 0;
  strides->assign(r, 0);
  for (int64_t k = 0; k < r; ++k) {
    *base += first[k] * st[k];
    (*strides)[k] = step[k] * st[k];
  }
  return Status::Ok();
}

StatusOr<std::unique_ptr<Kernel>> MakeSlice(const PrepareContext& ctx) {
  const KernelSpec spec = ctx.spec;
  const Slot* x = ctx.input(0);
  if (!x || !ctx.input(1) || !ctx.input(2)) return BadPlan(spec, "needs data, starts and ends");
  const Ints in = x->shape, outDims = ctx.output(0)->shape;
  const size_t es = DTypeSize(x->dtype);
  Ints v[5];
  bool constant = true;
  for (size_t i = 1; i < 5; ++i) {
    if (!ctx.input(i)) continue;
    constant = ConstantInts(ctx, i, &v[i]) && constant;
  }
  auto pre = std::make_shared<std::pair<int64_t, Ints>>();
  if (constant) MCPC_RETURN_IF_ERROR(SliceStrides(spec, in, outDims, v[1], v[2], v[3], v[4], &pre->first, &pre->second));
  return MakeKernel([=](const std::vector<TensorView>& inputs, const std::vector<TensorView>& out, RunContext& rc) {
    int64_t base = pre->first;
    Ints strides = pre->second;
    if (!constant) {
      Ints a[5];
      for (size_t i = 1; i < 5 && i < inputs.size(); ++i) {
        if (inputs[i].data) a[i] = ReadInts(inputs[i].data, inputs[i].dtype, inputs[i].numel);
      }
      MCPC_RETURN_IF_ERROR(SliceStrides(spec, in, outDims, a[1], a[2], a[3], a[4], &base, &strides));
    }
    CopyStrided(rc, es, out[0].data, static_cast<const char*>(inputs[0].data) + base * static_cast<int64_t>(es), outDims, strides);
    return Status::Ok();
  });
}

// ---- Expand / Tile ---------------------------------------------------------------------------

StatusOr<std::unique_ptr<Kernel>> MakeExpand(const PrepareContext& ctx) {
  const Slot* x = ctx.input(0);
  if (!x) return BadPlan(ctx.spec, "needs an input");
  const Ints outDims = ctx.output(0)->shape;
  const int64_t r = static_cast<int64_t>(outDims.size()), off = r - static_cast<int64_t>(x->shape.size());
  if (off < 0) return BadPlan(ctx.spec, "output rank is below the input's");
  Ints st = StridesOf(x->shape), strides(r, 0);
  for (int64_t k = 0; k < static_cast<int64_t>(x->shape.size()); ++k) {
    if (x->shape[k] != 1 && x->shape[k] != outDims[k + off]) return BadPlan(ctx.spec, "input does not broadcast to the output");
    strides[k + off] = x->shape[k] == 1 ? 0 : st[k];
  }
  const size_t es = DTypeSize(x->dtype);
  return MakeKernel([=](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext& rc) {
    CopyStrided(rc, es, out[0].data, in[0].data, outDims, strides);
    return Status::Ok();
  });
}

StatusOr<std::unique_ptr<Kernel>> MakeTile(const PrepareContext& ctx) {
  const Slot* x = ctx.input(0);
  if (!x) return BadPlan(ctx.spec, "needs an input");
  const Ints& in = x->shape;
  const Ints& o = ctx.output(0)->shape;
  if (in.size() != o.size()) return BadPlan(ctx.spec, "output rank differs from the input's");
  // Output dim k of size reps*d is viewed as [reps, d] with strides [0, stride_k].
  Ints st = StridesOf(in), dims, strides;
  for (size_t k = 0; k < in.size(); ++k) {
    if (in[k] == 0 || o[k] % in[k] != 0) {
      if (o[k] == 0) { dims.push_back(0); strides.push_back(0); continue; }
      return BadPlan(ctx.spec, "output dims are not multiples of the input dims");
    }
    dims.push_back(o[k] / in[k]);
    strides.push_back(0);
    dims.push_back(in[k]);
    strides.push_back(st[k]);
  }
  const size_t es = DTypeSize(x->dtype);
  return MakeKernel([=](const std::vector<TensorView>& inputs, const std::vector<TensorView>& out, RunContext& rc) {
    CopyStrided(rc, es, out[0].data, inputs[0].data, dims, strides);
    return Status::Ok();
  });
}

// ---- Pad -------------------------------------------------------------------------------------

/** Per output coordinate of each axis, the source index or -1 for the fill value. */
Status PadMaps(const KernelSpec& spec, const Ints& in, const Ints& out, const Ints& pads, const Ints& axesIn, int mode, std::vector<Ints>* maps) {
  const int64_t r = static_cast<int64_t>(in.size());
  Ints axes = axesIn;
  if (axes.empty()) for (int64_t i = 0; i < r; ++i) axes.push_back(i);
  if (pads.size() != 2 * axes.size()) return MCPC_ERROR(MCPC_E_KERNEL, "Pad (node %s): pads has %zu entries for %zu axes", spec.source.c_str(), pads.size(), axes.size());
  Ints begin(r, 0), end(r, 0);
  for (size_t i = 0; i < axes.size(); ++i) {
    const int64_t a = NormAxis(axes[i], r);
    if (a < 0 || a >= r) return MCPC_ERROR(MCPC_E_KERNEL, "Pad (node %s): axis out of range", spec.source.c_str());
    begin[a] = pads[i];
    end[a] = pads[i + axes.size()];
  }
  maps->assign(r, Ints());
  for (int64_t k = 0; k < r; ++k) {
    if (in[k] + begin[k] + end[k] != out[k]) return MCPC_ERROR(MCPC_E_KERNEL, "Pad (node %s): pads do not give the planned output shape", spec.source.c_str());
    const int64_t lo = std::max<int64_t>(0, -begin[k]);
    const int64_t m = in[k] - lo - std::max<int64_t>(0, -end[k]);
    const int64_t before = std::max<int64_t>(0, begin[k]);
    Ints& map = (*maps)[k];
    map.resize(out[k]);
    for (int64_t y = 0; y < out[k]; ++y) {
      int64_t j = y - before, src = -1;
      if (j >= 0 && j < m) src = j;
      else if (m > 0) {
        if (mode == 1) {  // reflect
          if (m == 1) src = 0;
          else {
            const int64_t p = 2 * (m - 1);
            const int64_t q = ((j % p) + p) % p;
            src = q < m ? q : p - q;
          }
        } else if (mode == 2) src = j < 0 ? 0 : m - 1;  // edge
        else if (mode == 3) src = ((j % m) + m) % m;    // wrap
      }
      map[y] = src < 0 ? -1 : src + lo;
    }
  }
  return Status::Ok();
}

StatusOr<std::unique_ptr<Kernel>> MakePad(const PrepareContext& ctx) {
  const KernelSpec spec = ctx.spec;
  const Slot* x = ctx.input(0);
  if (!x || !ctx.input(1)) return BadPlan(spec, "needs data and pads");
  const std::string m = spec.String("mode", "constant");
  const int mode = m == "constant" ? 0 : m == "reflect" ? 1 : m == "edge" ? 2 : m == "wrap" ? 3 : -1;
  if (mode < 0) return BadPlan(spec, "unknown mode '" + m + "'");
  const Ints in = x->shape, outDims = ctx.output(0)->shape;
  Ints pads, axes;
  bool constant = ConstantInts(ctx, 1, &pads);
  if (ctx.input(3)) constant = ConstantInts(ctx, 3, &axes) && constant;
  auto pre = std::make_shared<std::vector<Ints>>();
  if (constant) MCPC_RETURN_IF_ERROR(PadMaps(spec, in, outDims, pads, axes, mode, pre.get()));
  const size_t es = DTypeSize(x->dtype);
  return MakeKernel([=](const std::vector<TensorView>& inputs, const std::vector<TensorView>& out, RunContext& rc) {
    std::vector<Ints> local;
    const std::vector<Ints>* maps = pre.get();
    if (!constant) {
      Ints p = ReadInts(inputs[1].data, inputs[1].dtype, inputs[1].numel), a;
      if (inputs.size() > 3 && inputs[3].data) a = ReadInts(inputs[3].data, inputs[3].dtype, inputs[3].numel);
      MCPC_RETURN_IF_ERROR(PadMaps(spec, in, outDims, p, a, mode, &local));
      maps = &local;
    }
    const int64_t r = static_cast<int64_t>(in.size());
    if (r == 0) { std::memcpy(out[0].data, inputs[0].data, es); return Status::Ok(); }
    uint64_t fill = 0;
    if (inputs.size() > 2 && inputs[2].data && inputs[2].numel > 0) std::memcpy(&fill, inputs[2].data, es);
    Ints st = StridesOf(in);
    const int64_t inner = outDims.back();
    const int64_t rows = inner ? out[0].numel / inner : 0;
    VisitSize(es, [&](auto tag) {
      using T = typename decltype(tag)::type;
      T f;
      std::memcpy(&f, &fill, sizeof(T));
      const T* src = inputs[0].as<const T>();
      T* dst = out[0].as<T>();
      const Ints& last = (*maps)[r - 1];
      ParallelRange(rc, rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(inner, 1)), [&](int64_t b, int64_t e) {
        for (int64_t row = b; row < e; ++row) {
          int64_t rem = row, off = 0;
          bool hole = false;
          for (int64_t k = r - 2; k >= 0; --k) {
            const int64_t y = rem % outDims[k];
            rem /= outDims[k];
            const int64_t s = (*maps)[k][y];
            if (s < 0) hole = true;
            off += s * st[k];
          }
          T* o = dst + row * inner;
          if (hole) { std::fill(o, o + inner, f); continue; }
          const T* p = src + off;
          for (int64_t i = 0; i < inner; ++i) o[i] = last[i] < 0 ? f : p[last[i]];
        }
      });
    });
    return Status::Ok();
  });
}

// ---- DepthToSpace / SpaceToDepth: 6-D transposes ------------------------------------------

StatusOr<std::unique_ptr<Kernel>> MakeBlockMove(const PrepareContext& ctx, bool toSpace) {
  const Slot* x = ctx.input(0);
  if (!x || x->shape.size() != 4) return BadPlan(ctx.spec, "needs a rank-4 input");
  const int64_t b = ctx.spec.Int("blocksize", 0);
  const std::string mode = ctx.spec.String("mode", "DCR");
  if (b < 1 || (mode != "DCR" && mode != "CRD")) return BadPlan(ctx.spec, "bad blocksize or mode");
  const bool crd = mode == "CRD";
  const int64_t n = x->shape[0], c = x->shape[1], h = x->shape[2], w = x->shape[3];
  Ints view, perm;
  if (toSpace) {
    const int64_t oc = c / (b * b);
    view = crd ? Ints{n, oc, b, b, h, w} : Ints{n, b, b, oc, h, w};
    perm = crd ? Ints{0, 1, 4, 2, 5, 3} : Ints{0, 3, 4, 1, 5, 2};
  } else {
    view = {n, c, h / b, b, w / b, b};
    perm = crd ? Ints{0, 1, 3, 5, 2, 4} : Ints{0, 3, 5, 1, 2, 4};
  }
  const size_t es = DTypeSize(x->dtype);
  return MakeKernel([=](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext& rc) {
    TransposeBytes(rc, es, out[0].data, in[0].data, view, perm);
    return Status::Ok();
  });
}

// ---- Trilu -----------------------------------------------------------------------------------

StatusOr<std::unique_ptr<Kernel>> MakeTrilu(const PrepareContext& ctx) {
  const Slot* x = ctx.input(0);
  if (!x || x->shape.size() < 2) return BadPlan(ctx.spec, "needs an input of rank >= 2");
  const bool upper = ctx.spec.Int("upper", 1) != 0;
  const int64_t rows = x->shape[x->shape.size() - 2], cols = x->shape.back();
  const size_t es = DTypeSize(x->dtype);
  return MakeKernel([=](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext&) {
    int64_t k = 0;
    if (in.size() > 1 && in[1].data && in[1].numel > 0) k = ReadInts(in[1].data, in[1].dtype, 1)[0];
    const char* src = static_cast<const char*>(in[0].data);
    char* dst = static_cast<char*>(out[0].data);
    const int64_t mats = rows * cols != 0 ? in[0].numel / (rows * cols) : 0;
    for (int64_t m = 0; m < mats; ++m) {
      for (int64_t i = 0; i < rows; ++i) {
        const int64_t off = (m * rows + i) * cols;
        // Keep j - i >= k (upper) or j - i <= k (lower).
        int64_t keepFrom = upper ? std::min(std::max<int64_t>(i + k, 0), cols) : 0;
        int64_t keepTo = upper ? cols : std::min(std::max<int64_t>(i + k + 1, 0), cols);
        std::memset(dst + off * es, 0, cols * es);
        if (keepTo > keepFrom) std::memcpy(dst + (off + keepFrom) * es, src + (off + keepFrom) * es, (keepTo - keepFrom) * es);
      }
    }
    return Status::Ok();
  });
}

MCPC_REGISTER_KERNEL("Identity", MakeCopy);
MCPC_REGISTER_KERNEL("Reshape", MakeCopy);
MCPC_REGISTER_KERNEL("Flatten", MakeCopy);
MCPC_REGISTER_KERNEL("Squeeze", MakeCopy);
MCPC_REGISTER_KERNEL("Unsqueeze", MakeCopy);
MCPC_REGISTER_KERNEL("Dropout", MakeCopy);
MCPC_REGISTER_KERNEL("Transpose", MakeTranspose);
MCPC_REGISTER_KERNEL("Concat", MakeConcat);
MCPC_REGISTER_KERNEL("Split", MakeSplit);
MCPC_REGISTER_KERNEL("Slice", MakeSlice);
MCPC_REGISTER_KERNEL("Expand", MakeExpand);
MCPC_REGISTER_KERNEL("Tile", MakeTile);
MCPC_REGISTER_KERNEL("Pad", MakePad);
MCPC_REGISTER_KERNEL("DepthToSpace", [](const PrepareContext& ctx) { return MakeBlockMove(ctx, true); });
MCPC_REGISTER_KERNEL("SpaceToDepth", [](const PrepareContext& ctx) { return MakeBlockMove(ctx, false); });
MCPC_REGISTER_KERNEL("Trilu", MakeTrilu);

}  // namespace
}  // namespace ew
}  // namespace mcpc
