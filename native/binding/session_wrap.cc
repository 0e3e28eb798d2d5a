// Load and run, sharp's "baton" way: arguments are copied into plain structs on the main thread,
// the work runs in a Napi::AsyncWorker on the libuv pool, and results or coded errors are built in
// OnOK. Tensors cross without copies: feeds are read from the caller's TypedArrays and outputs are
// written straight into ArrayBuffers allocated here before the run starts.
#include "session_wrap.h"

#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "cuda_wrap.h"
#include "js_errors.h"
#include "plan_from_js.h"
#include "typed_arrays.h"

namespace mcpc_binding {

namespace {

class LoadWorker : public Napi::AsyncWorker {
 public:
  LoadWorker(Napi::Env env, mcpc::Plan plan, mcpc::WeightsSection weights, mcpc::SessionOptions options, Napi::Object bytes,
             std::string path = std::string(), uint64_t weightsOffset = 0, uint64_t weightsLength = 0)
      : Napi::AsyncWorker(env, "mcpc.loadSession"),
        deferred_(Napi::Promise::Deferred::New(env)),
        plan_(std::move(plan)),
        weights_(std::move(weights)),
        options_(options),
        bytes_(Napi::Persistent(bytes)),
        path_(std::move(path)),
        weightsOffset_(weightsOffset),
        weightsLength_(weightsLength) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

  void Execute() override {
    status_ = mcpc::MapWeightsIfFile(path_, weightsOffset_, weightsLength_, &weights_);
    if (!status_.ok()) return;
    auto created = mcpc::Session::Create(std::move(plan_), std::move(weights_), options_);
    if (created.ok()) session_ = std::shared_ptr<mcpc::Session>(created.take());
    else status_ = created.status();
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (!status_.ok()) {
      deferred_.Reject(StatusError(env, status_).Value());
      return;
    }
    Napi::Object obj = env.GetInstanceData<AddonData>()->sessionConstructor.New({});
    SessionWrap::Unwrap(obj)->Attach(std::move(session_), bytes_.Value());
    deferred_.Resolve(obj);
  }

 private:
  Napi::Promise::Deferred deferred_;
  mcpc::Plan plan_;
  mcpc::WeightsSection weights_;
  mcpc::SessionOptions options_;
  Napi::ObjectReference bytes_;
  std::string path_;
  uint64_t weightsOffset_ = 0, weightsLength_ = 0;
  mcpc::Status status_;
  std::shared_ptr<mcpc::Session> session_;
};

class RunWorker : public Napi::AsyncWorker {
 public:
  RunWorker(Napi::Env env, std::shared_ptr<mcpc::Session> session, std::vector<mcpc::IoBuffer> inputs, std::vector<mcpc::IoBuffer> outputs,
            Napi::Array keepAlive, Napi::Array results, bool observe)
      : Napi::AsyncWorker(env, "mcpc.run"),
        observe_(observe),
        deferred_(Napi::Promise::Deferred::New(env)),
        session_(std::move(session)),
        inputs_(std::move(inputs)),
        outputs_(std::move(outputs)),
        keepAlive_(Napi::Persistent(keepAlive)),
        results_(Napi::Persistent(results)) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

  void Execute() override { status_ = session_->Run(inputs_, outputs_, &dynamic_, observe_ ? &ranges_ : nullptr); }

  void OnOK() override {
    Napi::Env env = Env();
    if (!status_.ok()) {
      deferred_.Reject(StatusError(env, status_).Value());
      return;
    }
    // Outputs with dynamic dims become { data, dims } with their run-time dims.
    Napi::Array results = results_.Value();
    for (size_t j = 0; j < dynamic_.size(); ++j) {
      mcpc::DynamicResult& r = dynamic_[j];
      if (!r.present) continue;
      const mcpc::Slot& slot = session_->plan().slots[session_->plan().outputSlots[j]];
      Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(env, r.bytes.size());
      if (!r.bytes.empty()) std::memcpy(buffer.Data(), r.bytes.data(), r.bytes.size());
      Napi::Object o = Napi::Object::New(env);
      o.Set("data", NewTypedArray(env, slot.dtype, buffer, r.bytes.size()));
      Napi::Array dims = Napi::Array::New(env, r.dims.size());
      for (size_t i = 0; i < r.dims.size(); ++i) dims.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(r.dims[i])));
      o.Set("dims", dims);
      results.Set(static_cast<uint32_t>(j), o);
    }
    if (!observe_) {
      deferred_.Resolve(results);
      return;
    }
    // runObserved: { outputs, ranges: [{ name, maxAbs, nonFinite }] } in kernel order.
    Napi::Array ranges = Napi::Array::New(env, ranges_.size());
    for (size_t i = 0; i < ranges_.size(); ++i) {
      Napi::Object r = Napi::Object::New(env);
      r.Set("name", session_->plan().slots[ranges_[i].slot].name);
      r.Set("maxAbs", ranges_[i].maxAbs);
      r.Set("nonFinite", ranges_[i].nonFinite);
      ranges.Set(static_cast<uint32_t>(i), r);
    }
    Napi::Object both = Napi::Object::New(env);
    both.Set("outputs", results);
    both.Set("ranges", ranges);
    deferred_.Resolve(both);
  }

