// The JS object of a loaded session (NativeSession in runtime/native-addon.ts) and the two async
// workers behind it. The wrap owns the core Session through a shared_ptr that each in-flight run
// also holds, and a reference to the artifact's bytes, whose weights the session uses in place.
#pragma once

#include <napi.h>

#include <memory>

#include "executor.h"

namespace mcpc_binding {

class SessionWrap : public Napi::ObjectWrap<SessionWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit SessionWrap(const Napi::CallbackInfo& info);

  /** Fills a wrap created by LoadWorker::OnOK. */
  void Attach(std::shared_ptr<mcpc::Session> session, Napi::Object bytes);

 private:
  /** run(inputs, outputs?) -> Promise<outputs>. */
  Napi::Value Run(const Napi::CallbackInfo& info);
  /** runObserved(inputs) -> Promise<{ outputs, ranges }>: run, plus each kernel's float32 outputs' ranges (mcpc::ValueRange). */
  Napi::Value RunObserved(const Napi::CallbackInfo& info);
  Napi::Value StartRun(const Napi::CallbackInfo& info, bool observe);
  void Dispose(const Napi::CallbackInfo& info);
  Napi::Value Threads(const Napi::CallbackInfo& info);
  Napi::Value ArenaBytes(const Napi::CallbackInfo& info);
  Napi::Value ReleasedWeightBytes(const Napi::CallbackInfo& info);

  std::shared_ptr<mcpc::Session> session_;
  Napi::ObjectReference bytes_;
};

/**
 * loadSession({plan, arenaSize, bytes | path, weightsOffset, weightsLength, weights, threads, device}) -> Promise<NativeSession>.
 * With `path` the file is mapped read-only off the main thread and the weights are used from the mapping.
 * A `device` of 'cuda' or 'cuda:N' loads a NativeCudaSession instead (cuda_wrap.h).
 */
Napi::Value LoadSession(const Napi::CallbackInfo& info);

/** Per-addon-instance state (worker threads and several contexts may load the addon). */
struct AddonData {
  Napi::FunctionReference sessionConstructor;
  /** NativeCudaSession and NativeDeviceTensor (cuda_wrap.h); empty without a CUDA backend. */
  Napi::FunctionReference cudaSessionConstructor;
  Napi::FunctionReference deviceTensorConstructor;
};

}  // namespace mcpc_binding
