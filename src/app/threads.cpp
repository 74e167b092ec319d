#include "app/threads.h"

#include <torch/torch.h>

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <thread>

namespace hardy::app {

namespace {

// LibTorch's intra-op threads and OpenBLAS's own thread pool together oversubscribe
// the cores: on 2 cores the demo ran 2.9× slower (bench/README.md). Unless the user
// chose OPENBLAS_NUM_THREADS, OpenBLAS gets one thread. Looked up at run time, so
// builds against another BLAS are unaffected.
void limit_blas_threads() {
  if (std::getenv("OPENBLAS_NUM_THREADS")) return;
  using SetThreads = void (*)(int);
  if (auto set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
    set(1);
}

}  // namespace

int configure_threads(std::int64_t threads) {
  if (threads <= 0) threads = std::max<std::int64_t>(1, std::thread::hardware_concurrency());
  torch::set_num_threads(static_cast<int>(threads));
  limit_blas_threads();
  return static_cast<int>(threads);
}

}  // namespace hardy::app
