// JS errors with an mcpc code. The binding's errors are plain Errors/TypeErrors/RangeErrors with a
// `code` property; runtime/ re-raises them at the caller's call site so the stack points there.
#pragma once

#include <napi.h>

#include <string>

#include "status.h"

namespace mcpc_binding {

inline Napi::Error WithCode(Napi::Error error, const char* code) {
  error.Set("code", Napi::String::New(error.Env(), code));
  return error;
}

inline Napi::Error StatusError(Napi::Env env, const mcpc::Status& status) {
  return WithCode(Napi::Error::New(env, status.message()), status.code());
}

inline Napi::Error CodedTypeError(Napi::Env env, const char* code, const std::string& message) {
  return WithCode(Napi::TypeError::New(env, message), code);
}

inline Napi::Error CodedRangeError(Napi::Env env, const char* code, const std::string& message) {
  return WithCode(Napi::RangeError::New(env, message), code);
}

}  // namespace mcpc_binding
