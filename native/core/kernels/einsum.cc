// Einsum (opset 12), any number of operands, ellipses, diagonals (repeated labels) and implicit
// output. The equation is parsed and every operand's stride per label computed at Prepare; Run
// loops over output labels (outer) and summed labels (inner), accumulating in double as
// compiler/ops/contraction.ts does. f32 two-operand contractions with no diagonals run as batched
// GEMMs over the shared (batch) labels.
#include <algorithm>
#include <cctype>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "elementwise.h"
#include "gemm.h"

namespace mcpc {
namespace ew {
namespace {

using Ints = std::vector<int64_t>;

struct EinsumSpec {
  std::vector<Ints> inputs;  // per operand, labels (ellipsis dims: 1000 + k from the right)
  Ints output;
};

bool ParseEinsum(const std::string& equation, const Ints& ranks, EinsumSpec* spec, std::string* why) {
  std::string eq;
  for (char ch : equation) if (!std::isspace(static_cast<unsigned char>(ch))) eq += ch;
  const size_t arrow = eq.find("->");
  const std::string lhs = eq.substr(0, arrow);
  std::vector<std::string> terms;
  size_t s = 0;
  for (;;) {
    const size_t c = lhs.find(',', s);
    terms.push_back(lhs.substr(s, c == std::string::npos ? std::string::npos : c - s));
    if (c == std::string::npos) break;
    s = c + 1;
  }
  if (terms.size() != ranks.size()) {
    *why = "the equation's operand count differs from the inputs";
    return false;
  }
  int64_t ellRank = 0;
  auto parseTerm = [&](const std::string& term, int64_t rank, Ints* out) {
    const size_t dots = term.find("...");
    auto letters = [&](const std::string& p, Ints* l) {
      for (char ch : p) {
        if (!std::isalpha(static_cast<unsigned char>(ch))) return false;
        l->push_back(static_cast<unsigned char>(ch));
      }
      return true;
    };
    if (dots == std::string::npos) {
      if (!letters(term, out)) return false;
      return rank < 0 || static_cast<int64_t>(out->size()) == rank;
    }
    Ints head, tail;
    if (!letters(term.substr(0, dots), &head) || !letters(term.substr(dots + 3), &tail)) return false;
    const int64_t e = rank < 0 ? ellRank : rank - static_cast<int64_t>(head.size() + tail.size());
    if (e < 0) return false;
    ellRank = std::max(ellRank, e);
    *out = head;
    for (int64_t k = 0; k < e; ++k) out->push_back(1000 + e - 1 - k);
    out->insert(out->end(), tail.begin(), tail.end());
    return true;
  };
  spec->inputs.assign(terms.size(), {});
  for (size_t i = 0; i < terms.size(); ++i) {
    if (!parseTerm(terms[i], ranks[i], &spec->inputs[i])) {
      *why = "term '" + terms[i] + "' does not match its input";
      return false;
    }
  }
  spec->output.clear();
  if (arrow != std::string::npos) {
    if (!parseTerm(eq.substr(arrow + 2), -1, &spec->output)) {
      *why = "bad output term";
      return false;
    }
  } else {
    std::map<int64_t, int> count;
    for (const Ints& l : spec->inputs) for (int64_t x : l) ++count[x];
    for (int64_t k = 0; k < ellRank; ++k) spec->output.push_back(1000 + ellRank - 1 - k);
    for (const auto& [l, c] : count) if (l < 1000 && c == 1) spec->output.push_back(l);
  }
  return true;
}

/**
 * f32 A (op) B as batched GEMM: labels in both operands and the output are batch dims, in one
 * operand and the output M or N, in both but not the output K. Each operand is transposed to
 * [batch, M, K] / [batch, K, N] and C [batch, M, N] back to the output's order. Returns null when
 * the equation has diagonals, broadcasting or labels summed within one operand.
 */
std::unique_ptr<Kernel> MakeBatchedGemm(const EinsumSpec& es, const std::vector<Ints>& shapes, const std::map<int64_t, int64_t>& size,
                                        const Ints& outShape) {
  const Ints &la = es.inputs[0], &lb = es.inputs[1], &lo = es.output;
  auto has = [](const Ints& v, int64_t l) { return std::find(v.begin(), v.end(), l) != v.end(); };
  auto pos = [](const Ints& v, int64_t l) { return static_cast<int64_t>(std::find(v.begin(), v.end(), l) - v.begin()); };
  for (const Ints* v : {&la, &lb, &lo}) {
    for (size_t i = 0; i < v->size(); ++i)
      for (size_t j = i + 1; j < v->size(); ++j)
        if ((*v)[i] == (*v)[j]) return nullptr;
  }
  for (int i = 0; i < 2; ++i)
    for (size_t k = 0; k < shapes[i].size(); ++k)
      if (shapes[i][k] != size.at(es.inputs[i][k])) return nullptr;
  Ints batch, m, n, kk;
  for (int64_t l : lo) {
    const bool a = has(la, l), b = has(lb, l);
    if (a && b) batch.push_back(l);
    else if (a) m.push_back(l);
    else if (b) n.push_back(l);
    else return nullptr;
  }
  for (int64_t l : la) {
    if (has(lo, l)) continue;
    if (!has(lb, l)) return nullptr;
    kk.push_back(l);
  }
  for (int64_t l : lb) if (!has(lo, l) && !has(la, l)) return nullptr;
  auto prod = [&](const Ints& ls) {
    int64_t p = 1;
    for (int64_t l : ls) p *= size.at(l);
    return p;
  };
  const int64_t NB = prod(batch), M = prod(m), N = prod(n), K = prod(kk);
  auto permOf = [&](const Ints& from, const std::vector<const Ints*>& groups) {
    Ints perm;
    for (const Ints* g : groups) for (int64_t l : *g) perm.push_back(pos(from, l));
    return perm;
  };
  const Ints permA = permOf(la, {&batch, &m, &kk}), permB = permOf(lb, {&batch, &kk, &n});
  Ints cl = batch;
  cl.insert(cl.end(), m.begin(), m.end());
  cl.insert(cl.end(), n.begin(), n.end());
  Ints cDims, permC;
  for (int64_t l : cl) cDims.push_back(size.at(l));
  for (int64_t l : lo) permC.push_back(pos(cl, l));
  if (Numel(cDims) != Numel(outShape)) return nullptr;
  auto identity = [](const Ints& p) {
    for (size_t i = 0; i < p.size(); ++i) if (p[i] != static_cast<int64_t>(i)) return false;
    return true;
  };
  const bool idA = identity(permA), idB = identity(permB), idC = identity(permC);
  const Ints dimsA = shapes[0], dimsB = shapes[1];
  auto scratch = std::make_shared<gemm::AlignedBuffer>();
  return std::unique_ptr<Kernel>(new FnKernel([=](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext& rc) {
    std::vector<float> ta, tb, tc;
    const float* a = in[0].as<const float>();
    const float* b = in[1].as<const float>();
    if (!idA) {
      ta.resize(NB * M * K);
      TransposeBytes(rc, 4, ta.data(), a, dimsA, permA);
      a = ta.data();
    }
    if (!idB) {
      tb.resize(NB * K * N);
      TransposeBytes(rc, 4, tb.data(), b, dimsB, permB);
      b = tb.data();
    }
    float* c = out[0].as<float>();
    if (!idC) {
      tc.resize(NB * M * N);
      c = tc.data();
    }
    for (int64_t i = 0; i < NB; ++i) {
      float* ci = c + i * M * N;
      if (K == 0) std::fill(ci, ci + M * N, 0.0f);
      else if (M > 0 && N > 0) gemm::Sgemm(false, false, M, N, K, 1.0f, a + i * M * K, K, b + i * K * N, N, 0.0f, ci, N, gemm::Epilogue{}, rc.pool, scratch.get());
    }
    if (!idC) TransposeBytes(rc, 4, out[0].data, tc.data(), cDims, permC);
    return Status::Ok();
  }));
}

StatusOr<std::unique_ptr<Kernel>> MakeEinsum(const PrepareContext& ctx) {
  const KernelSpec& spec = ctx.spec;
  const size_t nops = spec.inputs.size();
  if (nops < 1) return BadPlan(spec, "needs at least one input");
  Ints ranks;
  std::vector<Ints> shapes;
  const DType t = ctx.input(0) ? ctx.input(0)->dtype : DType::F32;
  for (size_t i = 0; i < nops; ++i) {
    const Slot* s = ctx.input(i);
    if (!s) return BadPlan(spec, "an operand is missing");
    if (s->dtype != t) return Unsupported(spec, s->dtype);
    ranks.push_back(static_cast<int64_t>(s->shape.size()));
    shapes.push_back(s->shape);
  }
  if (!(Bit(t) & kNumericTypes)) return Unsupported(spec, t);
  EinsumSpec es;
  std::string why;
  if (!ParseEinsum(spec.String("equation", ""), ranks, &es, &why)) return BadPlan(spec, "equation: " + why);
  std::map<int64_t, int64_t> size;
  Ints labelOrder;  // first-seen order, like the reference's Map
  for (size_t i = 0; i < nops; ++i) {
    for (size_t k = 0; k < es.inputs[i].size(); ++k) {
      const int64_t l = es.inputs[i][k], d = shapes[i][k];
      auto it = size.find(l);
      if (it == size.end()) {
        size[l] = d;
        labelOrder.push_back(l);
      } else if (it->second == 1) {
        it->second = d;
      } else if (d != 1 && d != it->second) {
        return BadPlan(spec, "a label has two different sizes");
      }
    }
  }
  Ints order = es.output;
  for (int64_t l : labelOrder) if (std::find(es.output.begin(), es.output.end(), l) == es.output.end()) order.push_back(l);
  const size_t nl = order.size(), no = es.output.size();
  Ints dims(nl);
  for (size_t k = 0; k < nl; ++k) dims[k] = size.count(order[k]) ? size[order[k]] : 1;
  std::vector<Ints> strides(nops, Ints(nl, 0));
  for (size_t i = 0; i < nops; ++i) {
    int64_t st = 1;
    for (size_t k = shapes[i].size(); k-- > 0;) {
      const int64_t pos = std::find(order.begin(), order.end(), es.inputs[i][k]) - order.begin();
      if (shapes[i][k] != 1) strides[i][pos] += st;
      st *= shapes[i][k];
    }
  }
  const int64_t outN = Numel(Ints(dims.begin(), dims.begin() + no));
  const int64_t inner = Numel(Ints(dims.begin() + no, dims.end()));
  Ints numel(nops);
  for (size_t i = 0; i < nops; ++i) numel[i] = Numel(shapes[i]);
  if (t == DType::F32 && nops == 2) {
    auto fast = MakeBatchedGemm(es, shapes, size, ctx.output(0)->shape);
    if (fast) return fast;
  }
  return MakeKernel([=](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext&) {
    std::vector<std::vector<double>> vals(nops);
    for (size_t q = 0; q < nops; ++q) vals[q] = ReadDoubles(in[q].data, t, numel[q]);
    std::vector<double> res(outN, 0.0);
    if (inner > 0) {
      Ints ctr(nl, 0), off(nops, 0);
      for (int64_t o = 0; o < outN; ++o) {
        double acc = 0;
        for (int64_t s = 0; s < inner; ++s) {
          double p = 1;
          for (size_t q = 0; q < nops; ++q) p *= vals[q][off[q]];
          acc += p;
          for (size_t k = nl; k-- > 0;) {
            ++ctr[k];
            for (size_t q = 0; q < nops; ++q) off[q] += strides[q][k];
            if (ctr[k] < dims[k]) break;
            for (size_t q = 0; q < nops; ++q) off[q] -= strides[q][k] * dims[k];
            ctr[k] = 0;
          }
        }
        res[o] = acc;
      }
    }
    VisitDType(t, [&](auto tag) {
      using T = typename decltype(tag)::type;
      T* y = out[0].as<T>();
      for (int64_t i = 0; i < outN; ++i) y[i] = FromDouble<T>(res[i]);
    });
    return Status::Ok();
  });
}

MCPC_REGISTER_KERNEL("Einsum", MakeEinsum);

}  // namespace
}  // namespace ew
}  // namespace mcpc
