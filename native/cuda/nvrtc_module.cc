// KernelModule: NVRTC compilation, the on-disk cache of compiled code, and loading it with the CUDA
// runtime's library API (cudaLibraryLoadData), so that nothing here links the driver library.
#include "nvrtc_module.h"

#include <nvrtc.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cuda_check.h"
#include "sha256.h"

namespace mcpc {
namespace cuda {

namespace {

constexpr char kCacheMagic[8] = {'M', 'C', 'P', 'C', 'C', 'U', 'D', 'A'};
constexpr uint32_t kCacheVersion = 1;
constexpr size_t kCacheHeader = 8 + 4 + 4 + 8 + 32;
constexpr size_t kMaxLogLines = 30;

struct CompiledCode {
  std::string image;  // cubin bytes, or PTX text (NUL-terminated by std::string)
  bool ptx = false;
};

/** The first lines of an NVRTC log, enough to act on without flooding an error message. */
std::string LogHead(const std::string& log) {
  std::string out;
  size_t lines = 0, at = 0;
  while (at < log.size() && lines < kMaxLogLines) {
    size_t nl = log.find('\n', at);
    if (nl == std::string::npos) nl = log.size();
    if (nl > at) {
      out += (out.empty() ? "" : "\n") + log.substr(at, std::min<size_t>(nl - at, 400));
      ++lines;
    }
    at = nl + 1;
  }
  if (at < log.size()) out += "\n...";
  return out;
}

/** The architecture to compile for: the device's own (cubin) or the newest NVRTC knows (PTX). */
Status ChooseTarget(int cc, std::string* target, bool* ptx) {
  int n = 0;
  MCPC_NVRTC_RETURN_IF_ERROR(nvrtcGetNumSupportedArchs(&n), "nvrtcGetNumSupportedArchs");
  std::vector<int> archs(static_cast<size_t>(std::max(n, 0)));
  if (n > 0) MCPC_NVRTC_RETURN_IF_ERROR(nvrtcGetSupportedArchs(archs.data()), "nvrtcGetSupportedArchs");
  if (std::find(archs.begin(), archs.end(), cc) != archs.end()) {
    *target = "sm_" + std::to_string(cc);
    *ptx = false;
    return Status::Ok();
  }
  int best = -1;
  for (int a : archs) {
    if (a <= cc) best = std::max(best, a);
  }
  if (best < 0) {
    return MCPC_ERROR(MCPC_E_COMPUTE_CAPABILITY, "this NVRTC cannot compile for compute capability %d.%d (oldest it supports: sm_%d)", cc / 10, cc % 10,
                      archs.empty() ? 0 : *std::min_element(archs.begin(), archs.end()));
  }
  *target = "compute_" + std::to_string(best);
  *ptx = true;
  return Status::Ok();
}

StatusOr<CompiledCode> Compile(const std::string& source, const std::vector<std::string>& options, bool ptx) {
  nvrtcProgram prog = nullptr;
  const char* headers[] = {kPreludeSource};
  const char* names[] = {"mcpc_prelude.cuh"};
  MCPC_NVRTC_RETURN_IF_ERROR(nvrtcCreateProgram(&prog, source.c_str(), "mcpc_plan.cu", 1, headers, names), "nvrtcCreateProgram");
  std::unique_ptr<nvrtcProgram, void (*)(nvrtcProgram*)> guard(&prog, [](nvrtcProgram* p) { nvrtcDestroyProgram(p); });
  std::vector<const char*> opts;
  for (const std::string& o : options) opts.push_back(o.c_str());
  const nvrtcResult r = nvrtcCompileProgram(prog, static_cast<int>(opts.size()), opts.data());
  std::string log;
  size_t logSize = 0;
  if (nvrtcGetProgramLogSize(prog, &logSize) == NVRTC_SUCCESS && logSize > 1) {
    log.resize(logSize);
    if (nvrtcGetProgramLog(prog, &log[0]) != NVRTC_SUCCESS) log.clear();
    while (!log.empty() && (log.back() == '\0' || log.back() == '\n')) log.pop_back();
  }
  if (r != NVRTC_SUCCESS) {
    return MCPC_ERROR(MCPC_E_CUDA_COMPILE, "NVRTC could not compile the plan's CUDA source (%s):\n%s", nvrtcGetErrorString(r),
                      log.empty() ? "(no log)" : LogHead(log).c_str());
  }
  CompiledCode code;
  code.ptx = ptx;
  size_t size = 0;
  if (ptx) {
    MCPC_NVRTC_RETURN_IF_ERROR(nvrtcGetPTXSize(prog, &size), "nvrtcGetPTXSize");
    code.image.resize(size);
    MCPC_NVRTC_RETURN_IF_ERROR(nvrtcGetPTX(prog, &code.image[0]), "nvrtcGetPTX");
    while (!code.image.empty() && code.image.back() == '\0') code.image.pop_back();
  } else {
    MCPC_NVRTC_RETURN_IF_ERROR(nvrtcGetCUBINSize(prog, &size), "nvrtcGetCUBINSize");
    code.image.resize(size);
    MCPC_NVRTC_RETURN_IF_ERROR(nvrtcGetCUBIN(prog, &code.image[0]), "nvrtcGetCUBIN");
  }
  if (code.image.empty()) return MCPC_ERROR(MCPC_E_CUDA, "NVRTC produced no code for the plan's CUDA source");
  return code;
}

// ---- the cache: one file per key, header (magic, version, kind, length, SHA-256) then the image ----

void PutU32(std::string* s, uint32_t v) {
  for (int i = 0; i < 4; ++i) s->push_back(static_cast<char>(v >> (8 * i)));
}
void PutU64(std::string* s, uint64_t v) {
  for (int i = 0; i < 8; ++i) s->push_back(static_cast<char>(v >> (8 * i)));
}
uint64_t GetLE(const std::string& s, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= uint64_t(static_cast<uint8_t>(s[at + i])) << (8 * i);
  return v;
}

bool ReadFile(const std::string& path, std::string* out) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  std::string data;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) data.append(buf, n);
  const bool ok = !std::ferror(f);
  std::fclose(f);
  if (ok) *out = std::move(data);
  return ok;
}

/** The cached image at `path`, or false when it is missing or fails any check. */
bool ReadCacheEntry(const std::string& path, bool ptx, CompiledCode* out) {
  std::string data;
  if (!ReadFile(path, &data) || data.size() < kCacheHeader) return false;
  if (std::memcmp(data.data(), kCacheMagic, 8) != 0 || GetLE(data, 8, 4) != kCacheVersion || GetLE(data, 12, 4) != (ptx ? 1u : 0u)) return false;
  const uint64_t length = GetLE(data, 16, 8);
  if (length == 0 || length != data.size() - kCacheHeader) return false;
  uint8_t digest[32];
  Sha256().Update(data.data() + kCacheHeader, length).Final(digest);
  if (std::memcmp(digest, data.data() + 24, 32) != 0) return false;
  out->image = data.substr(kCacheHeader);
  out->ptx = ptx;
  return true;
}

bool MakeDirs(const std::string& dir) {
  std::string at;
  size_t pos = 0;
  while (pos <= dir.size()) {
    size_t slash = dir.find('/', pos);
    if (slash == std::string::npos) slash = dir.size();
    at = dir.substr(0, slash);
    if (!at.empty() && ::mkdir(at.c_str(), 0755) != 0 && errno != EEXIST) return false;
    pos = slash + 1;
  }
  struct stat st;
  return ::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

/** Best effort: a cache that cannot be written only costs a compile next time. */
void WriteCacheEntry(const std::string& dir, const std::string& path, const CompiledCode& code) {
  if (!MakeDirs(dir)) return;
  std::string data(kCacheMagic, 8);
  PutU32(&data, kCacheVersion);
  PutU32(&data, code.ptx ? 1 : 0);
  PutU64(&data, code.image.size());
  uint8_t digest[32];
  Sha256().Update(code.image).Final(digest);
  data.append(reinterpret_cast<const char*>(digest), 32);
  data += code.image;
  std::random_device rd;
  const std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(rd());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return;
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t w = ::write(fd, data.data() + done, data.size() - done);
    if (w <= 0) {
      if (w < 0 && errno == EINTR) continue;
      break;
    }
    done += static_cast<size_t>(w);
  }
  const bool ok = done == data.size() && ::fsync(fd) == 0;
  ::close(fd);
  // rename is atomic: a reader sees the old entry, the new one, or none, never a partial file.
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) ::unlink(tmp.c_str());
}

