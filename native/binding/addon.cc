// Module entry of mcpc_native.node: loadSession, the CUDA backend's entry points (cudaDevices,
// uploadTensor) and the build's introspection (kernelNames, cpuFeatures, buildInfo). The typed JS
// face of these is runtime/native-addon.ts.
#include <napi.h>

#include "cpu_features.h"
#include "cuda_wrap.h"
#include "kernel.h"
#include "session_wrap.h"
#if MCPC_WITH_CUDA
#include "cuda_session.h"
#endif

namespace mcpc_binding {

namespace {

Napi::Array Strings(Napi::Env env, const std::vector<std::string>& values) {
  Napi::Array out = Napi::Array::New(env, values.size());
  for (uint32_t i = 0; i < values.size(); ++i) out.Set(i, values[i]);
  return out;
}

Napi::Value KernelNames(const Napi::CallbackInfo& info) { return Strings(info.Env(), mcpc::KernelRegistry::Get().Names()); }

Napi::Value CpuFeatures(const Napi::CallbackInfo& info) {
  const mcpc::CpuFeatures& f = mcpc::GetCpuFeatures();
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("avx2", f.avx2);
  out.Set("avx512", f.avx512);
  return out;
}

Napi::Value BuildInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("cuda", Napi::Boolean::New(env, MCPC_WITH_CUDA != 0));
#if MCPC_WITH_CUDA
  const mcpc::cuda::BuildVersions v = mcpc::cuda::Versions();
  out.Set("cudnn", Napi::Boolean::New(env, mcpc::cuda::HasCudnn()));
  out.Set("cudaVersion", v.cudaRuntime);
  if (!v.cudnn.empty()) out.Set("cudnnVersion", v.cudnn);
#else
  out.Set("cudnn", Napi::Boolean::New(env, false));
#endif
  out.Set("napiVersion", Napi::Number::New(env, NAPI_VERSION));
  out.Set("duplicateKernels", Strings(env, mcpc::KernelRegistry::Get().Duplicates()));
  return out;
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  data->sessionConstructor = Napi::Persistent(SessionWrap::Define(env));
  env.SetInstanceData<AddonData>(data);
  exports.Set("NativeSession", data->sessionConstructor.Value());
  exports.Set("loadSession", Napi::Function::New<LoadSession>(env, "loadSession"));
  exports.Set("kernelNames", Napi::Function::New<KernelNames>(env, "kernelNames"));
  exports.Set("cpuFeatures", Napi::Function::New<CpuFeatures>(env, "cpuFeatures"));
  exports.Set("buildInfo", Napi::Function::New<BuildInfo>(env, "buildInfo"));
  exports.Set("cudaDevices", Napi::Function::New<CudaDevices>(env, "cudaDevices"));
  exports.Set("uploadTensor", Napi::Function::New<UploadTensor>(env, "uploadTensor"));
  InitCuda(env, exports);
  return exports;
}

}  // namespace mcpc_binding

// NODE_API_MODULE pastes the init function's name into an identifier: it must be unqualified.
static Napi::Object InitMcpcNative(Napi::Env env, Napi::Object exports) { return mcpc_binding::Init(env, exports); }
NODE_API_MODULE(mcpc_native, InitMcpcNative)
