// Process-wide thread settings, set once by the app before any work: LibTorch's
// intra-op threads (training.threads; with the PyPI LibTorch that is also MKL's and
// OpenMP's count) and OpenBLAS's own pool (Debian's FAISS uses OpenBLAS).
#pragma once

#include <cstdint>
#include <string>

namespace hardy::app {

// The threads a rank gets for training.threads = 0: the cores it is bound to when a
// launcher bound it (its CPU affinity is narrower than the machine), else the
// machine's cores shared among the `local_ranks` ranks of this node; at least 1.
int default_threads(int local_ranks);

// Sets LibTorch's intra-op threads (`threads` <= 0: default_threads) and, unless
// OPENBLAS_NUM_THREADS is set, limits OpenBLAS to one thread. Returns the count set.
int configure_threads(std::int64_t threads, int local_ranks = 1);

// One line for `version` and `env`: intra-op threads, OpenMP and OpenBLAS threads as
// the libraries report them now.
std::string thread_report();

// One line on the LibTorch build: its BLAS (from at::show_config()'s BLAS_INFO), the
// CPU capability its kernels dispatch to (e.g. AVX512), MKL and oneDNN when present.
std::string libtorch_cpu_report();

}  // namespace hardy::app
