// NativeCudaSession and NativeDeviceTensor (cuda_wrap.h): arguments are checked and copied into
// plain structs here on the main thread, the CUDA work (load, run, copies) runs in async workers,
// and results are built in OnOK. Feeds are host TypedArrays (used in place) or device tensors;
// outputs come back as new TypedArrays, into the caller's, or as new device tensors.
#include "cuda_wrap.h"

#include <utility>
#include <vector>

#include "js_errors.h"
#include "plan_from_js.h"
#include "session_wrap.h"
#include "typed_arrays.h"
#if MCPC_WITH_CUDA
#include "cuda_session.h"
#endif

namespace mcpc_binding {

namespace {

Napi::Value Rejected(Napi::Env env, const mcpc::Status& status) {
  auto deferred = Napi::Promise::Deferred::New(env);
  deferred.Reject(StatusError(env, status).Value());
  return deferred.Promise();
}

/** 'cuda' -> 0, 'cuda:N' -> N, anything else -> -1. */
int ParseCudaOrdinal(const std::string& s) {
  if (s == "cuda") return 0;
  if (s.rfind("cuda:", 0) != 0 || s.size() == 5 || s.size() > 9) return -1;
  int n = 0;
  for (size_t i = 5; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return -1;
    n = n * 10 + (s[i] - '0');
  }
  return n;
}

}  // namespace

#if !MCPC_WITH_CUDA

void InitCuda(Napi::Env, Napi::Object) {}

Napi::Value LoadCudaSession(const Napi::CallbackInfo& info, Napi::Object, const std::string& device) {
  if (ParseCudaOrdinal(device) < 0) {
    return Rejected(info.Env(), MCPC_ERROR(MCPC_E_DEVICE_UNAVAILABLE, "device %s is not available (devices: cpu)", device.c_str()));
  }
  return Rejected(info.Env(), MCPC_ERROR(MCPC_E_DEVICE_UNAVAILABLE,
                                         "device %s is not available: this build of mcpc has no CUDA backend (rebuild it where a CUDA "
                                         "toolkit with cuBLAS and NVRTC is installed: MCPC_CUDA=ON, CUDAToolkit_ROOT=<toolkit>)",
                                         device.c_str()));
}

Napi::Value CudaDevices(const Napi::CallbackInfo& info) { return Napi::Array::New(info.Env()); }

Napi::Value UploadTensor(const Napi::CallbackInfo& info) {
  return Rejected(info.Env(), MCPC_ERROR(MCPC_E_DEVICE_UNAVAILABLE, "device tensors need a CUDA device: this build of mcpc has no CUDA backend"));
}

#else

namespace {

using mcpc::cuda::CudaFeed;
using mcpc::cuda::CudaSession;
using mcpc::cuda::DeviceBuffer;

class DeviceTensorWrap : public Napi::ObjectWrap<DeviceTensorWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeDeviceTensor",
                       {
                           InstanceMethod<&DeviceTensorWrap::Download>("download"),
                           InstanceMethod<&DeviceTensorWrap::Dispose>("dispose"),
                           InstanceAccessor<&DeviceTensorWrap::Dtype>("dtype"),
                           InstanceAccessor<&DeviceTensorWrap::Dims>("dims"),
                           InstanceAccessor<&DeviceTensorWrap::Device>("device"),
                           InstanceAccessor<&DeviceTensorWrap::ByteLength>("byteLength"),
                           InstanceAccessor<&DeviceTensorWrap::Disposed>("disposed"),
                       });
  }
  // Constructed empty: only the workers below attach a buffer (`new NativeDeviceTensor()` is disposed).
  explicit DeviceTensorWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DeviceTensorWrap>(info) {}

  static Napi::Object New(Napi::Env env, std::shared_ptr<DeviceBuffer> buffer, mcpc::DType dtype, std::vector<int64_t> dims) {
    Napi::Object obj = env.GetInstanceData<AddonData>()->deviceTensorConstructor.New({});
    DeviceTensorWrap* w = Unwrap(obj);
    w->buffer_ = std::move(buffer);
    w->dtype_ = dtype;
    w->dims_ = std::move(dims);
    return obj;
  }

  /** The wrap of `v` if it is a NativeDeviceTensor, else nullptr. */
  static DeviceTensorWrap* Of(const Napi::Value& v) {
    if (!v.IsObject()) return nullptr;
    Napi::Env env = v.Env();
    const AddonData* data = env.GetInstanceData<AddonData>();
    if (data->deviceTensorConstructor.IsEmpty() || !v.As<Napi::Object>().InstanceOf(data->deviceTensorConstructor.Value())) return nullptr;
    return Unwrap(v.As<Napi::Object>());
  }

  const std::shared_ptr<DeviceBuffer>& buffer() const { return buffer_; }
  mcpc::DType dtype() const { return dtype_; }

 private:
  class DownloadWorker : public Napi::AsyncWorker {
   public:
    DownloadWorker(Napi::Env env, std::shared_ptr<DeviceBuffer> buffer, mcpc::DType dtype)
        : Napi::AsyncWorker(env, "mcpc.download"),
          deferred_(Napi::Promise::Deferred::New(env)),
          buffer_(std::move(buffer)),
          dtype_(dtype),
          array_(Napi::Persistent(Napi::ArrayBuffer::New(env, buffer_->bytes()))),
          data_(array_.Value().Data()) {}
    Napi::Promise Promise() const { return deferred_.Promise(); }
    void Execute() override { status_ = buffer_->Download(data_); }
    void OnOK() override {
      Napi::Env env = Env();
      if (!status_.ok()) deferred_.Reject(StatusError(env, status_).Value());
      else deferred_.Resolve(NewTypedArray(env, dtype_, array_.Value(), buffer_->bytes()));
    }

   private:
    Napi::Promise::Deferred deferred_;
    std::shared_ptr<DeviceBuffer> buffer_;
    mcpc::DType dtype_;
    Napi::Reference<Napi::ArrayBuffer> array_;
    void* data_;
    mcpc::Status status_;
  };

  Napi::Value Download(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!buffer_) return Rejected(env, MCPC_ERROR(MCPC_E_DISPOSED, "the device tensor has been disposed"));
    auto* worker = new DownloadWorker(env, buffer_, dtype_);
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
  }
  // A run or download in flight holds its own reference: the memory goes when that finishes.
  void Dispose(const Napi::CallbackInfo&) { buffer_.reset(); }
  Napi::Value Dtype(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), mcpc::DTypeName(dtype_)); }
  Napi::Value Dims(const Napi::CallbackInfo& info) {
    Napi::Array out = Napi::Array::New(info.Env(), dims_.size());
    for (uint32_t i = 0; i < dims_.size(); ++i) out.Set(i, Napi::Number::New(info.Env(), static_cast<double>(dims_[i])));
    return out;
  }
  Napi::Value Device(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), buffer_ ? buffer_->device() : -1); }
  Napi::Value ByteLength(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), buffer_ ? static_cast<double>(buffer_->bytes()) : 0);
  }
  Napi::Value Disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !buffer_); }

  std::shared_ptr<DeviceBuffer> buffer_;
  mcpc::DType dtype_ = mcpc::DType::F32;
  std::vector<int64_t> dims_;
};

