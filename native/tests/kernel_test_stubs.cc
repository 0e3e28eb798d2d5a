// Stand-ins for the runtime pieces the standalone kernel tests link against (thread pool, kernel
// registry, KernelSpec accessors, FormatMessage) until the real ones exist. Test-only: never linked
// into the addon.
#include <atomic>
#include <condition_variable>
#include <cstdarg>
#include <mutex>
#include <thread>
#include <vector>

#include "kernel.h"
#include "thread_pool.h"

namespace mcpc {

std::string FormatMessage(const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return buf;
}

KernelRegistry& KernelRegistry::Get() {
  static KernelRegistry r;
  return r;
}
void KernelRegistry::Add(const std::string& op, KernelFactory factory) { entries_.emplace_back(op, std::move(factory)); }
const KernelFactory* KernelRegistry::Find(const std::string& op) const {
  for (auto& e : entries_) if (e.first == op) return &e.second;
  return nullptr;
}
std::vector<std::string> KernelRegistry::Names() const {
  std::vector<std::string> r;
  for (auto& e : entries_) r.push_back(e.first);
  return r;
}

int64_t KernelSpec::Int(const std::string& name, int64_t fallback) const {
  auto it = attrs.find(name);
  return it == attrs.end() ? fallback : it->second.i;
}
double KernelSpec::Float(const std::string& name, double fallback) const {
  auto it = attrs.find(name);
  return it == attrs.end() ? fallback : it->second.f;
}
std::string KernelSpec::String(const std::string& name, const std::string& fallback) const {
  auto it = attrs.find(name);
  return it == attrs.end() ? fallback : it->second.s;
}
std::vector<int64_t> KernelSpec::Ints(const std::string& name, const std::vector<int64_t>& fallback) const {
  auto it = attrs.find(name);
  return it == attrs.end() ? fallback : it->second.ints;
}
std::vector<double> KernelSpec::Floats(const std::string& name, const std::vector<double>& fallback) const {
  auto it = attrs.find(name);
  return it == attrs.end() ? fallback : it->second.floats;
}

// A simple fork-join pool: ParallelFor cuts [0, n) into one static chunk per thread.
struct ThreadPool::Impl {
  std::vector<std::thread> workers;
  std::mutex mu;
  std::condition_variable cv, done;
  const std::function<void(int64_t, int64_t)>* fn = nullptr;
  std::vector<std::pair<int64_t, int64_t>> ranges;
  uint64_t generation = 0;
  int pending = 0;
  bool stop = false;
};

static thread_local bool t_inPool = false;

ThreadPool::ThreadPool(int threads) : impl_(new Impl), threads_(threads < 1 ? 1 : threads) {
  for (int w = 1; w < threads_; ++w) {
    impl_->workers.emplace_back([this, w] {
      t_inPool = true;
      uint64_t seen = 0;
      for (;;) {
        std::unique_lock<std::mutex> lk(impl_->mu);
        impl_->cv.wait(lk, [&] { return impl_->stop || impl_->generation != seen; });
        if (impl_->stop) return;
        seen = impl_->generation;
        auto r = impl_->ranges[w];
        auto* fn = impl_->fn;
        lk.unlock();
        if (r.first < r.second) (*fn)(r.first, r.second);
        lk.lock();
        if (--impl_->pending == 0) impl_->done.notify_one();
      }
    });
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    impl_->stop = true;
  }
  impl_->cv.notify_all();
  for (auto& t : impl_->workers) t.join();
  delete impl_;
}

void ThreadPool::ParallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  int64_t chunks = std::min<int64_t>(threads_, (n + grain - 1) / grain);
  if (chunks <= 1 || t_inPool) {
    fn(0, n);
    return;
  }
  std::vector<std::pair<int64_t, int64_t>> ranges(threads_, {0, 0});
  for (int64_t c = 0; c < chunks; ++c) ranges[c] = {n * c / chunks, n * (c + 1) / chunks};
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    impl_->ranges = ranges;
    impl_->fn = &fn;
    impl_->pending = threads_ - 1;
    ++impl_->generation;
  }
  impl_->cv.notify_all();
  t_inPool = true;
  fn(ranges[0].first, ranges[0].second);
  t_inPool = false;
  std::unique_lock<std::mutex> lk(impl_->mu);
  impl_->done.wait(lk, [&] { return impl_->pending == 0; });
}

}  // namespace mcpc
