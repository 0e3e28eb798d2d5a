// Conv (NCHW, 1 to 3 spatial dims, groups, strides, dilations) and NhwcConv (channels-last 2-D:
// X [N,H,W,C], W [M,KH,KW,C/group] (cuDNN's NHWC filter, [K,R,S,C]), Y [N,OH,OW,M]; the compiler's
// channels-last pass makes it for f16/bf16 plans) through cuDNN's convolution API.
// cuDNN pads symmetrically, so an asymmetric pad is split: cuDNN pads min(begin, end) on both
// sides and the rest is a zero border of a padded copy of X (zeroed once at load; each run copies
// X into its interior with one 3-D memcpy, which a graph captures like a kernel: NCHW copies
// planes of W columns, NHWC images of H rows of W*C elements). 1-D convs run as 2-D with H = 1.
// The algorithm is chosen at load: cuDNN lists the candidates (cudnnFindConvolutionForwardAlgorithmEx),
// each is test-run and timed on the GPU (GraphTimeUs; grouped convolutions keep cuDNN's timings),
// and the choice is fixed; precision fp32 admits only FMA kernels (no TF32), tf32/fp16/bf16 tensor
// cores.
// The workspace goes into the arena's free bytes at the kernel's step (CudaKernelCode.scratch)
// when it fits; an ungrouped convolution whose chosen algorithm needs more may run in batch chunks
// whose workspace fits (TrySplitBatch), else it takes the session's shared workspace.
// A kernel whose epilogue is exactly act(y + bias + z) (fusedEpilogue) then tries
// cudnnConvolutionBiasActivationForward with that algorithm; where cuDNN refuses it, the
// generated epilogue launch runs after the plain convolution as before.
#include <algorithm>
#include <climits>
#include <functional>
#include <vector>

#include "cuda_check.h"
#include "cuda_session.h"
#include "gpu_timer.h"
#include "kernels/window.h"
#include "library_ops.h"

namespace mcpc {
namespace cuda {

#if !MCPC_WITH_CUDNN

StatusOr<std::unique_ptr<LibraryOp>> CreateCudnnConvOp(const LibraryContext& ctx) {
  return MCPC_ERROR(MCPC_E_UNSUPPORTED,
                    "Conv runs through cuDNN, and this build of mcpc has no cuDNN: install cuDNN 9 and rebuild (CUDNN_ROOT=<dir> if it is not "
                    "in a system folder)");
}

#else

namespace {

class CudnnConvOp : public LibraryOp {
 public:
  ~CudnnConvOp() override {
    if (x_) cudnnDestroyTensorDescriptor(x_);
    if (y_) cudnnDestroyTensorDescriptor(y_);
    if (xChunk_) cudnnDestroyTensorDescriptor(xChunk_);
    if (yChunk_) cudnnDestroyTensorDescriptor(yChunk_);
    if (b_) cudnnDestroyTensorDescriptor(b_);
    if (act_) cudnnDestroyActivationDescriptor(act_);
    if (w_) cudnnDestroyFilterDescriptor(w_);
    if (conv_) cudnnDestroyConvolutionDescriptor(conv_);
  }

  Status Enqueue(cudaStream_t stream, void* workspace, size_t workspaceBytes) override {
    for (const cudaMemcpy3DParms& p : padCopies_) MCPC_CUDA_RETURN_IF_ERROR(cudaMemcpy3DAsync(&p, stream), "cudaMemcpy3DAsync (Conv padding)");
    const void* alpha = f64_ ? static_cast<const void*>(&one64_) : static_cast<const void*>(&one32_);
    const void* beta = f64_ ? static_cast<const void*>(&zero64_) : static_cast<const void*>(&zero32_);
    // Split in batch chunks (chunks_ > 1), each call covers N / chunks_ images with a workspace to match.
    const cudnnTensorDescriptor_t xd = chunks_ > 1 ? xChunk_ : x_, yd = chunks_ > 1 ? yChunk_ : y_;
    for (int c = 0; c < chunks_; ++c) {
      const void* x = static_cast<const char*>(xData_) + c * xChunkBytes_;
      void* y = static_cast<char*>(yData_) + c * yChunkBytes_;
      if (fused_) {
        // y = act(conv(x) + 1 * z + bias); without a residual z is y scaled by 0.
        const void* z = zData_ ? static_cast<const void*>(static_cast<const char*>(zData_) + c * yChunkBytes_) : y;
        MCPC_CUDNN_RETURN_IF_ERROR(cudnnConvolutionBiasActivationForward(dnn_, alpha, xd, x, w_, wData_, conv_, algo_, workspace, workspaceBytes,
                                                                         zData_ ? alpha : beta, yd, z, b_, bData_, act_, yd, y),
                                   "cudnnConvolutionBiasActivationForward");
        continue;
      }
      MCPC_CUDNN_RETURN_IF_ERROR(cudnnConvolutionForward(dnn_, alpha, xd, x, w_, wData_, conv_, algo_, workspace, workspaceBytes, beta, yd, y),
                                 "cudnnConvolutionForward");
    }
    return Status::Ok();
  }