class CudaSessionWrap : public Napi::ObjectWrap<CudaSessionWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeCudaSession",
                       {
                           InstanceMethod<&CudaSessionWrap::Run>("run"),
                           InstanceMethod<&CudaSessionWrap::Dispose>("dispose"),
                           InstanceAccessor<&CudaSessionWrap::Threads>("threads"),
                           InstanceAccessor<&CudaSessionWrap::ArenaBytes>("arenaBytes"),
                           InstanceAccessor<&CudaSessionWrap::ReleasedWeightBytes>("releasedWeightBytes"),
                           InstanceAccessor<&CudaSessionWrap::WeightBytes>("weightBytes"),
                           InstanceAccessor<&CudaSessionWrap::DeviceBytes>("deviceBytes"),
                           InstanceAccessor<&CudaSessionWrap::Device>("device"),
                           InstanceAccessor<&CudaSessionWrap::Graph>("cudaGraph"),
                           InstanceAccessor<&CudaSessionWrap::L2Window>("cudaL2Window"),
                       });
  }
  explicit CudaSessionWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CudaSessionWrap>(info) {}
  void Attach(std::shared_ptr<CudaSession> session) { session_ = std::move(session); }

 private:
  class RunWorker : public Napi::AsyncWorker {
   public:
    RunWorker(Napi::Env env, std::shared_ptr<CudaSession> session, std::vector<CudaFeed> feeds, std::vector<mcpc::IoBuffer> outputs,
              bool deviceOutputs, Napi::Array keepAlive, Napi::Array results)
        : Napi::AsyncWorker(env, "mcpc.run"),
          deferred_(Napi::Promise::Deferred::New(env)),
          session_(std::move(session)),
          feeds_(std::move(feeds)),
          outputs_(std::move(outputs)),
          deviceOutputs_(deviceOutputs),
          keepAlive_(Napi::Persistent(keepAlive)),
          results_(Napi::Persistent(results)) {}
    Napi::Promise Promise() const { return deferred_.Promise(); }
    void Execute() override { status_ = session_->Run(feeds_, outputs_, deviceOutputs_, &deviceResults_); }
    void OnOK() override {
      Napi::Env env = Env();
      if (!status_.ok()) {
        deferred_.Reject(StatusError(env, status_).Value());
        return;
      }
      if (deviceOutputs_) {
        const mcpc::Plan& plan = session_->plan();
        Napi::Array results = results_.Value();
        for (uint32_t j = 0; j < deviceResults_.size(); ++j) {
          const mcpc::Slot& slot = plan.slots[plan.outputSlots[j]];
          results.Set(j, DeviceTensorWrap::New(env, std::move(deviceResults_[j]), slot.dtype, slot.shape));
        }
      }
      deferred_.Resolve(results_.Value());
    }

   private:
    Napi::Promise::Deferred deferred_;
    std::shared_ptr<CudaSession> session_;
    std::vector<CudaFeed> feeds_;
    std::vector<mcpc::IoBuffer> outputs_;
    bool deviceOutputs_;
    std::vector<std::shared_ptr<DeviceBuffer>> deviceResults_;
    // Host feeds and output arrays: nothing the worker reads or writes may be collected meanwhile.
    Napi::Reference<Napi::Array> keepAlive_;
    Napi::Reference<Napi::Array> results_;
    mcpc::Status status_;
  };

  /** run(inputs, outputs?, outputLocation?: 'host' | 'device') -> Promise<(TypedArray | NativeDeviceTensor)[]>. */
  Napi::Value Run(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!session_) throw WithCode(Napi::Error::New(env, "the session has been disposed"), MCPC_E_DISPOSED);
    const mcpc::Plan& plan = session_->plan();
    if (!info[0].IsArray()) throw CodedTypeError(env, MCPC_E_BAD_INPUT, "inputs must be an array of TypedArrays or device tensors");
    Napi::Array feeds = info[0].As<Napi::Array>();
    if (feeds.Length() != plan.inputSlots.size()) {
      throw CodedTypeError(env, MCPC_E_BAD_INPUT,
                           "expected " + std::to_string(plan.inputSlots.size()) + " inputs, got " + std::to_string(feeds.Length()));
    }
    bool deviceOutputs = false;
    if (!info[2].IsUndefined()) {
      const std::string where = info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "";
      if (where != "host" && where != "device") throw CodedTypeError(env, MCPC_E_BAD_INPUT, "outputLocation must be 'host' or 'device'");
      deviceOutputs = where == "device";
    }
    Napi::Array keepAlive = Napi::Array::New(env);
    uint32_t kept = 0;
    std::vector<CudaFeed> inputs;
    for (uint32_t i = 0; i < feeds.Length(); ++i) {
      const mcpc::Slot& slot = plan.slots[plan.inputSlots[i]];
      Napi::Value feed = feeds.Get(i);
      const std::string where = "inputs[" + std::to_string(i) + "] (" + slot.name + ")";
      CudaFeed f;
      if (DeviceTensorWrap* t = DeviceTensorWrap::Of(feed)) {
        if (!t->buffer()) throw WithCode(Napi::Error::New(env, where + " is a disposed device tensor"), MCPC_E_DISPOSED);
        if (t->dtype() != slot.dtype) {
          throw CodedTypeError(env, MCPC_E_BAD_INPUT, where + " is a " + mcpc::DTypeName(t->dtype()) + " device tensor, expected " + mcpc::DTypeName(slot.dtype));
        }
        f.device = t->buffer();
        f.byteLength = f.device->bytes();
      } else {
        mcpc::IoBuffer b = BytesOf(feed, where);
        f.host = b.data;
        f.byteLength = b.byteLength;
      }
      if (f.byteLength != slot.byteLength) {
        throw CodedRangeError(env, MCPC_E_BAD_INPUT,
                              "input " + slot.name + " has " + std::to_string(f.byteLength) + " bytes, expected " + std::to_string(slot.byteLength));
      }
      inputs.push_back(std::move(f));
      keepAlive.Set(kept++, feed);
    }
    Napi::Array results = Napi::Array::New(env, plan.outputSlots.size());
    std::vector<mcpc::IoBuffer> outputs;
    if (!deviceOutputs) {
      Napi::Array provided = info[1].IsArray() ? info[1].As<Napi::Array>() : Napi::Array();
      for (uint32_t j = 0; j < plan.outputSlots.size(); ++j) {
        const mcpc::Slot& slot = plan.slots[plan.outputSlots[j]];
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
    }
    auto* worker = new RunWorker(env, session_, std::move(inputs), std::move(outputs), deviceOutputs, keepAlive, results);
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
  }

  // A run in flight keeps its own shared_ptr: the device memory goes when it finishes.
  void Dispose(const Napi::CallbackInfo&) { session_.reset(); }
  Napi::Value Threads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), session_ ? 1 : 0); }
  Napi::Value ArenaBytes(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), session_ ? static_cast<double>(session_->arenaBytes()) : 0);
  }
  Napi::Value ReleasedWeightBytes(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), 0); }
  Napi::Value WeightBytes(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), session_ ? static_cast<double>(session_->weightBytes()) : 0);
  }
  Napi::Value DeviceBytes(const Napi::CallbackInfo& info) {
    return session_ ? Napi::Number::New(info.Env(), static_cast<double>(session_->deviceBytes())) : info.Env().Undefined();
  }
  Napi::Value Device(const Napi::CallbackInfo& info) {
    return session_ ? Napi::String::New(info.Env(), "cuda:" + std::to_string(session_->device())) : info.Env().Undefined();
  }
  Napi::Value Graph(const Napi::CallbackInfo& info) {
    return session_ ? Napi::String::New(info.Env(), session_->graphState()) : info.Env().Undefined();
  }
  Napi::Value L2Window(const Napi::CallbackInfo& info) {
    return session_ ? Napi::String::New(info.Env(), session_->l2WindowState()) : info.Env().Undefined();
  }

  std::shared_ptr<CudaSession> session_;
};