Status LoadLibrary(const CompiledCode& code, cudaLibrary_t* lib) {
  *lib = nullptr;
  MCPC_CUDA_RETURN_IF_ERROR(cudaLibraryLoadData(lib, code.image.data(), nullptr, nullptr, 0, nullptr, nullptr, 0),
                            code.ptx ? "loading the plan's PTX (cudaLibraryLoadData)" : "loading the plan's cubin (cudaLibraryLoadData)");
  return Status::Ok();
}

}  // namespace

StatusOr<std::unique_ptr<KernelModule>> KernelModule::Load(const std::string& source, int cc, const std::string& cacheDir) {
  std::unique_ptr<KernelModule> m(new KernelModule());
  bool ptx = false;
  MCPC_RETURN_IF_ERROR(ChooseTarget(cc, &m->target_, &ptx));
  // No --use_fast_math: generated kernels must match the reference to 1e-4.
  const std::vector<std::string> options = {"--gpu-architecture=" + m->target_, "-std=c++17", "-DMCPC_NVRTC=1"};
  int major = 0, minor = 0;
  MCPC_NVRTC_RETURN_IF_ERROR(nvrtcVersion(&major, &minor), "nvrtcVersion");
  if (!cacheDir.empty()) {
    Sha256 key;
    key.Update("mcpc-cuda-cache-v1").Update("\0", 1).Update(source).Update("\0", 1).Update(kPreludeSource, std::strlen(kPreludeSource));
    for (const std::string& o : options) key.Update("\0", 1).Update(o);
    key.Update("\0nvrtc " + std::to_string(major) + "." + std::to_string(minor));
    m->cachePath_ = cacheDir + "/" + m->target_ + "-nvrtc" + std::to_string(major) + "." + std::to_string(minor) + "-" +
                    key.HexDigest().substr(0, 40) + ".bin";
  }
  CompiledCode code;
  if (!m->cachePath_.empty() && ReadCacheEntry(m->cachePath_, ptx, &code)) {
    if (LoadLibrary(code, &m->library_).ok()) {
      m->fromCache_ = true;
      return m;
    }
    // A cached image the driver refuses (written for another driver?) is replaced, not trusted.
    cudaGetLastError();
  }
  StatusOr<CompiledCode> compiled = Compile(source, options, ptx);
  if (!compiled.ok()) return compiled.status();
  code = compiled.take();
  MCPC_RETURN_IF_ERROR(LoadLibrary(code, &m->library_));
  if (!m->cachePath_.empty()) WriteCacheEntry(cacheDir, m->cachePath_, code);
  return m;
}

KernelModule::~KernelModule() {
  if (library_) cudaLibraryUnload(library_);
}

StatusOr<cudaKernel_t> KernelModule::Kernel(const std::string& entry) {
  auto it = kernels_.find(entry);
  if (it != kernels_.end()) return it->second;
  cudaKernel_t k = nullptr;
  const cudaError_t e = cudaLibraryGetKernel(&k, library_, entry.c_str());
  if (e != cudaSuccess) {
    cudaGetLastError();
    return Status::Error(e == cudaErrorSymbolNotFound ? MCPC_E_INVALID_PLAN : MCPC_E_CUDA,
                         "the plan's CUDA source has no kernel '" + entry + "' (cudaLibraryGetKernel: " + cudaGetErrorName(e) + ")", __FILE__,
                         __LINE__);
  }
  kernels_.emplace(entry, k);
  return k;
}

}  // namespace cuda
}  // namespace mcpc
