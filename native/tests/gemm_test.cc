// Standalone GEMM test and micro-benchmark: every micro-kernel set (portable, AVX2, AVX-512) against
// a naive double-precision loop over random shapes with odd edges, transposes, alpha/beta and the
// fused epilogue, and the split-K and pack-in-tiles drivers against Sgemm; then GFLOP/s for 768x768x768 and 128x3072x768 (B prepacked) on 1 and 2 threads.
//   built by native/tests/build.sh
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/gemm.h"
#include "thread_pool.h"

using namespace mcpc;

static std::mt19937 rng(42);
static std::vector<float> Rand(size_t n) {
  std::uniform_real_distribution<float> d(-1, 1);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

static int failures = 0;

static void CheckCase(int64_t M, int64_t N, int64_t K, bool ta, bool tb, float alpha, float beta, bool epi, ThreadPool* pool) {
  auto A = Rand(M * K), B = Rand(K * N), C = Rand(M * N), bias = Rand(std::max(M, N)), res = Rand(M * N);
  const int64_t lda = ta ? M : K, ldb = tb ? K : N;
  std::vector<double> ref(M * N);
  gemm::Epilogue ep;
  const bool perRow = (M + N + K) % 2;
  if (epi) {
    ep.bias = bias.data();
    ep.biasPerRow = perRow;
    ep.residual = res.data();
    ep.ldResidual = N;
    ep.act = K % 3 == 0 ? gemm::Epilogue::Act::Clip : gemm::Epilogue::Act::Relu;
    ep.clipMin = -0.5f;
    ep.clipMax = 0.5f;
  }
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k) s += double(ta ? A[k * lda + i] : A[i * lda + k]) * (tb ? B[j * ldb + k] : B[k * ldb + j]);
      double v = alpha * s + (beta != 0 ? beta * C[i * N + j] : 0);
      if (epi) {
        v += perRow ? bias[i] : bias[j];
        v += res[i * N + j];
        v = ep.act == gemm::Epilogue::Act::Relu ? std::max(v, 0.0) : std::min(std::max(v, -0.5), 0.5);
      }
      ref[i * N + j] = v;
    }
  }
  gemm::AlignedBuffer scratch;
  std::vector<float> out = C;
  gemm::Sgemm(ta, tb, M, N, K, alpha, A.data(), lda, B.data(), ldb, beta, out.data(), N, ep, pool, &scratch);
  double worst = 0;
  for (int64_t i = 0; i < M * N; ++i) worst = std::max(worst, std::fabs(out[i] - ref[i]) / (1 + std::fabs(ref[i])));
  // The prepacked-B path as well.
  gemm::AlignedBuffer bp;
  bp.reserve(gemm::LayoutB(K, N).size() + 1);
  gemm::PackB(B.data(), ldb, tb, K, N, alpha, bp.data(), pool);
  std::vector<float> out2 = C;
  gemm::SgemmPackedB(ta, M, N, K, A.data(), lda, bp.data(), beta, out2.data(), N, ep, pool, &scratch);
  for (int64_t i = 0; i < M * N; ++i) worst = std::max(worst, std::fabs(out2[i] - ref[i]) / (1 + std::fabs(ref[i])));
  if (worst > 1e-4 * (1 + K / 256.0)) {
    ++failures;
    std::printf("FAIL %s M=%ld N=%ld K=%ld ta=%d tb=%d alpha=%g beta=%g epi=%d: err %g\n", gemm::ActiveArch().name, (long)M,
                (long)N, (long)K, ta, tb, alpha, beta, epi, worst);
  }
}

/** GemmPackedSplitK (sum of its parts) and GemmPackBInTiles (B packed by a callback) against Sgemm. */
static void CheckPackedVariants(int64_t M, int64_t N, int64_t K, ThreadPool* pool) {
  auto A = Rand(M * K), B = Rand(K * N), bias = Rand(M);
  gemm::AlignedBuffer scratch, ap, bp;
  std::vector<float> ref(M * N);
  gemm::Epilogue ep;
  gemm::Sgemm(false, false, M, N, K, 1.0f, A.data(), K, B.data(), N, 0.0f, ref.data(), N, ep, nullptr, &scratch);
  ap.reserve(gemm::LayoutA(M, K).size() + 1);
  bp.reserve(gemm::LayoutB(K, N).size() + 1);
  gemm::PackA(A.data(), K, false, M, K, 1.0f, ap.data(), pool);
  gemm::PackB(B.data(), N, false, K, N, 1.0f, bp.data(), pool);
  const int64_t part = M * N;
  std::vector<float> parts(part * pool->threads(), NAN);
  const int n = gemm::GemmPackedSplitK(M, N, K, ap.data(), bp.data(), parts.data(), N, part, pool);
  double worst = 0;
  for (int64_t i = 0; i < M * N; ++i) {
    double sum = 0;
    for (int q = 0; q < n; ++q) sum += parts[q * part + i];
    worst = std::max(worst, std::fabs(sum - ref[i]) / (1 + std::fabs(ref[i])));
  }
  // In tiles, with a per-row bias and Relu, accumulating onto C = 1.
  ep.bias = bias.data();
  ep.biasPerRow = true;
  ep.act = gemm::Epilogue::Act::Relu;
  std::vector<float> c(M * N, 1.0f);
  const gemm::PackedLayout lb = gemm::LayoutB(K, N);
  gemm::GemmPackBInTiles(M, N, K, ap.data(), [&](int64_t kb, int64_t p0, int64_t p1, float* o) { gemm::PackBBlock(B.data(), N, lb, kb, p0, p1, o); },
                         c.data(), N, true, ep, pool);
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      const double want = std::max(0.0, 1.0 + ref[i * N + j] + bias[i]);
      worst = std::max(worst, std::fabs(c[i * N + j] - want) / (1 + std::fabs(want)));
    }
  }
  if (worst > 1e-4 * (1 + K / 256.0)) {
    ++failures;
    std::printf("FAIL %s split-K / pack-in-tiles M=%ld N=%ld K=%ld: err %g\n", gemm::ActiveArch().name, (long)M, (long)N, (long)K, worst);
  }
}

