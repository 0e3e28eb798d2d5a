// ThreadPool: persistent workers woken per ParallelFor. The caller publishes a job (function,
// range, chunk size), wakes as many workers as there are spare chunks, takes chunks itself from a
// shared atomic counter, then waits until every worker that joined has left the job, so `fn` (a
// reference to the caller's closure) is never touched after ParallelFor returns.
//
// Wake-up cost: a futex wake and a context switch cost tens of microseconds, as much as a whole
// small kernel (a 7x7 convolution layer). So a worker that finishes a job spins for a short while
// (kSpinMicros) watching `generation` before it sleeps on the condition variable, and the caller
// spins briefly on `active` before it sleeps on `done`: back-to-back kernels then hand work over
// without system calls. notify_all is a no-op without sleepers.
#include "thread_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace mcpc {

namespace {
// Set while a thread runs chunks of a ParallelFor: a nested call runs inline instead of waiting on
// workers that may all be busy with the outer loop (which would deadlock).
thread_local bool tls_in_parallel_for = false;

// How long a worker keeps polling for the next job before it sleeps, and the caller polls for the
// workers to finish before it sleeps.
// MCPC_SPIN_US overrides the worker's spin (0: sleep at once), for measurements.
int64_t SpinMicrosFromEnv() {
  const char* e = std::getenv("MCPC_SPIN_US");
  return e && *e ? std::max<int64_t>(0, std::atoll(e)) : 200;
}
const int64_t kSpinMicros = SpinMicrosFromEnv();
constexpr int64_t kCallerSpinMicros = 50;

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/** Polls `ready` for up to `micros`; true when it became true. */
template <typename F>
bool SpinUntil(F ready, int64_t micros) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(micros);
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (ready()) return true;
      CpuRelax();
    }
    if (std::chrono::steady_clock::now() >= deadline) return ready();
  }
}
}  // namespace

struct ThreadPool::Impl {
  std::vector<std::thread> workers;
  std::mutex mu;
  std::condition_variable wake;
  std::condition_variable done;
  // One ParallelFor at a time per pool; two sessions never share a pool, but one session's pool
  // may be reached from two threads if a caller bypasses the session's run lock.
  std::mutex call_mu;
  std::atomic<bool> stop{false};
  // Written under `mu`; read without it while spinning.
  std::atomic<uint64_t> generation{0};
  // The current job (valid while `seats` or `active` are non-zero).
  const std::function<void(int64_t, int64_t)>* fn = nullptr;
  int64_t n = 0;
  int64_t chunk = 1;
  int64_t chunks = 0;
  std::atomic<int64_t> next{0};
  int seats = 0;                // workers still allowed to join the job (under `mu`)
  std::atomic<int> active{0};   // workers inside the job (changed under `mu`)
  std::exception_ptr error;

  void RunChunks() {
    tls_in_parallel_for = true;
    for (int64_t c; (c = next.fetch_add(1, std::memory_order_relaxed)) < chunks;) {
      try {
        (*fn)(c * chunk, std::min(n, (c + 1) * chunk));
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (!error) error = std::current_exception();
      }
    }
    tls_in_parallel_for = false;
  }

  void WorkerLoop() {
    uint64_t seen = 0;
    for (;;) {
      SpinUntil([&] { return stop.load(std::memory_order_relaxed) || generation.load(std::memory_order_acquire) != seen; }, kSpinMicros);
      std::unique_lock<std::mutex> lock(mu);
      wake.wait(lock, [&] { return stop || generation != seen; });
      if (stop) return;
      seen = generation;
      if (seats <= 0) continue;  // that job is already done (or full); wait for the next one
      --seats;
      ++active;
      lock.unlock();
      RunChunks();
      lock.lock();
      if (--active == 0) done.notify_all();
    }
  }
};

ThreadPool::ThreadPool(int threads) : impl_(new Impl), threads_(std::max(1, threads)) {
  // The calling thread is one of the `threads`, so the pool owns threads - 1 workers.
  for (int i = 1; i < threads_; ++i) impl_->workers.emplace_back([this] { impl_->WorkerLoop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stop = true;
  }
  impl_->wake.notify_all();
  for (auto& t : impl_->workers) t.join();
  delete impl_;
}

void ThreadPool::ParallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  if (impl_->workers.empty() || tls_in_parallel_for || n <= grain) {
    fn(0, n);
    return;
  }
  // About four chunks per thread balances uneven chunks without making them tiny.
  int64_t chunk = std::max(grain, (n + threads_ * 4 - 1) / (threads_ * 4));
  int64_t chunks = (n + chunk - 1) / chunk;
  std::lock_guard<std::mutex> call(impl_->call_mu);
  std::exception_ptr error;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->fn = &fn;
    impl_->n = n;
    impl_->chunk = chunk;
    impl_->chunks = chunks;
    impl_->next.store(0, std::memory_order_relaxed);
    impl_->seats = static_cast<int>(std::min<int64_t>(chunks - 1, static_cast<int64_t>(impl_->workers.size())));
    impl_->error = nullptr;
    ++impl_->generation;
  }
  impl_->wake.notify_all();
  impl_->RunChunks();
  {
    {
      // Seats nobody took are withdrawn: the chunks are all done, and a late worker must not join.
      std::lock_guard<std::mutex> lock(impl_->mu);
      impl_->seats = 0;
    }
    SpinUntil([&] { return impl_->active.load(std::memory_order_acquire) == 0; }, kCallerSpinMicros);
    std::unique_lock<std::mutex> lock(impl_->mu);
    impl_->done.wait(lock, [&] { return impl_->active == 0; });
    impl_->fn = nullptr;
    error = impl_->error;
    impl_->error = nullptr;
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace mcpc