class CudaLoadWorker : public Napi::AsyncWorker {
 public:
  CudaLoadWorker(Napi::Env env, mcpc::Plan plan, mcpc::WeightsSection weights, int ordinal, Napi::Object bytes, std::string path,
                 uint64_t weightsOffset, uint64_t weightsLength)
      : Napi::AsyncWorker(env, "mcpc.loadSession"),
        deferred_(Napi::Promise::Deferred::New(env)),
        plan_(std::move(plan)),
        weights_(std::move(weights)),
        ordinal_(ordinal),
        bytes_(Napi::Persistent(bytes)),
        path_(std::move(path)),
        weightsOffset_(weightsOffset),
        weightsLength_(weightsLength) {}
  Napi::Promise Promise() const { return deferred_.Promise(); }

  void Execute() override {
    status_ = mcpc::MapWeightsIfFile(path_, weightsOffset_, weightsLength_, &weights_);
    if (!status_.ok()) return;
    auto created = CudaSession::Create(std::move(plan_), weights_, mcpc::cuda::CudaOptions{ordinal_});
    // The weights now live on the device: the mapping (or the bytes, on OnOK) can go.
    weights_ = mcpc::WeightsSection();
    if (created.ok()) session_ = std::shared_ptr<CudaSession>(created.take());
    else status_ = created.status();
  }

