// A fixed pool of worker threads owned by a session. ParallelFor splits [0, n) into chunks of at
// least `grain` iterations and runs them on the workers and the calling thread; with one thread it
// runs inline. Calls from inside a ParallelFor run inline (no nested parallelism).
#pragma once

#include <cstdint>
#include <functional>

namespace mcpc {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return threads_; }
  /** fn(begin, end) over disjoint ranges covering [0, n). */
  void ParallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

 private:
  struct Impl;
  Impl* impl_;
  int threads_;
};

}  // namespace mcpc