static double Bench(int64_t M, int64_t N, int64_t K, ThreadPool* pool) {
  auto A = Rand(M * K), B = Rand(K * N);
  std::vector<float> C(M * N);
  gemm::AlignedBuffer bp, scratch;
  bp.reserve(gemm::LayoutB(K, N).size());
  gemm::PackB(B.data(), N, false, K, N, 1.0f, bp.data(), nullptr);
  gemm::Epilogue ep;
  auto run = [&] { gemm::SgemmPackedB(false, M, N, K, A.data(), K, bp.data(), 0.0f, C.data(), N, ep, pool, &scratch); };
  for (int i = 0; i < 3; ++i) run();
  double best = 1e30;
  for (int rep = 0; rep < 5; ++rep) {
    const int iters = 10;
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; ++i) run();
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / iters;
    best = std::min(best, s);
  }
  return 2.0 * M * N * K / best * 1e-9;
}

int main(int argc, char** argv) {
  const bool benchOnly = argc > 1 && std::strcmp(argv[1], "bench") == 0;
  ThreadPool pool2(2);
  if (!benchOnly) {
    for (const char* arch : {"portable", "avx2", "avx512"}) {
      if (!gemm::ForceArch(arch)) {
        std::printf("skip %s (not supported here)\n", arch);
        continue;
      }
      const int64_t shapes[][3] = {{1, 1, 1},   {1, 17, 5},  {7, 1, 3},    {8, 48, 1},  {9, 49, 17},   {13, 33, 300},
                                   {64, 64, 64}, {31, 95, 257}, {100, 7, 513}, {5, 130, 2}, {128, 200, 96}, {3, 1000, 20},
                                   {17, 16, 0}};
      int n = 0;
      for (auto& s : shapes) {
        for (int t = 0; t < 4; ++t) {
          CheckCase(s[0], s[1], s[2], t & 1, t & 2, 1.0f, 0.0f, false, nullptr);
          CheckCase(s[0], s[1], s[2], t & 1, t & 2, 0.5f, t == 3 ? 0.7f : 1.0f, t % 2 == 0, &pool2);
          n += 2;
        }
      }
      std::uniform_int_distribution<int> d(1, 150);
      for (int r = 0; r < 30; ++r, ++n) CheckCase(d(rng), d(rng), d(rng) * 3, r & 1, r & 2, 1.0f, r % 3 == 0 ? 1.0f : 0.0f, r & 4, r & 8 ? &pool2 : nullptr);
      ThreadPool pool1(1);
      for (auto& s : {std::array<int64_t, 3>{49, 512, 700}, std::array<int64_t, 3>{9, 100, 130}, std::array<int64_t, 3>{33, 17, 64},
                      std::array<int64_t, 3>{64, 2000, 147}, std::array<int64_t, 3>{20, 900, 513}}) {
        CheckPackedVariants(s[0], s[1], s[2], &pool2);
        CheckPackedVariants(s[0], s[1], s[2], &pool1);
        n += 2;
      }
      std::printf("%s: %d gemm cases checked\n", arch, n);
    }
  }
  for (const char* arch : {"avx512", "avx2"}) {
    if (!gemm::ForceArch(arch)) continue;
    ThreadPool pool1(1);
    for (auto s : {std::array<int64_t, 3>{768, 768, 768}, std::array<int64_t, 3>{128, 3072, 768}, std::array<int64_t, 3>{128, 768, 3072}}) {
      std::printf("%-7s %4ldx%4ldx%4ld  1 thread %6.1f GFLOP/s   2 threads %6.1f GFLOP/s\n", arch, (long)s[0], (long)s[1], (long)s[2],
                  Bench(s[0], s[1], s[2], &pool1), Bench(s[0], s[1], s[2], &pool2));
    }
  }
  std::printf(failures ? "GEMM TESTS FAILED: %d\n" : "all gemm tests passed\n", failures);
  return failures ? 1 : 0;
}
