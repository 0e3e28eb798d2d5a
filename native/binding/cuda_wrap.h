// The JS objects of the CUDA backend: NativeCudaSession (a loaded cuda-target plan) and
// NativeDeviceTensor (a buffer in GPU memory with its dtype and dims, what run() returns for
// outputs: 'device' and accepts as a feed). Same baton pattern as session_wrap.h. Built into every
// addon: without a CUDA backend the entry points answer with a coded error (or no devices).
#pragma once

#include <napi.h>

#include <string>

namespace mcpc_binding {

/** Registers NativeCudaSession and NativeDeviceTensor and their constructors in AddonData. */
void InitCuda(Napi::Env env, Napi::Object exports);

/**
 * loadSession for `device` 'cuda' or 'cuda:N' (args as LoadSession's) -> Promise<NativeCudaSession>.
 * MCPC5006 (TypeError-free, a rejected promise) when the build has no CUDA backend or no such device.
 */
Napi::Value LoadCudaSession(const Napi::CallbackInfo& info, Napi::Object args, const std::string& device);

/** cudaDevices() -> [{ordinal, name, computeCapability, memoryBytes}] (empty without backend or device). */
Napi::Value CudaDevices(const Napi::CallbackInfo& info);

/** uploadTensor({data, dtype, dims, device}) -> Promise<NativeDeviceTensor>. */
Napi::Value UploadTensor(const Napi::CallbackInfo& info);

}  // namespace mcpc_binding
