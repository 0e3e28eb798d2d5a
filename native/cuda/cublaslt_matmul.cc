// MatMul and Gemm through cuBLASLt. Tensors are row-major and cuBLASLt is column-major, so the op
// computes Y^T = op(B)^T op(A)^T: a row-major [r, c] buffer read column-major is its [c, r]
// transpose, hence cuBLASLt's "A" is our B buffer, its "B" is our A buffer, and D is Y as [N, M].
// Batches (MatMul, numpy-broadcast): a B without batch folds A's batch into M (one GEMM); equal
// batches, or an operand without batch (stride 0), make one strided-batched call; any other
// broadcast becomes a loop of strided-batched calls over the largest batch dimension. The algorithm is chosen once, at load, for the actual
// pointer alignments. Precision: fp32 computes in FP32 (no TF32), tf32 allows TF32 tensor cores,
// fp16/bf16 slots compute in FP32, float32 slots of fp16/bf16 plans in TF32. The kernel's LibraryEpilogue runs inside the call: C (a residual,
// Gemm's C) as cuBLASLt's C with the output's layout, the bias row as CUBLASLT_EPILOGUE_BIAS (our
// columns are cuBLASLt's rows), Relu and tanh Gelu as its RELU/GELU epilogues.
// Algorithm: cuBLASLt's heuristic proposes up to kCandidates; with more than one, each is timed on
// the GPU at load (GraphTimeUs) and the fastest is kept (the one with the smaller workspace when
// within 3%), so the shared workspace is only as large as the chosen algorithms need.
#include <algorithm>
#include <vector>

#include "cuda_check.h"
#include "gpu_timer.h"
#include "library_ops.h"

namespace mcpc {
namespace cuda {

namespace {

/** cuBLASLt's operands of one call: its A (our B buffer), its B (our A buffer), D (our Y). */
struct Call {
  const void* a;
  const void* b;
  const void* c;  // the epilogue's C, or d (read with beta 0)
  void* d;
};

constexpr int kCandidates = 8;

class CublasLtOp : public LibraryOp {
 public:
  ~CublasLtOp() override {
    if (pref_) cublasLtMatmulPreferenceDestroy(pref_);
    if (la_) cublasLtMatrixLayoutDestroy(la_);
    if (lb_) cublasLtMatrixLayoutDestroy(lb_);
    if (ld_) cublasLtMatrixLayoutDestroy(ld_);
    if (desc_) cublasLtMatmulDescDestroy(desc_);
  }

  Status Enqueue(cudaStream_t stream, void* workspace, size_t workspaceBytes) override {
    if (zeroBytes_ > 0) {
      MCPC_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(zeroTarget_, 0, zeroBytes_, stream), "cudaMemsetAsync (MatMul with K = 0)");
      return Status::Ok();
    }
    const void* alpha = f64_ ? static_cast<const void*>(&alpha64_) : static_cast<const void*>(&alpha32_);
    const void* beta = f64_ ? static_cast<const void*>(&beta64_) : static_cast<const void*>(&beta32_);
    for (const Call& c : calls_) {
      MCPC_CUBLAS_RETURN_IF_ERROR(cublasLtMatmul(lt_, desc_, alpha, c.a, la_, c.b, lb_, beta, c.c, ld_, c.d, ld_, &algo_, workspace,
                                                 workspaceBytes, stream),
                                  "cublasLtMatmul");
    }
    return Status::Ok();
  }

  size_t workspaceBytes() const override { return workspace_; }
  std::string describe() const override {
    return "cublaslt " + std::to_string(calls_.size()) + (calls_.size() == 1 ? " call" : " calls") + ", workspace " + std::to_string(workspace_ >> 10) + " KiB";
  }