 private:
  bool observe_;
  std::vector<mcpc::ValueRange> ranges_;
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<mcpc::Session> session_;
  std::vector<mcpc::IoBuffer> inputs_;
  std::vector<mcpc::IoBuffer> outputs_;
  // The feeds, the output arrays and the artifact bytes: nothing the worker reads or writes may be
  // collected (or its session's weights freed by dispose()) while the run is in flight.
  Napi::Reference<Napi::Array> keepAlive_;
  Napi::Reference<Napi::Array> results_;
  mcpc::Status status_;
  std::vector<mcpc::DynamicResult> dynamic_;
};

}  // namespace

Napi::Function SessionWrap::Define(Napi::Env env) {
  return DefineClass(env, "NativeSession",
                     {
                         InstanceMethod<&SessionWrap::Run>("run"),
                         InstanceMethod<&SessionWrap::RunObserved>("runObserved"),
                         InstanceMethod<&SessionWrap::Dispose>("dispose"),
                         InstanceAccessor<&SessionWrap::Threads>("threads"),
                         InstanceAccessor<&SessionWrap::ArenaBytes>("arenaBytes"),
                         InstanceAccessor<&SessionWrap::ReleasedWeightBytes>("releasedWeightBytes"),
                     });
}

// Constructed empty (only LoadWorker attaches a session): `new NativeSession()` from JS gives a
// session that behaves as disposed.
SessionWrap::SessionWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SessionWrap>(info) {}

void SessionWrap::Attach(std::shared_ptr<mcpc::Session> session, Napi::Object bytes) {
  session_ = std::move(session);
  bytes_ = Napi::Persistent(bytes);
}

Napi::Value SessionWrap::Run(const Napi::CallbackInfo& info) { return StartRun(info, false); }

Napi::Value SessionWrap::RunObserved(const Napi::CallbackInfo& info) { return StartRun(info, true); }

Napi::Value SessionWrap::StartRun(const Napi::CallbackInfo& info, bool observe) {
  Napi::Env env = info.Env();
  if (!session_) throw WithCode(Napi::Error::New(env, "the session has been disposed"), MCPC_E_DISPOSED);
  const mcpc::Plan& plan = session_->plan();
  if (!info[0].IsArray()) throw CodedTypeError(env, MCPC_E_BAD_INPUT, "inputs must be an array of TypedArrays");
  Napi::Array feeds = info[0].As<Napi::Array>();
  if (feeds.Length() != plan.inputSlots.size()) {
    throw CodedTypeError(env, MCPC_E_BAD_INPUT, "expected " + std::to_string(plan.inputSlots.size()) + " inputs, got " + std::to_string(feeds.Length()));
  }
  Napi::Array provided = info[1].IsArray() ? info[1].As<Napi::Array>() : Napi::Array();
  Napi::Array keepAlive = Napi::Array::New(env);
  uint32_t kept = 0;
  keepAlive.Set(kept++, bytes_.Value());

  std::vector<mcpc::IoBuffer> inputs;
  for (uint32_t i = 0; i < feeds.Length(); ++i) {
    const mcpc::Slot& slot = plan.slots[plan.inputSlots[i]];
    Napi::Value feed = feeds.Get(i);
    mcpc::IoBuffer b = BytesOf(feed, "inputs[" + std::to_string(i) + "] (" + slot.name + ")");
    if (b.byteLength != slot.byteLength) {
      throw CodedRangeError(env, MCPC_E_BAD_INPUT, "input " + slot.name + " has " + std::to_string(b.byteLength) + " bytes, expected " +
                                                       std::to_string(slot.byteLength));
    }
    inputs.push_back(b);
    keepAlive.Set(kept++, feed);
  }

  Napi::Array results = Napi::Array::New(env, plan.outputSlots.size());
  std::vector<mcpc::IoBuffer> outputs;
  for (uint32_t j = 0; j < plan.outputSlots.size(); ++j) {
    const mcpc::Slot& slot = plan.slots[plan.outputSlots[j]];
    if (session_->DynamicOutput(j)) {
      // Sized at run time: the result is built in OnOK.
      outputs.push_back(mcpc::IoBuffer{});
      results.Set(j, env.Null());
      continue;
    }
    Napi::Value out = !provided.IsEmpty() && j < provided.Length() ? provided.Get(j) : env.Undefined();
    if (out.IsUndefined() || out.IsNull()) out = NewTypedArray(env, slot.dtype, Napi::ArrayBuffer::New(env, slot.byteLength), slot.byteLength);
    mcpc::IoBuffer b = BytesOf(out, "outputs[" + std::to_string(j) + "] (" + slot.name + ")");
    if (b.byteLength != slot.byteLength) {
      throw CodedRangeError(env, MCPC_E_BAD_INPUT, "output buffer " + slot.name + " has " + std::to_string(b.byteLength) + " bytes, expected " +
                                                       std::to_string(slot.byteLength));
    }
    outputs.push_back(b);
    results.Set(j, out);
  }
  auto* worker = new RunWorker(env, session_, std::move(inputs), std::move(outputs), keepAlive, results, observe);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

void SessionWrap::Dispose(const Napi::CallbackInfo&) {
  // A run in flight keeps its own shared_ptr and bytes reference: the arena and kernels go away
  // when it finishes, not under it.
  session_.reset();
  bytes_.Reset();
}

Napi::Value SessionWrap::Threads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), session_ ? session_->threads() : 0);
}

