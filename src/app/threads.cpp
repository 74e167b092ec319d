#include "app/threads.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <fmt/format.h>

#include <dlfcn.h>
#include <sched.h>

#include <algorithm>
#include <cstdlib>
#include <thread>

namespace hardy::app {

namespace {

// OpenBLAS, if loaded (FAISS links it), looked up at run time: builds or machines
// with another BLAS are unaffected.
template <typename F>
F openblas(const char* symbol) {
  return reinterpret_cast<F>(dlsym(RTLD_DEFAULT, symbol));
}

// LibTorch's intra-op threads and OpenBLAS's own thread pool together oversubscribe
// the cores: on 2 cores the demo ran 2.9× slower (bench/README.md). Unless the user
// chose OPENBLAS_NUM_THREADS, OpenBLAS gets one thread.
void limit_blas_threads() {
  if (std::getenv("OPENBLAS_NUM_THREADS")) return;
  if (auto set = openblas<void (*)(int)>("openblas_set_num_threads")) set(1);
}

int cores_allowed() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 0;
  return CPU_COUNT(&set);
}

}  // namespace

int default_threads(int local_ranks) {
  const int machine = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  const int allowed = cores_allowed();
  if (allowed > 0 && allowed < machine) return allowed;  // bound by the launcher
  return std::max(1, machine / std::max(1, local_ranks));
}

int configure_threads(std::int64_t threads, int local_ranks) {
  const int n = threads > 0 ? static_cast<int>(threads) : default_threads(local_ranks);
  at::set_num_threads(n);
  limit_blas_threads();
  return n;
}

std::string thread_report() {
  std::string blas = "not loaded";
  if (auto get = openblas<int (*)()>("openblas_get_num_threads")) blas = std::to_string(get());
  // "ATen parallel backend: OpenMP" (or "native thread pool").
  const auto info = at::get_parallel_info();
  std::string backend = "?";
  if (auto at = info.find("parallel backend: "); at != std::string::npos)
    backend = info.substr(at + 18, info.find('\n', at) - at - 18);
  return fmt::format("intra-op threads {} ({}); OpenBLAS threads {}", at::get_num_threads(), backend, blas);
}

std::string libtorch_cpu_report() {
  const auto config = at::show_config();
  std::string blas = "?";
  if (auto at = config.find("BLAS_INFO="); at != std::string::npos)
    blas = config.substr(at + 10, config.find_first_of(", \n", at + 10) - at - 10);
  // The first word after `marker` in a library's long version banner.
  auto word_after = [](const std::string& text, const std::string& marker) {
    auto at = text.find(marker);
    if (at == std::string::npos) return std::string("?");
    at += marker.size();
    return text.substr(at, text.find_first_of(" -(", at) - at);
  };
  std::string extras;
  if (at::hasMKL()) extras += ", MKL " + word_after(at::get_mkl_version(), "Version ");
  if (at::hasMKLDNN()) extras += ", oneDNN " + word_after(at::get_mkldnn_version(), " v");
  return fmt::format("BLAS {}, CPU capability {}{}", blas, at::get_cpu_capability(), extras);
}

}  // namespace hardy::app