  cublasLtHandle_t lt_ = nullptr;
  cublasLtMatmulDesc_t desc_ = nullptr;
  cublasLtMatrixLayout_t la_ = nullptr, lb_ = nullptr, ld_ = nullptr;
  cublasLtMatmulPreference_t pref_ = nullptr;
  cublasLtMatmulAlgo_t algo_{};
  size_t workspace_ = 0;
  std::vector<Call> calls_;
  bool f64_ = false;
  float alpha32_ = 1, beta32_ = 0;
  double alpha64_ = 1, beta64_ = 0;
  void* zeroTarget_ = nullptr;
  size_t zeroBytes_ = 0;
};

/** The largest power of two (up to 256) dividing every value: the alignment cuBLASLt may assume. */
uint32_t AlignmentOf(std::initializer_list<uint64_t> values) {
  uint64_t bits = 256;
  for (uint64_t v : values) {
    if (v != 0) bits = std::min<uint64_t>(bits, v & (~v + 1));
  }
  return static_cast<uint32_t>(bits);
}

Status DataTypeOf(DType t, cudaDataType_t* out) {
  switch (t) {
    case DType::F32: *out = CUDA_R_32F; return Status::Ok();
    case DType::F16: *out = CUDA_R_16F; return Status::Ok();
    case DType::BF16: *out = CUDA_R_16BF; return Status::Ok();
    case DType::F64: *out = CUDA_R_64F; return Status::Ok();
    default: return MCPC_ERROR(MCPC_E_UNSUPPORTED, "cuBLASLt matrix products on %s are not supported (f32, f16, bf16, f64)", DTypeName(t));
  }
}

std::string ShapeText(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? "," : "") + std::to_string(s[i]);
  return out + "]";
}

int64_t Product(const std::vector<int64_t>& v, size_t from, size_t to) {
  int64_t p = 1;
  for (size_t i = from; i < to; ++i) p *= v[i];
  return p;
}

Status SetLayoutBatch(cublasLtMatrixLayout_t l, int32_t count, int64_t stride) {
  MCPC_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof(count)),
                              "cublasLtMatrixLayoutSetAttribute(BATCH_COUNT)");
  MCPC_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof(stride)),
                              "cublasLtMatrixLayoutSetAttribute(STRIDED_BATCH_OFFSET)");
  return Status::Ok();
}

/**
 * Times each candidate on the GPU (GraphTimeUs) and keeps the fastest, or the one with the smallest
 * workspace within 3% of it. A candidate that fails to run is skipped; without a search workspace
 * or with one candidate, the heuristic's first is kept.
 */
Status ChooseAlgorithm(const LibraryContext& ctx, CublasLtOp* op, const std::vector<cublasLtMatmulHeuristicResult_t>& candidates) {
  op->algo_ = candidates.front().algo;
  op->workspace_ = candidates.front().workspaceSize;
  if (candidates.size() == 1 || !ctx.searchWorkspace || !ctx.tune) return Status::Ok();
  struct Timed {
    size_t index;
    float us;
  };
  std::vector<Timed> timed;
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (candidates[i].workspaceSize > ctx.searchWorkspaceBytes) continue;
    op->algo_ = candidates[i].algo;
    StatusOr<float> us = GraphTimeUs(ctx.stream, 10, [&] { return op->Enqueue(ctx.stream, ctx.searchWorkspace, ctx.searchWorkspaceBytes); });
    if (us.ok()) {
      timed.push_back({i, us.value()});
    } else {
      cudaGetLastError();
      cudaStreamSynchronize(ctx.stream);
    }
  }
  if (timed.empty()) {
    op->algo_ = candidates.front().algo;
    return Status::Ok();
  }
  const Timed* fastest = &timed.front();
  for (const Timed& t : timed) {
    if (t.us < fastest->us) fastest = &t;
  }
  const Timed* best = fastest;
  for (const Timed& t : timed) {
    if (t.us <= fastest->us * 1.03f && candidates[t.index].workspaceSize < candidates[best->index].workspaceSize) best = &t;
  }
  op->algo_ = candidates[best->index].algo;
  op->workspace_ = candidates[best->index].workspaceSize;
  return Status::Ok();
}

}  // namespace