  size_t workspaceBytes() const override { return workspace_; }
  size_t extraDeviceBytes() const override { return padded_ ? padded_->bytes() : 0; }
  bool replacesAfter() const override { return fused_; }
  void useFusedEpilogue(bool on) override { fused_ = on && fusable_; }
  std::string describe() const override {
    return "cudnn algo " + std::to_string(static_cast<int>(algo_)) + (channelsLast_ ? " nhwc" : " nchw") + ", workspace " +
           std::to_string(workspace_ >> 10) + " KiB" + (chunks_ > 1 ? " (" + std::to_string(chunks_) + " batch chunks)" : "") + ", timed " +
           std::to_string(static_cast<int>(foundUs_)) + " us" +
           (fused_ ? ", conv-bias-activation" : fusable_ ? ", conv + launch (faster than conv-bias-activation)" : "");
  }

  cudnnHandle_t dnn_ = nullptr;
  cudnnTensorDescriptor_t x_ = nullptr, y_ = nullptr, b_ = nullptr;
  /** Batch chunks per call (1: whole batch) with X and Y descriptors of one chunk and its bytes in X and Y. */
  int chunks_ = 1;
  cudnnTensorDescriptor_t xChunk_ = nullptr, yChunk_ = nullptr;
  size_t xChunkBytes_ = 0, yChunkBytes_ = 0;
  cudnnActivationDescriptor_t act_ = nullptr;
  /** Running cudnnConvolutionBiasActivationForward with bias bData_ and residual zData_ (or none). */
  bool fused_ = false;
  /** The fused call passed its test run at load. */
  bool fusable_ = false;
  bool channelsLast_ = false;
  /** GPU time of the chosen algorithm per call, measured at load (GraphTimeUs). */
  float foundUs_ = 0;
  const void* bData_ = nullptr;
  const void* zData_ = nullptr;
  cudnnFilterDescriptor_t w_ = nullptr;
  cudnnConvolutionDescriptor_t conv_ = nullptr;
  cudnnConvolutionFwdAlgo_t algo_ = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
  size_t workspace_ = 0;
  const void* xData_ = nullptr;
  const void* wData_ = nullptr;
  void* yData_ = nullptr;
  std::shared_ptr<DeviceBuffer> padded_;
  std::vector<cudaMemcpy3DParms> padCopies_;
  bool f64_ = false;
  float one32_ = 1, zero32_ = 0;
  double one64_ = 1, zero64_ = 0;
};

std::string DimsText(const std::vector<int>& d) {
  std::string out = "[";
  for (size_t i = 0; i < d.size(); ++i) out += (i ? "," : "") + std::to_string(d[i]);
  return out + "]";
}

Status ToInts(const std::vector<int64_t>& in, std::vector<int>* out) {
  out->clear();
  for (int64_t v : in) {
    if (v < 0 || v > INT_MAX) return MCPC_ERROR(MCPC_E_UNSUPPORTED, "a Conv dimension of %lld is too large for cuDNN", static_cast<long long>(v));
    out->push_back(static_cast<int>(v));
  }
  return Status::Ok();
}

std::vector<int> PackedStrides(const std::vector<int>& dims) {
  std::vector<int> s(dims.size(), 1);
  for (size_t i = dims.size() - 1; i-- > 0;) s[i] = s[i + 1] * dims[i + 1];
  return s;
}

const char* MathName(cudnnMathType_t m) {
  switch (m) {
    case CUDNN_DEFAULT_MATH: return "default";
    case CUDNN_TENSOR_OP_MATH: return "tensor-op";
    case CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION: return "tensor-op-allow-conversion";
    case CUDNN_FMA_MATH: return "fma";
  }
  return "?";
}

/**
 * Switches `op` (prepared, its algorithm fixed) to cudnnConvolutionBiasActivationForward when the
 * plan says its `after` launch is exactly act(y + bias + z) and cuDNN runs that call: a 4-D 2-D
 * convolution, a bias of the output's dtype, RELU with the chosen algorithm or IDENTITY with
 * IMPLICIT_PRECOMP_GEMM (the only one cuDNN allows for it), and a test run that succeeds.
 * Otherwise the op stays a plain convolution and the generated launch runs after it. Only a failed
 * synchronization is an error.
 */
Status TryFuseEpilogue(CudnnConvOp* op, const LibraryContext& ctx, cudnnDataType_t dataType, cudnnTensorFormat_t format, const std::vector<int>& yd) {
  const KernelSpec& spec = ctx.spec;
  const CudaKernelCode& code = spec.cuda;
  if (yd.size() != 4 || spec.inputs.size() < 3 || spec.inputs[2] < 0) return Status::Ok();
  if (!code.fusedRelu && op->algo_ != CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM) return Status::Ok();
  const Slot& sy = ctx.plan.slots[spec.outputs[0]];
  const Slot& sb = ctx.plan.slots[spec.inputs[2]];
  if (sb.dtype != sy.dtype || sb.shape.size() != 1 || sb.shape[0] != yd[1]) return Status::Ok();
  const void* z = nullptr;
  if (code.fusedResidual >= 0) {
    if (static_cast<size_t>(code.fusedResidual) >= spec.inputs.size() || spec.inputs[code.fusedResidual] < 0) return Status::Ok();
    const Slot& sz = ctx.plan.slots[spec.inputs[code.fusedResidual]];
    if (sz.dtype != sy.dtype || sz.shape != sy.shape) return Status::Ok();
    z = ctx.address(spec.inputs[code.fusedResidual]);
  }
  if (cudnnCreateTensorDescriptor(&op->b_) != CUDNN_STATUS_SUCCESS || cudnnCreateActivationDescriptor(&op->act_) != CUDNN_STATUS_SUCCESS) {
    return Status::Ok();
  }
  if (cudnnSetTensor4dDescriptor(op->b_, format, dataType, 1, yd[1], 1, 1) != CUDNN_STATUS_SUCCESS ||
      cudnnSetActivationDescriptor(op->act_, code.fusedRelu ? CUDNN_ACTIVATION_RELU : CUDNN_ACTIVATION_IDENTITY, CUDNN_NOT_PROPAGATE_NAN, 0.0) !=
          CUDNN_STATUS_SUCCESS) {
    return Status::Ok();
  }
  op->bData_ = ctx.address(spec.inputs[2]);
  op->zData_ = z;
  op->fused_ = true;
  Status s = op->Enqueue(ctx.stream, ctx.searchWorkspace, ctx.searchWorkspaceBytes);
  if (s.ok()) MCPC_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(ctx.stream), "cudaStreamSynchronize (fused Conv test run)");
  if (!s.ok()) {
    cudaGetLastError();
    op->fused_ = false;
  }
  op->fusable_ = op->fused_;
  return Status::Ok();
}

/**
 * Runs `op` (its algorithm set, workspace too large for the arena's free bytes at its step) as
 * 2, 4, 8 or 16 calls over equal batch chunks (each a multiple of 256 bytes of X and Y), the fewest
 * whose workspace fits those bytes, when that is at most 10% slower than one call of the chosen
 * algorithm (`wholeUs`, timed on the GPU the same way); chunks of a
 * large batch keep the kernels' parallelism while the workspace shrinks with them (resnet50's RGB
 * stem at batch 64: an im2col workspace of 122 MiB). Returns whether the op now runs in chunks.
 */
StatusOr<bool> TrySplitBatch(CudnnConvOp* op, const LibraryContext& ctx, cudnnDataType_t dataType, bool channelsLast, const std::vector<int>& xd,
                             const std::vector<int>& yd, size_t es, float wholeUs) {
  const int n = xd[0];
  for (int chunks = 2; chunks <= 16 && chunks <= n; chunks *= 2) {
    if (n % chunks != 0) continue;
    std::vector<int> xc = xd, yc = yd;
    xc[0] = yc[0] = n / chunks;
    if (!op->xChunk_) MCPC_CUDNN_RETURN_IF_ERROR(cudnnCreateTensorDescriptor(&op->xChunk_), "cudnnCreateTensorDescriptor");
    if (!op->yChunk_) MCPC_CUDNN_RETURN_IF_ERROR(cudnnCreateTensorDescriptor(&op->yChunk_), "cudnnCreateTensorDescriptor");
    cudnnStatus_t set;
    if (channelsLast) {
      set = cudnnSetTensor4dDescriptor(op->xChunk_, CUDNN_TENSOR_NHWC, dataType, xc[0], xc[1], xc[2], xc[3]);
      if (set == CUDNN_STATUS_SUCCESS) set = cudnnSetTensor4dDescriptor(op->yChunk_, CUDNN_TENSOR_NHWC, dataType, yc[0], yc[1], yc[2], yc[3]);
    } else {
      const std::vector<int> xs = PackedStrides(xc), ys = PackedStrides(yc);
      set = cudnnSetTensorNdDescriptor(op->xChunk_, dataType, static_cast<int>(xc.size()), xc.data(), xs.data());
      if (set == CUDNN_STATUS_SUCCESS) set = cudnnSetTensorNdDescriptor(op->yChunk_, dataType, static_cast<int>(yc.size()), yc.data(), ys.data());
    }
    size_t need = 0;
    if (set != CUDNN_STATUS_SUCCESS ||
        cudnnGetConvolutionForwardWorkspaceSize(ctx.cudnn, op->xChunk_, op->w_, op->conv_, op->yChunk_, op->algo_, &need) != CUDNN_STATUS_SUCCESS ||
        need > ctx.scratchBytes || need > ctx.searchWorkspaceBytes) {
      continue;
    }
    size_t xCount = 1, yCount = 1;
    for (int v : xc) xCount *= static_cast<size_t>(v);
    for (int v : yc) yCount *= static_cast<size_t>(v);
    // Chunks start where the whole batch's buffers were aligned for the timed algorithm.
    if ((xCount * es) % 256 != 0 || (yCount * es) % 256 != 0) continue;
    op->chunks_ = chunks;
    op->xChunkBytes_ = xCount * es;
    op->yChunkBytes_ = yCount * es;
    op->workspace_ = need;
    StatusOr<float> us = GraphTimeUs(ctx.stream, 10, [&] { return op->Enqueue(ctx.stream, ctx.searchWorkspace, ctx.searchWorkspaceBytes); });
    if (us.ok() && us.value() <= wholeUs * 1.10f) {
      op->foundUs_ = us.value();
      return true;
    }
    if (!us.ok()) {
      cudaGetLastError();
      MCPC_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(ctx.stream), "cudaStreamSynchronize (Conv batch chunks)");
    }
    break;  // more chunks would only be slower
  }
  op->chunks_ = 1;
  return false;
}

/** Runs `enqueue` once and waits for it: `us` when it works, its error otherwise. */
StatusOr<float> TestRun(cudaStream_t stream, const std::function<Status()>& enqueue, float us) {
  MCPC_RETURN_IF_ERROR(enqueue());
  MCPC_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream), "cudaStreamSynchronize (Conv test run)");
  return us;
}

}  // namespace

