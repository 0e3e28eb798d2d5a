// Softmax and LogSoftmax over one axis (opset-13 semantics), f32 and f64 (f16/bf16 widen each block
// to f32 and round once). A contiguous axis (the usual last-axis case) runs the vectorized row kernel
// of rows.h, parallel over rows; other axes run column-wise over the inner block.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "../kernel.h"
#include "../thread_pool.h"
#include "elementwise.h"
#include "rows.h"

namespace mcpc {
namespace {

template <typename T>
void StridedSoftmax(const T* x, T* y, int64_t n, int64_t inner, bool log) {
  std::vector<T> mx(x, x + inner);
  std::vector<double> sum(inner, 0.0);
  for (int64_t k = 1; k < n; ++k) {
    const T* xr = x + k * inner;
    for (int64_t j = 0; j < inner; ++j) mx[j] = std::max(mx[j], xr[j]);
  }
  for (int64_t k = 0; k < n; ++k) {
    const T* xr = x + k * inner;
    T* yr = y + k * inner;
    for (int64_t j = 0; j < inner; ++j) {
      const T e = std::exp(xr[j] - mx[j]);
      if (!log) yr[j] = e;
      sum[j] += e;
    }
  }
  for (int64_t k = 0; k < n; ++k) {
    const T* xr = x + k * inner;
    T* yr = y + k * inner;
    for (int64_t j = 0; j < inner; ++j) {
      yr[j] = log ? static_cast<T>(xr[j] - mx[j] - std::log(sum[j])) : static_cast<T>(yr[j] / sum[j]);
    }
  }
}

class SoftmaxKernel : public Kernel {
 public:
  static StatusOr<std::unique_ptr<Kernel>> Create(const PrepareContext& ctx, bool log) {
    const KernelSpec& spec = ctx.spec;
    const Slot* sx = ctx.input(0);
    if (!sx || spec.outputs.size() != 1) return MCPC_ERROR(MCPC_E_INVALID_PLAN, "%s needs one input and one output (node %s)", spec.op.c_str(), spec.source.c_str());
    const bool half = sx->dtype == DType::F16 || sx->dtype == DType::BF16;
    if (sx->dtype != DType::F32 && sx->dtype != DType::F64 && !half) {
      return MCPC_ERROR(MCPC_E_UNSUPPORTED, "%s on %s is not supported by the cpu target (node %s)", spec.op.c_str(), DTypeName(sx->dtype),
                        spec.source.c_str());
    }
    const int64_t rank = static_cast<int64_t>(sx->shape.size());
    int64_t axis = spec.Int("axis", -1);
    if (axis < 0) axis += rank;
    if (rank == 0 ? axis != 0 && axis != -1 : (axis < 0 || axis >= rank)) {
      return MCPC_ERROR(MCPC_E_INVALID_PLAN, "%s axis %ld is out of range for rank %ld (node %s)", spec.op.c_str(), (long)spec.Int("axis", -1),
                        (long)rank, spec.source.c_str());
    }
    auto k = std::make_unique<SoftmaxKernel>();
    k->log_ = log;
    k->dtype_ = sx->dtype;
    k->outer_ = 1;
    k->n_ = 1;
    k->inner_ = 1;
    for (int64_t i = 0; i < rank; ++i) {
      if (i < axis) k->outer_ *= sx->shape[i];
      else if (i == axis) k->n_ = sx->shape[i];
      else k->inner_ *= sx->shape[i];
    }
    return std::unique_ptr<Kernel>(std::move(k));
  }

  Status Run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext& ctx) override {
    if (n_ == 0 || outer_ * inner_ == 0) return Status::Ok();
    const int64_t block = n_ * inner_;
    auto f32Block = [&](const float* x, float* y) {
      if (inner_ == 1) rows::Active().softmax(x, y, n_, log_);
      else StridedSoftmax(x, y, n_, inner_, log_);
    };
    auto body = [&](int64_t o0, int64_t o1) {
      std::vector<float> buf;
      for (int64_t o = o0; o < o1; ++o) {
        if (dtype_ == DType::F16 || dtype_ == DType::BF16) {
          const bool f16 = dtype_ == DType::F16;
          const uint16_t* x = in[0].as<const uint16_t>() + o * block;
          uint16_t* y = out[0].as<uint16_t>() + o * block;
          buf.resize(static_cast<size_t>(2 * block));
          for (int64_t i = 0; i < block; ++i) buf[i] = f16 ? ew::HalfToFloat(x[i]) : ew::BF16ToFloat(x[i]);
          f32Block(buf.data(), buf.data() + block);
          for (int64_t i = 0; i < block; ++i) y[i] = f16 ? ew::FloatToHalf(buf[block + i]) : ew::FloatToBF16(buf[block + i]);
        } else if (dtype_ == DType::F32) {
          const float* x = in[0].as<float>() + o * block;
          float* y = out[0].as<float>() + o * block;
          if (inner_ == 1) rows::Active().softmax(x, y, n_, log_);
          else StridedSoftmax(x, y, n_, inner_, log_);
        } else {
          StridedSoftmax(in[0].as<double>() + o * block, out[0].as<double>() + o * block, n_, inner_, log_);
        }
      }
    };
    const int64_t grain = std::max<int64_t>(1, 4096 / std::max<int64_t>(1, block));
    if (ctx.pool && ctx.pool->threads() > 1 && outer_ > grain) ctx.pool->ParallelFor(outer_, grain, body);
    else body(0, outer_);
    return Status::Ok();
  }

 private:
  bool log_ = false;
  DType dtype_ = DType::F32;
  int64_t outer_ = 1, n_ = 1, inner_ = 1;
};

MCPC_REGISTER_KERNEL("Softmax", [](const PrepareContext& ctx) { return SoftmaxKernel::Create(ctx, false); });
MCPC_REGISTER_KERNEL("LogSoftmax", [](const PrepareContext& ctx) { return SoftmaxKernel::Create(ctx, true); });

}  // namespace
}  // namespace mcpc
