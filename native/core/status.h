// Status: the result of every fallible native operation. Built by MCPC_ERROR, which records the
// diagnostic code, the source location and a message; N-API code turns it into a JS Error with
// that code. Kernels and the executor never throw across their interfaces.
#pragma once

#include <cstdio>
#include <memory>
#include <string>
#include <utility>

namespace mcpc {

class Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status Error(const char* code, std::string message, const char* file, int line) {
    Status s;
    s.state_ = std::make_shared<State>(State{code, std::move(message), file, line});
    return s;
  }

  bool ok() const { return !state_; }
  const char* code() const { return state_ ? state_->code : ""; }
  const std::string& message() const {
    static const std::string empty;
    return state_ ? state_->message : empty;
  }
  /** "message (file:line)" for logs; the JS error shows only the message. */
  std::string ToString() const {
    if (!state_) return "ok";
    return std::string(state_->code) + ": " + state_->message + " (" + state_->file + ":" + std::to_string(state_->line) + ")";
  }

 private:
  struct State {
    const char* code;
    std::string message;
    const char* file;
    int line;
  };
  std::shared_ptr<const State> state_;
};

/** A value or an error. */
template <typename T>
class StatusOr {
 public:
  StatusOr(Status s) : status_(std::move(s)) {}  // NOLINT: implicit by design
  StatusOr(T v) : value_(std::move(v)) {}         // NOLINT
  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() { return value_; }
  T&& take() { return std::move(value_); }

 private:
  Status status_;
  T value_{};
};

std::string FormatMessage(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

}  // namespace mcpc

/** Error codes used by native code (the JS side documents them with the compiler's catalogue). */
#define MCPC_E_INVALID_PLAN "MCPC4010"     // the plan in an artifact is inconsistent
#define MCPC_E_UNSUPPORTED "MCPC4011"      // op/dtype without a kernel for this target
#define MCPC_E_BAD_INPUT "MCPC5001"        // a feed does not match the model's input spec
#define MCPC_E_OUT_OF_MEMORY "MCPC5002"    // an allocation failed
#define MCPC_E_KERNEL "MCPC5003"           // a kernel failed at run time (index out of range...)
#define MCPC_E_DISPOSED "MCPC5004"         // the session was disposed
#define MCPC_E_DEVICE_UNAVAILABLE "MCPC5006"  // no CUDA backend, driver or device (or the ordinal is out of range)
#define MCPC_E_CUDA "MCPC5101"             // a CUDA, cuBLAS, cuDNN or NVRTC call failed
#define MCPC_E_DEVICE_OOM "MCPC5102"       // out of device memory
#define MCPC_E_CUDA_COMPILE "MCPC5103"     // NVRTC could not compile the plan's CUDA source
#define MCPC_E_COMPUTE_CAPABILITY "MCPC5104"  // the plan needs a newer GPU than the device

#define MCPC_ERROR(code, ...) ::mcpc::Status::Error(code, ::mcpc::FormatMessage(__VA_ARGS__), __FILE__, __LINE__)

#define MCPC_RETURN_IF_ERROR(expr)        \
  do {                                    \
    ::mcpc::Status _mcpc_s = (expr);      \
    if (!_mcpc_s.ok()) return _mcpc_s;    \
  } while (0)
