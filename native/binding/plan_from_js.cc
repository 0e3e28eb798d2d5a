// PlanFromJs: field-by-field conversion with path-naming errors. Only structure and types are
// checked here; whether ids and offsets are in range is the core's ValidatePlan.
#include "plan_from_js.h"

#include <cmath>
#include <limits>
#include <map>

#include "js_errors.h"

namespace mcpc_binding {

namespace {

[[noreturn]] void Fail(Napi::Env env, const std::string& path, const char* what) {
  throw CodedTypeError(env, MCPC_E_INVALID_PLAN, path + " " + what);
}

Napi::Object ToObject(const Napi::Value& v, const std::string& path) {
  if (!v.IsObject()) Fail(v.Env(), path, "must be an object");
  return v.As<Napi::Object>();
}

Napi::Array ToArray(const Napi::Value& v, const std::string& path) {
  if (!v.IsArray()) Fail(v.Env(), path, "must be an array");
  return v.As<Napi::Array>();
}

std::string ToStr(const Napi::Value& v, const std::string& path) {
  if (!v.IsString()) Fail(v.Env(), path, "must be a string");
  return v.As<Napi::String>().Utf8Value();
}

double ToNumber(const Napi::Value& v, const std::string& path) {
  if (!v.IsNumber()) Fail(v.Env(), path, "must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

int64_t ToInt(const Napi::Value& v, const std::string& path) {
  double d = ToNumber(v, path);
  if (!std::isfinite(d) || d != std::trunc(d) || std::fabs(d) > 9007199254740991.0) Fail(v.Env(), path, "must be an integer");
  return static_cast<int64_t>(d);
}

int ToSlotRef(const Napi::Value& v, const std::string& path) {
  int64_t i = ToInt(v, path);
  if (i < -1 || i > std::numeric_limits<int>::max()) Fail(v.Env(), path, "must be a slot id");
  return static_cast<int>(i);
}

/** A float in plan JSON: a number, or 'inf' / '-inf' / 'nan' (compiler/artifact/format.ts JsonFloat). */
double ToJsonFloat(const Napi::Value& v, const std::string& path) {
  if (v.IsString()) {
    std::string s = v.As<Napi::String>().Utf8Value();
    if (s == "inf") return std::numeric_limits<double>::infinity();
    if (s == "-inf") return -std::numeric_limits<double>::infinity();
    if (s == "nan") return std::numeric_limits<double>::quiet_NaN();
  }
  if (!v.IsNumber()) Fail(v.Env(), path, "must be a number or 'inf', '-inf', 'nan'");
  return v.As<Napi::Number>().DoubleValue();
}

mcpc::DType ToDType(const Napi::Value& v, const std::string& path) {
  mcpc::DType t;
  if (!mcpc::ParseDType(ToStr(v, path), &t)) Fail(v.Env(), path, "is not a known dtype");
  return t;
}

template <typename T, typename F>
std::vector<T> MapArray(const Napi::Value& v, const std::string& path, F convert) {
  Napi::Array a = ToArray(v, path);
  std::vector<T> out;
  out.reserve(a.Length());
  for (uint32_t i = 0; i < a.Length(); ++i) out.push_back(convert(a.Get(i), path + "[" + std::to_string(i) + "]"));
  return out;
}

std::vector<int64_t> ToShape(const Napi::Value& v, const std::string& path) {
  return MapArray<int64_t>(v, path, [](const Napi::Value& d, const std::string& p) { return ToIndex(d, p); });
}

mcpc::AttrValue ToAttr(const Napi::Value& v, const std::string& path) {
  using Kind = mcpc::AttrValue::Kind;
  Napi::Object o = ToObject(v, path);
  mcpc::AttrValue a;
  if (o.Has("i")) {
    a.kind = Kind::Int;
    a.i = ToInt(o.Get("i"), path + ".i");
  } else if (o.Has("f")) {
    a.kind = Kind::Float;
    a.f = ToJsonFloat(o.Get("f"), path + ".f");
  } else if (o.Has("s")) {
    a.kind = Kind::String;
    a.s = ToStr(o.Get("s"), path + ".s");
  } else if (o.Has("ints")) {
    a.kind = Kind::Ints;
    a.ints = MapArray<int64_t>(o.Get("ints"), path + ".ints", ToInt);
  } else if (o.Has("floats")) {
    a.kind = Kind::Floats;
    a.floats = MapArray<double>(o.Get("floats"), path + ".floats", ToJsonFloat);
  } else if (o.Has("strings")) {
    a.kind = Kind::Strings;
    a.strings = MapArray<std::string>(o.Get("strings"), path + ".strings", ToStr);
  } else if (o.Has("tensor")) {
    std::string tp = path + ".tensor";
    Napi::Object t = ToObject(o.Get("tensor"), tp);
    a.kind = Kind::Tensor;
    a.tensorDtype = ToDType(t.Get("dtype"), tp + ".dtype");
    a.tensorShape = ToShape(t.Get("shape"), tp + ".shape");
    a.floats = MapArray<double>(t.Get("values"), tp + ".values", ToJsonFloat);
  } else {
    Fail(v.Env(), path, "must be one of {i}, {f}, {s}, {ints}, {floats}, {strings}, {tensor}");
  }
  return a;
}

mcpc::SlotKind ToSlotKind(const Napi::Value& v, const std::string& path) {
  std::string s = ToStr(v, path);
  if (s == "input") return mcpc::SlotKind::Input;
  if (s == "output") return mcpc::SlotKind::Output;
  if (s == "weight") return mcpc::SlotKind::Weight;
  if (s == "arena") return mcpc::SlotKind::Arena;
  if (s == "heap") return mcpc::SlotKind::Heap;
  Fail(v.Env(), path, "must be 'input', 'output', 'weight', 'arena' or 'heap'");
}

mcpc::Slot ToSlot(const Napi::Value& v, const std::string& path) {
  Napi::Object o = ToObject(v, path);
  mcpc::Slot s;
  int64_t id = ToIndex(o.Get("id"), path + ".id");
  if (id > std::numeric_limits<int>::max()) Fail(v.Env(), path + ".id", "is too large");
  s.id = static_cast<int>(id);
  s.name = ToStr(o.Get("name"), path + ".name");
  s.dtype = ToDType(o.Get("dtype"), path + ".dtype");
  s.shape = ToShape(o.Get("shape"), path + ".shape");
  s.byteLength = static_cast<size_t>(ToIndex(o.Get("byteLength"), path + ".byteLength"));
  s.kind = ToSlotKind(o.Get("kind"), path + ".kind");
  s.index = ToIndex(o.Get("index"), path + ".index");
  if (o.Has("dynamic") && !o.Get("dynamic").IsUndefined()) {
    const std::string d = ToStr(o.Get("dynamic"), path + ".dynamic");
    if (d == "bounded") s.dynamic = mcpc::DynamicDims::Bounded;
    else if (d == "unbounded") s.dynamic = mcpc::DynamicDims::Unbounded;
    else Fail(v.Env(), path + ".dynamic", "must be 'bounded' or 'unbounded'");
  }
  return s;
}

std::map<std::string, mcpc::AttrValue> ToAttrs(const Napi::Value& v, const std::string& path) {
  Napi::Object attrs = ToObject(v, path);
  Napi::Array names = attrs.GetPropertyNames();
  std::map<std::string, mcpc::AttrValue> out;
  for (uint32_t i = 0; i < names.Length(); ++i) {
    std::string name = names.Get(i).As<Napi::String>().Utf8Value();
    out.emplace(name, ToAttr(attrs.Get(name), path + "." + name));
  }
  return out;
}

/** {acc: true} | {input: i} | {step: j} (compiler/artifact/format.ts FusedOperand). */
mcpc::FusedOperand ToFusedOperand(const Napi::Value& v, const std::string& path) {
  using Kind = mcpc::FusedOperand::Kind;
  Napi::Object o = ToObject(v, path);
  mcpc::FusedOperand a;
  if (o.Has("acc")) {
    Napi::Value acc = o.Get("acc");
    if (!acc.IsBoolean() || !acc.As<Napi::Boolean>().Value()) Fail(v.Env(), path + ".acc", "must be true");
    a.kind = Kind::Acc;
  } else if (o.Has("input")) {
    int64_t i = ToIndex(o.Get("input"), path + ".input");
    if (i > std::numeric_limits<int>::max()) Fail(v.Env(), path + ".input", "is too large");
    a.kind = Kind::Input;
    a.index = static_cast<int>(i);
  } else if (o.Has("step")) {
    int64_t i = ToIndex(o.Get("step"), path + ".step");
    if (i > std::numeric_limits<int>::max()) Fail(v.Env(), path + ".step", "is too large");
    a.kind = Kind::Step;
    a.index = static_cast<int>(i);
  } else {
    Fail(v.Env(), path, "must be one of {acc: true}, {input}, {step}");
  }
  return a;
}

mcpc::FusedStep ToFusedStep(const Napi::Value& v, const std::string& path) {
  Napi::Object o = ToObject(v, path);
  mcpc::FusedStep s;
  s.op = ToStr(o.Get("op"), path + ".op");
  if (o.Has("attrs")) s.attrs = ToAttrs(o.Get("attrs"), path + ".attrs");
  s.args = MapArray<mcpc::FusedOperand>(o.Get("args"), path + ".args", ToFusedOperand);
  s.dtype = ToDType(o.Get("dtype"), path + ".dtype");
  if (o.Has("source")) s.source = ToStr(o.Get("source"), path + ".source");
  return s;
}

/** A CUDA launch dimension triple: three positive integers. */
void ToDim3(const Napi::Value& v, const std::string& path, int64_t out[3]) {
  Napi::Array a = ToArray(v, path);
  if (a.Length() != 3) Fail(v.Env(), path, "must have 3 entries");
  for (uint32_t i = 0; i < 3; ++i) {
    const std::string p = path + "[" + std::to_string(i) + "]";
    out[i] = ToIndex(a.Get(i), p);
    if (out[i] < 1) Fail(v.Env(), p, "must be a positive integer");
  }
}

/** compiler/artifact/format.ts CudaLaunch. */
mcpc::CudaLaunch ToCudaLaunch(const Napi::Value& v, const std::string& path) {
  Napi::Object o = ToObject(v, path);
  mcpc::CudaLaunch l;
  l.entry = ToStr(o.Get("entry"), path + ".entry");
  if (l.entry.empty()) Fail(v.Env(), path + ".entry", "must not be empty");
  ToDim3(o.Get("grid"), path + ".grid", l.grid);
  ToDim3(o.Get("block"), path + ".block", l.block);
  l.sharedBytes = o.Has("sharedBytes") ? ToIndex(o.Get("sharedBytes"), path + ".sharedBytes") : 0;
  l.args = MapArray<int>(o.Get("args"), path + ".args", [](const Napi::Value& a, const std::string& p) {
    const int64_t id = ToIndex(a, p);
    if (id > std::numeric_limits<int>::max()) Fail(a.Env(), p, "must be a slot id");
    return static_cast<int>(id);
  });
  return l;
}

/** compiler/artifact/format.ts CudaKernelCode. */
mcpc::CudaKernelCode ToCudaKernelCode(const Napi::Value& v, const std::string& path) {
  Napi::Object o = ToObject(v, path);
  mcpc::CudaKernelCode c;
  c.present = true;
  if (o.Has("library") && !o.Get("library").IsUndefined()) {
    c.library = ToStr(o.Get("library"), path + ".library");
    if (c.library != "cublaslt" && c.library != "cudnn") Fail(v.Env(), path + ".library", "must be 'cublaslt' or 'cudnn'");
  }
  if (o.Has("libraryEpilogue") && !o.Get("libraryEpilogue").IsUndefined()) {
    const std::string ep = path + ".libraryEpilogue";
    Napi::Object e = ToObject(o.Get("libraryEpilogue"), ep);
    if (c.library != "cublaslt") Fail(v.Env(), ep, "is only for library 'cublaslt'");
    auto inputIndex = [&](const char* key) {
      if (!e.Has(key) || e.Get(key).IsUndefined()) return -1;
      const int64_t i = ToIndex(e.Get(key), ep + "." + key);
      if (i > 64) Fail(v.Env(), ep + "." + key, "must be a kernel input index");
      return static_cast<int>(i);
    };
    c.epilogueC = inputIndex("c");
    c.epilogueBias = inputIndex("bias");
    auto number = [&](const char* key, double* out) {
      if (!e.Has(key) || e.Get(key).IsUndefined()) return;
      if (!e.Get(key).IsNumber()) Fail(v.Env(), ep + "." + key, "must be a number");
      *out = e.Get(key).As<Napi::Number>().DoubleValue();
    };
    number("alpha", &c.epilogueAlpha);
    number("beta", &c.epilogueBeta);
    if (e.Has("activation") && !e.Get("activation").IsUndefined()) {
      c.epilogueActivation = ToStr(e.Get("activation"), ep + ".activation");
      if (c.epilogueActivation != "relu" && c.epilogueActivation != "gelu-tanh") Fail(v.Env(), ep + ".activation", "must be 'relu' or 'gelu-tanh'");
    }
  }
  if (o.Has("before")) c.before = MapArray<mcpc::CudaLaunch>(o.Get("before"), path + ".before", ToCudaLaunch);
  if (o.Has("after")) c.after = MapArray<mcpc::CudaLaunch>(o.Get("after"), path + ".after", ToCudaLaunch);
  if (o.Has("fusedEpilogue") && !o.Get("fusedEpilogue").IsUndefined()) {
    const std::string fp = path + ".fusedEpilogue";
    Napi::Object f = ToObject(o.Get("fusedEpilogue"), fp);
    if (c.library != "cudnn") Fail(v.Env(), fp, "is only for library 'cudnn'");
    c.fusedEpilogue = true;
    const Napi::Value relu = f.Get("relu");
    if (!relu.IsBoolean()) Fail(v.Env(), fp + ".relu", "must be a boolean");
    c.fusedRelu = relu.As<Napi::Boolean>().Value();
    if (f.Has("residual") && !f.Get("residual").IsUndefined()) {
      const int64_t r = ToIndex(f.Get("residual"), fp + ".residual");
      if (r > std::numeric_limits<int>::max()) Fail(v.Env(), fp + ".residual", "must be a kernel input index");
      c.fusedResidual = static_cast<int>(r);
    }
  }
  if (o.Has("scratch") && !o.Get("scratch").IsUndefined()) {
    const std::string sp = path + ".scratch";
    Napi::Object r = ToObject(o.Get("scratch"), sp);
    if (c.library.empty()) Fail(v.Env(), sp, "is only for library kernels");
    c.scratchOffset = ToIndex(r.Get("offset"), sp + ".offset");
    c.scratchBytes = ToIndex(r.Get("bytes"), sp + ".bytes");
  }
  return c;
}

/** compiler/artifact/format.ts CudaModuleSource. */
mcpc::CudaModuleSource ToCudaModuleSource(const Napi::Value& v, const std::string& path) {
  Napi::Object o = ToObject(v, path);
  mcpc::CudaModuleSource m;
  m.present = true;
  m.source = ToStr(o.Get("source"), path + ".source");
  m.sha256 = ToStr(o.Get("sha256"), path + ".sha256");
  const int64_t cc = ToIndex(o.Get("minComputeCapability"), path + ".minComputeCapability");
  if (cc > 1000) Fail(v.Env(), path + ".minComputeCapability", "must be major * 10 + minor");
  m.minComputeCapability = static_cast<int>(cc);
  return m;
}

mcpc::KernelSpec ToKernel(const Napi::Value& v, const std::string& path) {
  Napi::Object o = ToObject(v, path);
  mcpc::KernelSpec k;
  k.id = static_cast<int>(ToSlotRef(o.Get("id"), path + ".id"));
  k.op = ToStr(o.Get("op"), path + ".op");
  k.family = o.Has("family") ? ToStr(o.Get("family"), path + ".family") : "opaque";
  if (o.Has("attrs")) k.attrs = ToAttrs(o.Get("attrs"), path + ".attrs");
  k.inputs = MapArray<int>(o.Get("inputs"), path + ".inputs", ToSlotRef);
  k.outputs = MapArray<int>(o.Get("outputs"), path + ".outputs", ToSlotRef);
  if (o.Has("sources")) {
    std::vector<std::string> sources = MapArray<std::string>(o.Get("sources"), path + ".sources", ToStr);
    if (!sources.empty()) k.source = sources.front();
  }
  if (o.Has("epilogue")) k.epilogue = MapArray<mcpc::FusedStep>(o.Get("epilogue"), path + ".epilogue", ToFusedStep);
  if (o.Has("prologue")) k.prologue = MapArray<mcpc::FusedStep>(o.Get("prologue"), path + ".prologue", ToFusedStep);
  if (o.Has("cuda") && !o.Get("cuda").IsUndefined()) k.cuda = ToCudaKernelCode(o.Get("cuda"), path + ".cuda");
  if (o.Has("shapes") && !o.Get("shapes").IsUndefined()) {
    const std::string r = ToStr(o.Get("shapes"), path + ".shapes");
    if (r == "computed") k.shapes = mcpc::ShapeRule::Computed;
    else if (r == "broadcast") k.shapes = mcpc::ShapeRule::Broadcast;
    else Fail(v.Env(), path + ".shapes", "must be 'computed' or 'broadcast'");
  }
  return k;
}

}  // namespace

int64_t ToIndex(const Napi::Value& v, const std::string& path) {
  int64_t i = ToInt(v, path);
  if (i < 0) Fail(v.Env(), path, "must be a non-negative integer");
  return i;
}

mcpc::Plan PlanFromJs(const Napi::Value& value, const Napi::Value& arenaSize) {
  Napi::Object o = ToObject(value, "plan");
  mcpc::Plan plan;
  plan.slots = MapArray<mcpc::Slot>(o.Get("slots"), "plan.slots", ToSlot);
  plan.kernels = MapArray<mcpc::KernelSpec>(o.Get("kernels"), "plan.kernels", ToKernel);
  plan.inputSlots = MapArray<int>(o.Get("inputSlots"), "plan.inputSlots", ToSlotRef);
  plan.outputSlots = MapArray<int>(o.Get("outputSlots"), "plan.outputSlots", ToSlotRef);
  plan.arenaSize = static_cast<size_t>(ToIndex(arenaSize, "arenaSize"));
  if (o.Has("target")) {
    plan.target = ToStr(o.Get("target"), "plan.target");
    if (plan.target != "cpu" && plan.target != "cuda") Fail(value.Env(), "plan.target", "must be 'cpu' or 'cuda'");
  }
  if (o.Has("precision") && !o.Get("precision").IsUndefined()) {
    plan.precision = ToStr(o.Get("precision"), "plan.precision");
    if (plan.precision != "fp32" && plan.precision != "tf32" && plan.precision != "fp16" && plan.precision != "bf16") {
      Fail(value.Env(), "plan.precision", "must be 'fp32', 'tf32', 'fp16' or 'bf16'");
    }
  }
  if (o.Has("cuda") && !o.Get("cuda").IsUndefined()) plan.cuda = ToCudaModuleSource(o.Get("cuda"), "plan.cuda");
  if (o.Has("l2WindowBytes") && !o.Get("l2WindowBytes").IsUndefined()) {
    plan.l2WindowBytes = static_cast<size_t>(ToIndex(o.Get("l2WindowBytes"), "plan.l2WindowBytes"));
    if (plan.l2WindowBytes > plan.arenaSize) Fail(value.Env(), "plan.l2WindowBytes", "must not exceed the arena size");
  }
  return plan;
}

std::vector<mcpc::WeightRef> WeightRefsFromJs(const Napi::Value& weights) {
  return MapArray<mcpc::WeightRef>(weights, "weights", [](const Napi::Value& v, const std::string& path) {
    Napi::Object o = ToObject(v, path);
    mcpc::WeightRef w;
    w.offset = static_cast<uint64_t>(ToIndex(o.Get("offset"), path + ".offset"));
    w.byteLength = static_cast<uint64_t>(ToIndex(o.Get("byteLength"), path + ".byteLength"));
    return w;
  });
}

}  // namespace mcpc_binding