  void OnOK() override {
    Napi::Env env = Env();
    bytes_.Reset();
    if (!status_.ok()) {
      deferred_.Reject(StatusError(env, status_).Value());
      return;
    }
    Napi::Object obj = env.GetInstanceData<AddonData>()->cudaSessionConstructor.New({});
    CudaSessionWrap::Unwrap(obj)->Attach(std::move(session_));
    deferred_.Resolve(obj);
  }

 private:
  Napi::Promise::Deferred deferred_;
  mcpc::Plan plan_;
  mcpc::WeightsSection weights_;
  int ordinal_;
  Napi::ObjectReference bytes_;
  std::string path_;
  uint64_t weightsOffset_, weightsLength_;
  mcpc::Status status_;
  std::shared_ptr<CudaSession> session_;
};

class UploadWorker : public Napi::AsyncWorker {
 public:
  UploadWorker(Napi::Env env, Napi::Value data, mcpc::IoBuffer bytes, mcpc::DType dtype, std::vector<int64_t> dims, int ordinal)
      : Napi::AsyncWorker(env, "mcpc.uploadTensor"),
        deferred_(Napi::Promise::Deferred::New(env)),
        data_(Napi::Persistent(data.As<Napi::Object>())),
        bytes_(bytes),
        dtype_(dtype),
        dims_(std::move(dims)),
        ordinal_(ordinal) {}
  Napi::Promise Promise() const { return deferred_.Promise(); }