StatusOr<std::unique_ptr<LibraryOp>> CreateCudnnConvOp(const LibraryContext& ctx) {
  const KernelSpec& spec = ctx.spec;
  if (spec.op != "Conv" && spec.op != "NhwcConv") return MCPC_ERROR(MCPC_E_INVALID_PLAN, "library cudnn computes Conv and NhwcConv, not %s", spec.op.c_str());
  const bool channelsLast = spec.op == "NhwcConv";
  if (spec.inputs.size() < 2 || spec.inputs[0] < 0 || spec.inputs[1] < 0 || spec.outputs.size() != 1) {
    return MCPC_ERROR(MCPC_E_INVALID_PLAN, "Conv through cuDNN needs inputs X and W and one output");
  }
  if (!ctx.cudnn) return MCPC_ERROR(MCPC_E_CUDA, "no cuDNN handle");
  const Slot& sx = ctx.plan.slots[spec.inputs[0]];
  const Slot& sw = ctx.plan.slots[spec.inputs[1]];
  const Slot& sy = ctx.plan.slots[spec.outputs[0]];
  if (sx.dtype != sw.dtype || sx.dtype != sy.dtype) {
    return MCPC_ERROR(MCPC_E_UNSUPPORTED, "Conv through cuDNN needs one dtype for X, W and its output, got %s, %s and %s", DTypeName(sx.dtype),
                      DTypeName(sw.dtype), DTypeName(sy.dtype));
  }
  cudnnDataType_t dataType, computeType;
  cudnnMathType_t math;
  const bool strictFp32 = sx.dtype == DType::F32 && ctx.plan.precision == "fp32";
  switch (sx.dtype) {
    case DType::F32: dataType = CUDNN_DATA_FLOAT; computeType = CUDNN_DATA_FLOAT; math = strictFp32 ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH; break;
    case DType::F16: dataType = CUDNN_DATA_HALF; computeType = CUDNN_DATA_FLOAT; math = CUDNN_TENSOR_OP_MATH; break;
    case DType::BF16: dataType = CUDNN_DATA_BFLOAT16; computeType = CUDNN_DATA_FLOAT; math = CUDNN_TENSOR_OP_MATH; break;
    case DType::F64: dataType = CUDNN_DATA_DOUBLE; computeType = CUDNN_DATA_DOUBLE; math = CUDNN_DEFAULT_MATH; break;
    default: return MCPC_ERROR(MCPC_E_UNSUPPORTED, "Conv on %s is not supported by cuDNN (f32, f16, bf16, f64)", DTypeName(sx.dtype));
  }
  if (channelsLast && (sx.shape.size() != 4 || sw.shape.size() != 4 || sy.shape.size() != 4)) {
    return MCPC_ERROR(MCPC_E_INVALID_PLAN, "NhwcConv takes 4-D X, W and Y, got X of rank %zu", sx.shape.size());
  }
  // Dims in NCHW order whatever the layout: [N,H,W,C] -> [N,C,H,W], [M,KH,KW,C/g] -> [M,C/g,KH,KW].
  auto logical = [channelsLast](const std::vector<int64_t>& d) {
    return channelsLast ? std::vector<int64_t>{d[0], d[3], d[1], d[2]} : d;
  };
  const std::vector<int64_t> xs = logical(sx.shape), ws = logical(sw.shape), ys = logical(sy.shape);
  if (xs.size() < 3 || xs.size() > 5 || ws.size() != xs.size() || ys.size() != xs.size()) {
    return MCPC_ERROR(MCPC_E_UNSUPPORTED, "Conv with X of rank %zu is not supported (1 to 3 spatial dims)", xs.size());
  }
  const int64_t group = spec.Int("group", 1);
  if (group < 1 || xs[1] % group != 0 || ws[0] % group != 0 || ws[1] * group != xs[1] || ys[1] != ws[0] || ys[0] != xs[0]) {
    return MCPC_ERROR(MCPC_E_INVALID_PLAN, "Conv: X %lld channels, W [%lld, %lld, ...] and group %lld do not agree", static_cast<long long>(xs[1]),
                      static_cast<long long>(ws[0]), static_cast<long long>(ws[1]), static_cast<long long>(group));
  }
  const size_t n = xs.size() - 2;
  std::vector<int64_t> inSp(xs.begin() + 2, xs.end()), kern(ws.begin() + 2, ws.end()), outSp(ys.begin() + 2, ys.end());
  if (spec.has("kernel_shape") && spec.Ints("kernel_shape") != kern) return MCPC_ERROR(MCPC_E_INVALID_PLAN, "Conv: kernel_shape does not match W");
  Window3 win;
  MCPC_RETURN_IF_ERROR(ResolveWindow(spec, inSp, kern, outSp, &win));

  // cuDNN's view: 2 or 3 spatial dims (a 1-D conv gets H = 1), symmetric pads, X padded for the rest.
  const size_t nd = std::max<size_t>(n, 2);
  const size_t first = 3 - nd;
  const int64_t N = xs[0], C = xs[1], M = ws[0];
  std::vector<int64_t> xDims{N, C}, pxDims{N, C}, wDims{M, ws[1]}, yDims{N, M};
  std::vector<int64_t> pad, stride, dil, extraBegin;
  bool needsPadCopy = false;
  for (size_t d = first; d < 3; ++d) {
    const int64_t p = std::min(win.padBegin[d], win.padEnd[d]);
    const int64_t eb = win.padBegin[d] - p, ee = win.padEnd[d] - p;
    needsPadCopy = needsPadCopy || eb > 0 || ee > 0;
    xDims.push_back(win.in[d]);
    pxDims.push_back(win.in[d] + eb + ee);
    wDims.push_back(win.k[d]);
    yDims.push_back(win.out[d]);
    pad.push_back(p);
    stride.push_back(win.stride[d]);
    dil.push_back(win.dil[d]);
    extraBegin.push_back(eb);
  }
  auto op = std::make_unique<CudnnConvOp>();
  op->dnn_ = ctx.cudnn;
  op->f64_ = sx.dtype == DType::F64;
  op->xData_ = ctx.address(spec.inputs[0]);
  op->wData_ = ctx.address(spec.inputs[1]);
  op->yData_ = ctx.address(spec.outputs[0]);
  const size_t es = DTypeSize(sx.dtype);
  int64_t yCount = 1;
  for (int64_t v : ys) yCount *= v;
  int64_t xCount = 1;
  for (int64_t v : xs) xCount *= v;
  if (yCount == 0) return std::unique_ptr<LibraryOp>(std::move(op));  // nothing to compute

  if (needsPadCopy) {
    int64_t count = 1;
    for (int64_t v : pxDims) count *= v;
    auto padded = DeviceBuffer::Allocate(ctx.device, static_cast<size_t>(count) * es);
    if (!padded.ok()) return padded.status();
    op->padded_ = padded.take();
    MCPC_CUDA_RETURN_IF_ERROR(cudaMemset(op->padded_->data(), 0, op->padded_->bytes()), "cudaMemset (Conv padding border)");
    if (xCount > 0 && channelsLast) {
      // One copy: N images of H rows of W*C elements into rows of Wp*C elements, Hp rows apart.
      const int64_t W = xDims[3], H = xDims[2], Wp = pxDims[3], Hp = pxDims[2], rowBytes = W * C * static_cast<int64_t>(es);
      cudaMemcpy3DParms p{};
      p.srcPtr = cudaPitchedPtr{const_cast<void*>(op->xData_), static_cast<size_t>(rowBytes), static_cast<size_t>(rowBytes), static_cast<size_t>(H)};
      p.dstPtr = cudaPitchedPtr{op->padded_->data(), static_cast<size_t>(Wp * C * es), static_cast<size_t>(Wp * C * es), static_cast<size_t>(Hp)};
      p.dstPos = cudaPos{static_cast<size_t>(extraBegin[1] * C) * es, static_cast<size_t>(extraBegin[0]), 0};
      p.extent = cudaExtent{static_cast<size_t>(rowBytes), static_cast<size_t>(H), static_cast<size_t>(N)};
      p.kind = cudaMemcpyDeviceToDevice;
      op->padCopies_.push_back(p);
    } else if (xCount > 0) {
      // The last two spatial dims are the rows and columns of each copied plane; a third spatial
      // dim is the plane index (one copy per image and channel when it is padded too).
      const size_t h = nd, w = nd + 1;  // indices into the dims vectors
      const int64_t W = xDims[w], H = xDims[h], Wp = pxDims[w], Hp = pxDims[h];
      const int64_t D = nd == 3 ? xDims[2] : 1, Dp = nd == 3 ? pxDims[2] : 1, front = nd == 3 ? extraBegin[0] : 0;
      const bool perPlaneSet = nd == 3 && Dp != D;
      const int64_t copies = perPlaneSet ? N * C : 1;
      const int64_t depth = perPlaneSet ? D : N * C * D;
      for (int64_t c = 0; c < copies; ++c) {
        cudaMemcpy3DParms p{};
        const char* src = static_cast<const char*>(op->xData_) + c * D * H * W * static_cast<int64_t>(es);
        char* dst = static_cast<char*>(op->padded_->data()) + c * Dp * Hp * Wp * static_cast<int64_t>(es);
        p.srcPtr = cudaPitchedPtr{const_cast<char*>(src), static_cast<size_t>(W * es), static_cast<size_t>(W * es), static_cast<size_t>(H)};
        p.dstPtr = cudaPitchedPtr{dst, static_cast<size_t>(Wp * es), static_cast<size_t>(Wp * es), static_cast<size_t>(Hp)};
        p.dstPos = cudaPos{static_cast<size_t>(extraBegin[nd - 1]) * es, static_cast<size_t>(extraBegin[nd - 2]),
                           static_cast<size_t>(perPlaneSet ? front : 0)};
        p.extent = cudaExtent{static_cast<size_t>(W * es), static_cast<size_t>(H), static_cast<size_t>(depth)};
        p.kind = cudaMemcpyDeviceToDevice;
        op->padCopies_.push_back(p);
      }
    }
  }

  std::vector<int> xd, wd, yd, pd, sd, dd;
  MCPC_RETURN_IF_ERROR(ToInts(needsPadCopy ? pxDims : xDims, &xd));
  MCPC_RETURN_IF_ERROR(ToInts(wDims, &wd));
  MCPC_RETURN_IF_ERROR(ToInts(yDims, &yd));
  MCPC_RETURN_IF_ERROR(ToInts(pad, &pd));
  MCPC_RETURN_IF_ERROR(ToInts(stride, &sd));
  MCPC_RETURN_IF_ERROR(ToInts(dil, &dd));
  const int rank = static_cast<int>(xd.size());
  MCPC_CUDNN_RETURN_IF_ERROR(cudnnCreateTensorDescriptor(&op->x_), "cudnnCreateTensorDescriptor");
  MCPC_CUDNN_RETURN_IF_ERROR(cudnnCreateTensorDescriptor(&op->y_), "cudnnCreateTensorDescriptor");
  MCPC_CUDNN_RETURN_IF_ERROR(cudnnCreateFilterDescriptor(&op->w_), "cudnnCreateFilterDescriptor");
  MCPC_CUDNN_RETURN_IF_ERROR(cudnnCreateConvolutionDescriptor(&op->conv_), "cudnnCreateConvolutionDescriptor");
  if (channelsLast) {
    // Dims stay in NCHW order; the format says the memory is NHWC (filters [K,R,S,C]).
    MCPC_CUDNN_RETURN_IF_ERROR(cudnnSetTensor4dDescriptor(op->x_, CUDNN_TENSOR_NHWC, dataType, xd[0], xd[1], xd[2], xd[3]),
                               "cudnnSetTensor4dDescriptor(X NHWC " + DimsText(xd) + ")");
    MCPC_CUDNN_RETURN_IF_ERROR(cudnnSetTensor4dDescriptor(op->y_, CUDNN_TENSOR_NHWC, dataType, yd[0], yd[1], yd[2], yd[3]),
                               "cudnnSetTensor4dDescriptor(Y NHWC " + DimsText(yd) + ")");
  } else {
    const std::vector<int> xStrides = PackedStrides(xd), yStrides = PackedStrides(yd);
    MCPC_CUDNN_RETURN_IF_ERROR(cudnnSetTensorNdDescriptor(op->x_, dataType, rank, xd.data(), xStrides.data()),
                               "cudnnSetTensorNdDescriptor(X " + DimsText(xd) + ")");
    MCPC_CUDNN_RETURN_IF_ERROR(cudnnSetTensorNdDescriptor(op->y_, dataType, rank, yd.data(), yStrides.data()),
                               "cudnnSetTensorNdDescriptor(Y " + DimsText(yd) + ")");
  }
  MCPC_CUDNN_RETURN_IF_ERROR(cudnnSetFilterNdDescriptor(op->w_, dataType, channelsLast ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW, rank, wd.data()),
                             "cudnnSetFilterNdDescriptor(W " + DimsText(wd) + (channelsLast ? " NHWC)" : ")"));
  MCPC_CUDNN_RETURN_IF_ERROR(cudnnSetConvolutionNdDescriptor(op->conv_, static_cast<int>(nd), pd.data(), sd.data(), dd.data(), CUDNN_CROSS_CORRELATION,
                                                             computeType),
                             "cudnnSetConvolutionNdDescriptor");
  MCPC_CUDNN_RETURN_IF_ERROR(cudnnSetConvolutionGroupCount(op->conv_, static_cast<int>(group)), "cudnnSetConvolutionGroupCount");
  MCPC_CUDNN_RETURN_IF_ERROR(cudnnSetConvolutionMathType(op->conv_, math), "cudnnSetConvolutionMathType");
  std::vector<int> outDims(rank);
  MCPC_CUDNN_RETURN_IF_ERROR(cudnnGetConvolutionNdForwardOutputDim(op->conv_, op->x_, op->w_, rank, outDims.data()),
                             "cudnnGetConvolutionNdForwardOutputDim");
  if (outDims != yd) {
    return MCPC_ERROR(MCPC_E_INVALID_PLAN, "Conv: cuDNN computes an output of %s, the plan's output %s is %s", DimsText(outDims).c_str(),
                      sy.name.c_str(), DimsText(yd).c_str());
  }
  const void* xIn = op->padded_ ? op->padded_->data() : op->xData_;
  op->xData_ = xIn;

  // Algorithm: benchmark, then take the fastest candidate that fits, keeps the precision and runs.
  std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(CUDNN_CONVOLUTION_FWD_ALGO_COUNT);
  int returned = 0;
  cudnnStatus_t found = cudnnFindConvolutionForwardAlgorithmEx(ctx.cudnn, op->x_, xIn, op->w_, op->wData_, op->conv_, op->y_, op->yData_,
                                                               static_cast<int>(perf.size()), &returned, perf.data(), ctx.searchWorkspace,
                                                               ctx.searchWorkspaceBytes);
  if (found != CUDNN_STATUS_SUCCESS || returned == 0) {
    cudaGetLastError();
    found = cudnnGetConvolutionForwardAlgorithm_v7(ctx.cudnn, op->x_, op->w_, op->conv_, op->y_, static_cast<int>(perf.size()), &returned, perf.data());
    MCPC_CUDNN_RETURN_IF_ERROR(found, "cudnnGetConvolutionForwardAlgorithm_v7");
  }
  // Candidates that keep the precision and fit, fastest first as cuDNN measured them.
  struct Candidate {
    cudnnConvolutionFwdAlgo_t algo;
    cudnnMathType_t math;
    float ms;
    size_t workspace;
  };
  std::vector<Candidate> candidates;
  for (int i = 0; i < returned; ++i) {
    const cudnnConvolutionFwdAlgoPerf_t& r = perf[i];
    if (r.status != CUDNN_STATUS_SUCCESS) continue;
    const bool tensorOps = r.mathType == CUDNN_TENSOR_OP_MATH || r.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
    if (strictFp32 && tensorOps) continue;  // TF32 would lose accuracy the plan did not allow
    if (sx.dtype == DType::F32 && r.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) continue;  // would round f32 to f16
    const cudnnMathType_t runMath = strictFp32 ? CUDNN_FMA_MATH : r.mathType;
    if (cudnnSetConvolutionMathType(op->conv_, runMath) != CUDNN_STATUS_SUCCESS) continue;
    size_t need = 0;
    if (cudnnGetConvolutionForwardWorkspaceSize(ctx.cudnn, op->x_, op->w_, op->conv_, op->y_, r.algo, &need) != CUDNN_STATUS_SUCCESS) continue;
    if (need > ctx.maxWorkspaceBytes || need > ctx.searchWorkspaceBytes) continue;
    candidates.push_back({r.algo, runMath, r.time, need});
  }
  // Each candidate runs once (its test) and is then timed on the GPU alone (GraphTimeUs: cuDNN's
  // benchmark above includes the legacy API's host work per call, which at batch 1 outweighs the
  // kernels and ranks them by noise). The session's workspace is the largest any kernel takes:
  // among the candidates within 10% of the fastest, the one with the smallest workspace wins (big
  // FFT/Winograd workspaces rarely buy more than that); a workspace above the plan's budget (the
  // arena's free bytes at this step, where the workspace costs nothing, or else a quarter of the
  // arena, at least 1 MiB: at batch 1 a 40 MiB workspace would be most of resnet50's device memory)
  // is kept only when no candidate within the budget is at most twice as slow.
  // Grouped convolutions keep cuDNN's own timings (after a test run each): capturing some of their
  // algorithms for timing stalled the GPU at load (mobilenet_v2's depthwise convolutions, H200).
  const bool timeOnGpu = group == 1 && ctx.tune;
  struct Timed {
    size_t index;
    float us;
  };
  std::vector<Timed> timed;
  std::string tried;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const Candidate& c = candidates[i];
    if (cudnnSetConvolutionMathType(op->conv_, c.math) != CUDNN_STATUS_SUCCESS) continue;
    op->algo_ = c.algo;
    op->workspace_ = c.workspace;
    auto enqueue = [&] { return op->Enqueue(ctx.stream, ctx.searchWorkspace, ctx.searchWorkspaceBytes); };
    StatusOr<float> us = timeOnGpu ? GraphTimeUs(ctx.stream, 10, enqueue) : TestRun(ctx.stream, enqueue, 1000.0f * c.ms);
    if (us.ok()) {
      timed.push_back({i, us.value()});
      continue;
    }
    cudaGetLastError();
    MCPC_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(ctx.stream), "cudaStreamSynchronize (Conv test run)");
    tried += (tried.empty() ? "" : "; ") + std::string("algo ") + std::to_string(static_cast<int>(c.algo)) + "/" + MathName(c.math) + ": " +
             us.status().message();
  }
  if (!timed.empty()) {
    size_t fastest = 0;
    for (size_t t = 1; t < timed.size(); ++t) {
      if (timed[t].us < timed[fastest].us) fastest = t;
    }
    size_t best = fastest;
    for (size_t t = 0; t < timed.size(); ++t) {
      if (timed[t].us <= timed[fastest].us * 1.10f && candidates[timed[t].index].workspace < candidates[timed[best].index].workspace) best = t;
    }
    // A workspace larger than the arena's free bytes at this step may fit them per batch chunk.
    bool split = false;
    if (timeOnGpu && ctx.scratchBytes > 0 && candidates[timed[best].index].workspace > ctx.scratchBytes) {
      const Candidate& c = candidates[timed[best].index];
      MCPC_CUDNN_RETURN_IF_ERROR(cudnnSetConvolutionMathType(op->conv_, c.math), "cudnnSetConvolutionMathType");
      op->algo_ = c.algo;
      StatusOr<bool> chunked = TrySplitBatch(op.get(), ctx, dataType, channelsLast, xd, yd, es, timed[best].us);
      if (!chunked.ok()) return chunked.status();
      split = chunked.value();
    }
    const size_t budget = std::max({size_t(1) << 20, ctx.plan.arenaSize / 4, ctx.scratchBytes});
    if (!split && candidates[timed[best].index].workspace > budget) {
      // The fastest candidate within the budget replaces it when it is at most twice as slow.
      size_t within = timed.size();
      for (size_t t = 0; t < timed.size(); ++t) {
        if (candidates[timed[t].index].workspace <= budget && (within == timed.size() || timed[t].us < timed[within].us)) within = t;
      }
      if (within < timed.size() && timed[within].us <= timed[best].us * 2.0f) best = within;
    }
    const Candidate& c = candidates[timed[best].index];
    MCPC_CUDNN_RETURN_IF_ERROR(cudnnSetConvolutionMathType(op->conv_, c.math), "cudnnSetConvolutionMathType");
    op->algo_ = c.algo;
    op->channelsLast_ = channelsLast;
    if (!split) {
      op->workspace_ = c.workspace;
      op->foundUs_ = timed[best].us;
    }
    if (spec.cuda.fusedEpilogue) MCPC_RETURN_IF_ERROR(TryFuseEpilogue(op.get(), ctx, dataType, channelsLast ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW, yd));
    return std::unique_ptr<LibraryOp>(std::move(op));
  }
  return MCPC_ERROR(MCPC_E_UNSUPPORTED, "cuDNN has no usable algorithm for Conv of %s X %s by W %s (precision %s)%s%s", DTypeName(sx.dtype),
                    DimsText(xd).c_str(), DimsText(wd).c_str(), ctx.plan.precision.c_str(), tried.empty() ? "" : ": ", tried.c_str());
}

#endif  // MCPC_WITH_CUDNN

}  // namespace cuda
}  // namespace mcpc