Napi::Value SessionWrap::ArenaBytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), session_ ? static_cast<double>(session_->arenaBytes()) : 0);
}

Napi::Value SessionWrap::ReleasedWeightBytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), session_ ? static_cast<double>(session_->releasedWeightBytes()) : 0);
}

Napi::Value LoadSession(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw Napi::TypeError::New(env, "loadSession expects an options object");
  Napi::Object args = info[0].As<Napi::Object>();
  // A device other than the cpu goes to the CUDA backend (cuda_wrap.cc), which says so when it is not built.
  Napi::Value device = args.Get("device");
  if (!device.IsUndefined()) {
    if (!device.IsString()) throw CodedTypeError(env, MCPC_E_DEVICE_UNAVAILABLE, "device must be a string such as 'cpu' or 'cuda:0'");
    const std::string name = device.As<Napi::String>().Utf8Value();
    if (name != "cpu" && name != "cpu:0") return LoadCudaSession(info, args, name);
  }
  mcpc::Plan plan = PlanFromJs(args.Get("plan"), args.Get("arenaSize"));
  Napi::Value pathValue = args.Get("path");
  if (!pathValue.IsUndefined()) {
    // The weights come from a read-only mapping of the file, made off the main thread.
    if (!pathValue.IsString()) throw CodedTypeError(env, MCPC_E_INVALID_PLAN, "path must be a string");
    std::string path = pathValue.As<Napi::String>().Utf8Value();
    if (path.empty()) throw CodedTypeError(env, MCPC_E_INVALID_PLAN, "path must not be empty");
    int64_t offset = ToIndex(args.Get("weightsOffset"), "weightsOffset");
    int64_t length = ToIndex(args.Get("weightsLength"), "weightsLength");
    mcpc::WeightsSection weights;
    weights.entries = WeightRefsFromJs(args.Get("weights"));
    mcpc::SessionOptions options;
    Napi::Value threads = args.Get("threads");
    if (!threads.IsUndefined()) options.threads = static_cast<int>(std::min<int64_t>(ToIndex(threads, "threads"), 1024));
    auto* worker = new LoadWorker(env, std::move(plan), std::move(weights), options, Napi::Object::New(env), std::move(path),
                                  static_cast<uint64_t>(offset), static_cast<uint64_t>(length));
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
  }
  Napi::Value bytesValue = args.Get("bytes");
  if (!bytesValue.IsTypedArray()) throw CodedTypeError(env, MCPC_E_INVALID_PLAN, "bytes must be a Uint8Array");
  mcpc::IoBuffer bytes = BytesOf(bytesValue, "bytes");
  int64_t offset = ToIndex(args.Get("weightsOffset"), "weightsOffset");
  int64_t length = ToIndex(args.Get("weightsLength"), "weightsLength");
  if (static_cast<uint64_t>(offset) > bytes.byteLength || static_cast<uint64_t>(length) > bytes.byteLength - offset) {
    throw CodedRangeError(env, MCPC_E_INVALID_PLAN, "the weights section lies outside the artifact's bytes");
  }
  mcpc::WeightsSection weights;
  weights.data = static_cast<const uint8_t*>(bytes.data) + offset;
  weights.length = static_cast<size_t>(length);
  weights.entries = WeightRefsFromJs(args.Get("weights"));
  mcpc::SessionOptions options;
  Napi::Value threads = args.Get("threads");
  if (!threads.IsUndefined()) options.threads = static_cast<int>(std::min<int64_t>(ToIndex(threads, "threads"), 1024));
  auto* worker = new LoadWorker(env, std::move(plan), std::move(weights), options, bytesValue.As<Napi::Object>());
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace mcpc_binding