  void Execute() override {
    auto b = DeviceBuffer::Allocate(ordinal_, bytes_.byteLength);
    if (!b.ok()) {
      status_ = b.status();
      return;
    }
    buffer_ = b.take();
    status_ = buffer_->Upload(bytes_.data);
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (!status_.ok()) deferred_.Reject(StatusError(env, status_).Value());
    else deferred_.Resolve(DeviceTensorWrap::New(env, std::move(buffer_), dtype_, std::move(dims_)));
  }

 private:
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference data_;
  mcpc::IoBuffer bytes_;
  mcpc::DType dtype_;
  std::vector<int64_t> dims_;
  int ordinal_;
  mcpc::Status status_;
  std::shared_ptr<DeviceBuffer> buffer_;
};

}  // namespace

void InitCuda(Napi::Env env, Napi::Object exports) {
  AddonData* data = env.GetInstanceData<AddonData>();
  data->cudaSessionConstructor = Napi::Persistent(CudaSessionWrap::Define(env));
  data->deviceTensorConstructor = Napi::Persistent(DeviceTensorWrap::Define(env));
  exports.Set("NativeCudaSession", data->cudaSessionConstructor.Value());
  exports.Set("NativeDeviceTensor", data->deviceTensorConstructor.Value());
}

Napi::Value LoadCudaSession(const Napi::CallbackInfo& info, Napi::Object args, const std::string& device) {
  Napi::Env env = info.Env();
  const int ordinal = ParseCudaOrdinal(device);
  if (ordinal < 0) {
    return Rejected(env, MCPC_ERROR(MCPC_E_DEVICE_UNAVAILABLE, "device %s is not available (devices: cpu, cuda, cuda:N)", device.c_str()));
  }
  mcpc::Plan plan = PlanFromJs(args.Get("plan"), args.Get("arenaSize"));
  // Run-time dims are the cpu executor's; the compiler never emits them for cuda.
  for (const mcpc::Slot& s : plan.slots) {
    if (s.dynamic != mcpc::DynamicDims::Static) {
      return Rejected(env, MCPC_ERROR(MCPC_E_INVALID_PLAN, "plan slot %s has dims known only at run time, which the CUDA backend does not support", s.name.c_str()));
    }
  }
  const int64_t offset = ToIndex(args.Get("weightsOffset"), "weightsOffset");
  const int64_t length = ToIndex(args.Get("weightsLength"), "weightsLength");
  mcpc::WeightsSection weights;
  weights.entries = WeightRefsFromJs(args.Get("weights"));
  Napi::Value pathValue = args.Get("path");
  CudaLoadWorker* worker;
  if (!pathValue.IsUndefined()) {
    if (!pathValue.IsString()) throw CodedTypeError(env, MCPC_E_INVALID_PLAN, "path must be a string");
    std::string path = pathValue.As<Napi::String>().Utf8Value();
    if (path.empty()) throw CodedTypeError(env, MCPC_E_INVALID_PLAN, "path must not be empty");
    worker = new CudaLoadWorker(env, std::move(plan), std::move(weights), ordinal, Napi::Object::New(env), std::move(path),
                                static_cast<uint64_t>(offset), static_cast<uint64_t>(length));
  } else {
    Napi::Value bytesValue = args.Get("bytes");
    if (!bytesValue.IsTypedArray()) throw CodedTypeError(env, MCPC_E_INVALID_PLAN, "bytes must be a Uint8Array");
    mcpc::IoBuffer bytes = BytesOf(bytesValue, "bytes");
    if (static_cast<uint64_t>(offset) > bytes.byteLength || static_cast<uint64_t>(length) > bytes.byteLength - offset) {
      throw CodedRangeError(env, MCPC_E_INVALID_PLAN, "the weights section lies outside the artifact's bytes");
    }
    weights.data = static_cast<const uint8_t*>(bytes.data) + offset;
    weights.length = static_cast<size_t>(length);
    worker = new CudaLoadWorker(env, std::move(plan), std::move(weights), ordinal, bytesValue.As<Napi::Object>(), std::string(), 0, 0);
  }
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

Napi::Value CudaDevices(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::vector<mcpc::cuda::DeviceInfo> devices = mcpc::cuda::ListDevices();
  Napi::Array out = Napi::Array::New(env, devices.size());
  for (uint32_t i = 0; i < devices.size(); ++i) {
    Napi::Object d = Napi::Object::New(env);
    d.Set("ordinal", devices[i].ordinal);
    d.Set("name", devices[i].name);
    d.Set("computeCapability", devices[i].computeCapability);
    d.Set("memoryBytes", Napi::Number::New(env, static_cast<double>(devices[i].memoryBytes)));
    out.Set(i, d);
  }
  return out;
}

Napi::Value UploadTensor(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw CodedTypeError(env, MCPC_E_BAD_INPUT, "uploadTensor expects {data, dtype, dims, device}");
  Napi::Object args = info[0].As<Napi::Object>();
  Napi::Value data = args.Get("data");
  mcpc::IoBuffer bytes = BytesOf(data, "data");
  Napi::Value dtypeValue = args.Get("dtype");
  mcpc::DType dtype;
  if (!dtypeValue.IsString() || !mcpc::ParseDType(dtypeValue.As<Napi::String>().Utf8Value(), &dtype)) {
    throw CodedTypeError(env, MCPC_E_BAD_INPUT, "dtype must be a known dtype name");
  }
  if (!args.Get("dims").IsArray()) throw CodedTypeError(env, MCPC_E_BAD_INPUT, "dims must be an array");
  Napi::Array dimsArray = args.Get("dims").As<Napi::Array>();
  std::vector<int64_t> dims;
  uint64_t count = 1;
  for (uint32_t i = 0; i < dimsArray.Length(); ++i) {
    const int64_t d = ToIndex(dimsArray.Get(i), "dims[" + std::to_string(i) + "]");
    dims.push_back(d);
    count *= static_cast<uint64_t>(d);
  }
  if (mcpc::ByteLength(dtype, count) != bytes.byteLength) {
    throw CodedRangeError(env, MCPC_E_BAD_INPUT, "data has " + std::to_string(bytes.byteLength) + " bytes, dims need " +
                                                     std::to_string(mcpc::ByteLength(dtype, count)));
  }
  Napi::Value deviceValue = args.Get("device");
  const std::string device = deviceValue.IsString() ? deviceValue.As<Napi::String>().Utf8Value() : "cuda:0";
  const int ordinal = ParseCudaOrdinal(device);
  if (ordinal < 0) return Rejected(env, MCPC_ERROR(MCPC_E_DEVICE_UNAVAILABLE, "device %s is not a CUDA device", device.c_str()));
  auto* worker = new UploadWorker(env, data, bytes, dtype, std::move(dims), ordinal);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

#endif  // MCPC_WITH_CUDA

}  // namespace mcpc_binding
