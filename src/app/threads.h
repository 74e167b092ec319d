// Process-wide thread settings, set once by the app before any work: LibTorch's
// intra-op threads (training.threads) and the BLAS library's own pool.
#pragma once

#include <cstdint>

namespace hardy::app {

// `threads` <= 0 means one per core. Returns the intra-op thread count set.
int configure_threads(std::int64_t threads);

}  // namespace hardy::app