StatusOr<std::unique_ptr<LibraryOp>> CreateCublasLtOp(const LibraryContext& ctx) {
  const KernelSpec& spec = ctx.spec;
  const bool gemm = spec.op == "Gemm";
  if (!gemm && spec.op != "MatMul") return MCPC_ERROR(MCPC_E_INVALID_PLAN, "library cublaslt computes MatMul or Gemm, not %s", spec.op.c_str());
  if (spec.inputs.size() < 2 || spec.inputs[0] < 0 || spec.inputs[1] < 0 || spec.outputs.size() != 1) {
    return MCPC_ERROR(MCPC_E_INVALID_PLAN, "%s through cuBLASLt needs inputs A and B and one output", spec.op.c_str());
  }
  const Slot& sa = ctx.plan.slots[spec.inputs[0]];
  const Slot& sb = ctx.plan.slots[spec.inputs[1]];
  const Slot& sy = ctx.plan.slots[spec.outputs[0]];
  if (sa.dtype != sb.dtype || sa.dtype != sy.dtype) {
    return MCPC_ERROR(MCPC_E_UNSUPPORTED, "%s through cuBLASLt needs one dtype for A, B and its output, got %s, %s and %s", spec.op.c_str(),
                      DTypeName(sa.dtype), DTypeName(sb.dtype), DTypeName(sy.dtype));
  }
  cudaDataType_t dataType;
  MCPC_RETURN_IF_ERROR(DataTypeOf(sa.dtype, &dataType));
  const size_t es = DTypeSize(sa.dtype);

  // Shapes: M, K, N and the batch structure.
  std::vector<int64_t> a = sa.shape, b = sb.shape;
  bool transA = false, transB = false;
  double alpha = 1.0;
  if (gemm) {
    if (a.size() != 2 || b.size() != 2) {
      return MCPC_ERROR(MCPC_E_INVALID_PLAN, "Gemm needs 2-D A and B, got %s and %s", ShapeText(a).c_str(), ShapeText(b).c_str());
    }
    transA = spec.Int("transA", 0) != 0;
    transB = spec.Int("transB", 0) != 0;
    alpha = spec.Float("alpha", 1.0);
  } else {
    if (a.empty() || b.empty()) return MCPC_ERROR(MCPC_E_INVALID_PLAN, "MatMul on a scalar");
    if (a.size() == 1) a.insert(a.begin(), 1);
    if (b.size() == 1) b.push_back(1);
  }
  const int64_t M = transA ? a[a.size() - 1] : a[a.size() - 2];
  const int64_t K = transA ? a[a.size() - 2] : a[a.size() - 1];
  const int64_t Kb = transB ? b[b.size() - 1] : b[b.size() - 2];
  const int64_t N = transB ? b[b.size() - 2] : b[b.size() - 1];
  if (K != Kb) {
    return MCPC_ERROR(MCPC_E_INVALID_PLAN, "%s: A %s and B %s do not agree on K", spec.op.c_str(), ShapeText(sa.shape).c_str(),
                      ShapeText(sb.shape).c_str());
  }
  // Broadcast batch dims, right-aligned.
  const size_t ra = a.size() - 2, rb = b.size() - 2, rank = std::max(ra, rb);
  std::vector<int64_t> batch(rank, 1), ba(rank, 1), bb(rank, 1);
  for (size_t i = 0; i < ra; ++i) ba[rank - ra + i] = a[i];
  for (size_t i = 0; i < rb; ++i) bb[rank - rb + i] = b[i];
  for (size_t i = 0; i < rank; ++i) {
    if (ba[i] != bb[i] && ba[i] != 1 && bb[i] != 1) {
      return MCPC_ERROR(MCPC_E_INVALID_PLAN, "MatMul: batch dims of A %s and B %s do not broadcast", ShapeText(sa.shape).c_str(),
                        ShapeText(sb.shape).c_str());
    }
    batch[i] = std::max(ba[i], bb[i]);
  }
  const int64_t nb = Product(batch, 0, rank), countA = Product(ba, 0, rank), countB = Product(bb, 0, rank);
  const int64_t yCount = Product(sy.shape, 0, sy.shape.size());
  if (nb * M * N != yCount) {
    return MCPC_ERROR(MCPC_E_INVALID_PLAN, "%s: A %s times B %s does not give the %s output %s", spec.op.c_str(), ShapeText(sa.shape).c_str(),
                      ShapeText(sb.shape).c_str(), sy.name.c_str(), ShapeText(sy.shape).c_str());
  }

  // The epilogue's operands: C with the output's shape and dtype, a bias of one value per column.
  const CudaKernelCode& code = spec.cuda;
  auto epilogueInput = [&](int index, const char* what, const Slot** slot) -> Status {
    if (index < 0) return Status::Ok();
    if (static_cast<size_t>(index) >= spec.inputs.size() || spec.inputs[index] < 0) {
      return MCPC_ERROR(MCPC_E_INVALID_PLAN, "%s: the cuBLASLt epilogue's %s is input %d, which the kernel does not have", spec.op.c_str(), what, index);
    }
    *slot = &ctx.plan.slots[spec.inputs[index]];
    if ((*slot)->dtype != sy.dtype) {
      return MCPC_ERROR(MCPC_E_INVALID_PLAN, "%s: the cuBLASLt epilogue's %s %s is %s, the output %s", spec.op.c_str(), what, (*slot)->name.c_str(),
                        DTypeName((*slot)->dtype), DTypeName(sy.dtype));
    }
    return Status::Ok();
  };
  const Slot* sc = nullptr;
  const Slot* sbias = nullptr;
  MCPC_RETURN_IF_ERROR(epilogueInput(code.epilogueC, "C", &sc));
  MCPC_RETURN_IF_ERROR(epilogueInput(code.epilogueBias, "bias", &sbias));
  if (sc && sc->shape != sy.shape) {
    return MCPC_ERROR(MCPC_E_INVALID_PLAN, "%s: the cuBLASLt epilogue's C %s is %s, not the output's shape %s", spec.op.c_str(), sc->name.c_str(),
                      ShapeText(sc->shape).c_str(), ShapeText(sy.shape).c_str());
  }
  const int64_t biasCount = sbias ? Product(sbias->shape, 0, sbias->shape.size()) : 0;

  auto op = std::make_unique<CublasLtOp>();
  op->lt_ = ctx.cublasLt;
  char* pa = static_cast<char*>(ctx.address(spec.inputs[0]));
  char* pb = static_cast<char*>(ctx.address(spec.inputs[1]));
  char* py = static_cast<char*>(ctx.address(spec.outputs[0]));
  char* pc = sc ? static_cast<char*>(ctx.address(spec.inputs[code.epilogueC])) : nullptr;
  void* pbias = sbias ? ctx.address(spec.inputs[code.epilogueBias]) : nullptr;
  if (yCount == 0) return std::unique_ptr<LibraryOp>(std::move(op));  // nothing to compute: no calls
  if (K == 0 && (sc || sbias || !code.epilogueActivation.empty())) {
    return MCPC_ERROR(MCPC_E_UNSUPPORTED, "%s with K = 0 and a cuBLASLt epilogue", spec.op.c_str());
  }
  if (K == 0) {
    op->zeroTarget_ = py;
    op->zeroBytes_ = static_cast<size_t>(yCount) * es;
    return std::unique_ptr<LibraryOp>(std::move(op));
  }
  if (M > INT32_MAX || N > INT32_MAX || K > INT32_MAX || nb * M > INT64_C(1) << 40) {
    return MCPC_ERROR(MCPC_E_UNSUPPORTED, "%s of %s by %s is too large for one cuBLASLt call", spec.op.c_str(), ShapeText(sa.shape).c_str(),
                      ShapeText(sb.shape).c_str());
  }

  // How the batch runs: folded into M, strided, or a loop.
  enum class Mode { Single, Folded, Strided, Loop } mode;
  if (nb == 1) mode = Mode::Single;
  else if (countB == 1) mode = Mode::Folded;
  else if (countA == 1 || ba == bb) mode = Mode::Strided;
  else mode = Mode::Loop;
  const int64_t rowsM = mode == Mode::Folded ? M * nb : M;
  // The bias: one value per column for every batch (stride 0), or one row per batch (strided calls only).
  const bool biasPerBatch = sbias && nb > 1 && biasCount == nb * N;
  if (sbias && biasCount != N && !(biasPerBatch && mode == Mode::Strided)) {
    return MCPC_ERROR(MCPC_E_INVALID_PLAN, "%s: the cuBLASLt epilogue's bias %s is %s, not one value per column (%lld)%s", spec.op.c_str(),
                      sbias->name.c_str(), ShapeText(sbias->shape).c_str(), static_cast<long long>(N),
                      mode == Mode::Strided ? " or per batch and column" : "");
  }
  // Strided calls: `batchCount` products, each operand `stride*` elements after the previous.
  int64_t batchCount = nb;
  int64_t strideA = countA == 1 ? 0 : M * K, strideB = countB == 1 ? 0 : K * N, strideY = M * N;

  if (mode == Mode::Loop) {
    // Mixed broadcasting (A [b, 1, M, K] by B [1, h, K, N], the per-head projections): the largest
    // batch dimension becomes the strided batch of each call, and the calls loop over the others.
    // Strides per batch dimension, in matrices (0 where an operand broadcasts).
    std::vector<int64_t> perA(rank), perB(rank), perY(rank);
    for (int64_t d = static_cast<int64_t>(rank) - 1, mulA = 1, mulB = 1, mulY = 1; d >= 0; --d) {
      perA[d] = ba[d] == 1 ? 0 : mulA;
      perB[d] = bb[d] == 1 ? 0 : mulB;
      perY[d] = mulY;
      mulA *= ba[d];
      mulB *= bb[d];
      mulY *= batch[d];
    }
    size_t sdim = 0;
    for (size_t d = 1; d < rank; ++d) {
      if (batch[d] > batch[sdim]) sdim = d;
    }
    batchCount = batch[sdim];
    strideA = perA[sdim] * M * K;
    strideB = perB[sdim] * K * N;
    strideY = perY[sdim] * M * N;
    std::vector<int64_t> idx(rank, 0);
    for (int64_t i = 0; i < nb / batchCount; ++i) {
      int64_t offA = 0, offB = 0, offY = 0;
      for (size_t d = 0; d < rank; ++d) {
        offA += idx[d] * perA[d];
        offB += idx[d] * perB[d];
        offY += idx[d] * perY[d];
      }
      char* d = py + offY * M * N * es;
      op->calls_.push_back({pb + offB * K * N * es, pa + offA * M * K * es, pc ? pc + offY * M * N * es : d, d});
      for (size_t d = rank; d-- > 0;) {
        if (d == sdim) continue;
        if (++idx[d] < batch[d]) break;
        idx[d] = 0;
      }
    }
  } else {
    op->calls_.push_back({pb, pa, pc ? pc : py, py});
  }

  // Types and descriptors.
  cublasComputeType_t compute = CUBLAS_COMPUTE_32F;
  cudaDataType_t scaleType = CUDA_R_32F;
  if (sa.dtype == DType::F64) {
    compute = CUBLAS_COMPUTE_64F;
    scaleType = CUDA_R_64F;
    op->f64_ = true;
  } else if (sa.dtype == DType::F32 && ctx.plan.precision != "fp32") {
    // tf32 plans, and the float32 nodes an fp16 plan keeps for range (their inputs need float32's
    // exponent, not its mantissa: TF32 keeps 10 bits, as float16 does).
    compute = CUBLAS_COMPUTE_32F_FAST_TF32;
  }
  alpha *= code.epilogueAlpha;
  op->alpha32_ = static_cast<float>(alpha);
  op->alpha64_ = alpha;
  if (sc) {
    op->beta32_ = static_cast<float>(code.epilogueBeta);
    op->beta64_ = code.epilogueBeta;
  }
  MCPC_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescCreate(&op->desc_, compute, scaleType), "cublasLtMatmulDescCreate");
  const cublasOperation_t opA = transB ? CUBLAS_OP_T : CUBLAS_OP_N;  // cuBLASLt's A is our B
  const cublasOperation_t opB = transA ? CUBLAS_OP_T : CUBLAS_OP_N;
  MCPC_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(op->desc_, CUBLASLT_MATMUL_DESC_TRANSA, &opA, sizeof(opA)), "cublasLtMatmulDescSetAttribute(TRANSA)");
  MCPC_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(op->desc_, CUBLASLT_MATMUL_DESC_TRANSB, &opB, sizeof(opB)), "cublasLtMatmulDescSetAttribute(TRANSB)");
  cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  if (code.epilogueActivation == "relu") epilogue = sbias ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_RELU;
  else if (code.epilogueActivation == "gelu-tanh") epilogue = sbias ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_GELU;
  else if (sbias) epilogue = CUBLASLT_EPILOGUE_BIAS;
  if (epilogue != CUBLASLT_EPILOGUE_DEFAULT) {
    MCPC_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(op->desc_, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(epilogue)),
                                "cublasLtMatmulDescSetAttribute(EPILOGUE)");
  }
  if (sbias) {
    MCPC_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(op->desc_, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &pbias, sizeof(pbias)),
                                "cublasLtMatmulDescSetAttribute(BIAS_POINTER)");
    const int64_t biasStride = biasPerBatch ? N : 0;
    MCPC_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(op->desc_, CUBLASLT_MATMUL_DESC_BIAS_BATCH_STRIDE, &biasStride, sizeof(biasStride)),
                                "cublasLtMatmulDescSetAttribute(BIAS_BATCH_STRIDE)");
  }
  // Stored (pre-op) shapes, column-major: our B is [N, K] (ld N), or [K, N] (ld K) when transposed.
  const uint64_t laRows = transB ? K : N, laCols = transB ? N : K;
  const uint64_t lbRows = transA ? rowsM : K, lbCols = transA ? K : rowsM;
  if (transA && mode == Mode::Folded) return MCPC_ERROR(MCPC_E_INVALID_PLAN, "Gemm has no batch");
  MCPC_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&op->la_, dataType, laRows, laCols, static_cast<int64_t>(laRows)), "cublasLtMatrixLayoutCreate(B)");
  MCPC_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&op->lb_, dataType, lbRows, lbCols, static_cast<int64_t>(lbRows)), "cublasLtMatrixLayoutCreate(A)");
  MCPC_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&op->ld_, dataType, N, rowsM, N), "cublasLtMatrixLayoutCreate(Y)");
  const bool strided = mode == Mode::Strided || (mode == Mode::Loop && batchCount > 1);
  if (strided) {
    if (batchCount > INT32_MAX) return MCPC_ERROR(MCPC_E_UNSUPPORTED, "%s with %lld batches", spec.op.c_str(), static_cast<long long>(batchCount));
    MCPC_RETURN_IF_ERROR(SetLayoutBatch(op->la_, static_cast<int32_t>(batchCount), strideB));
    MCPC_RETURN_IF_ERROR(SetLayoutBatch(op->lb_, static_cast<int32_t>(batchCount), strideA));
    MCPC_RETURN_IF_ERROR(SetLayoutBatch(op->ld_, static_cast<int32_t>(batchCount), strideY));
  }

  // Alignment the algorithm may assume: of every pointer of every call, and of the batch strides.
  uint32_t alignA = 256, alignB = 256, alignC = 256, alignD = 256;
  for (const Call& c : op->calls_) {
    alignA = std::min(alignA, AlignmentOf({reinterpret_cast<uint64_t>(c.a), strided ? static_cast<uint64_t>(strideB) * es : 0}));
    alignB = std::min(alignB, AlignmentOf({reinterpret_cast<uint64_t>(c.b), strided ? static_cast<uint64_t>(strideA) * es : 0}));
    alignC = std::min(alignC, AlignmentOf({reinterpret_cast<uint64_t>(c.c), strided ? static_cast<uint64_t>(strideY) * es : 0}));
    alignD = std::min(alignD, AlignmentOf({reinterpret_cast<uint64_t>(c.d), strided ? static_cast<uint64_t>(strideY) * es : 0}));
  }
  MCPC_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulPreferenceCreate(&op->pref_), "cublasLtMatmulPreferenceCreate");
  const uint64_t maxWs = ctx.maxWorkspaceBytes;
  MCPC_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulPreferenceSetAttribute(op->pref_, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &maxWs, sizeof(maxWs)),
                              "cublasLtMatmulPreferenceSetAttribute(MAX_WORKSPACE_BYTES)");
  const struct {
    cublasLtMatmulPreferenceAttributes_t attr;
    uint32_t value;
  } aligns[] = {{CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, alignA},
                {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, alignB},
                {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, alignC},
                {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, alignD}};
  for (const auto& al : aligns) {
    MCPC_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulPreferenceSetAttribute(op->pref_, al.attr, &al.value, sizeof(al.value)),
                                "cublasLtMatmulPreferenceSetAttribute(MIN_ALIGNMENT)");
  }
  cublasLtMatmulHeuristicResult_t results[kCandidates] = {};
  int returned = 0;
  MCPC_CUBLAS_RETURN_IF_ERROR(
      cublasLtMatmulAlgoGetHeuristic(op->lt_, op->desc_, op->la_, op->lb_, op->ld_, op->ld_, op->pref_, kCandidates, results, &returned),
      "cublasLtMatmulAlgoGetHeuristic");
  std::vector<cublasLtMatmulHeuristicResult_t> candidates;
  for (int i = 0; i < returned; ++i) {
    if (results[i].state == CUBLAS_STATUS_SUCCESS) candidates.push_back(results[i]);
  }
  if (candidates.empty()) {
    return MCPC_ERROR(MCPC_E_UNSUPPORTED, "cuBLASLt has no algorithm for %s of %s %s by %s %s (precision %s)", spec.op.c_str(), DTypeName(sa.dtype),
                      ShapeText(sa.shape).c_str(), DTypeName(sb.dtype), ShapeText(sb.shape).c_str(), ctx.plan.precision.c_str());
  }
  MCPC_RETURN_IF_ERROR(ChooseAlgorithm(ctx, op.get(), candidates));
  return std::unique_ptr<LibraryOp>(std::move(op));
}

}  // namespace cuda
}  // namespace mcpc
