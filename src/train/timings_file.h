// <output.dir>/timings.json: where each stage's time went (bench/README.md's
// per-step split reads it).
#pragma once

#include "dist/communicator.h"

#include <string>

namespace hardy {

// Collective: every rank's stage times (train/loop.h), the maximum over the ranks
// per field, written by rank 0 to `path`.
void write_timings_file(Communicator& comm, const std::string& path);

}  // namespace hardy
