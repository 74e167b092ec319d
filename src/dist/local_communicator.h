// The size-1 world (c10d's FakeProcessGroup in spirit, but exact): one process,
// no communication. Every collective returns what a world of one would — the
// input — so single-process runs take the same code path as P ranks.
#pragma once

#include "dist/communicator.h"

#include <memory>

namespace hardy {

// A fresh size-1 communicator (rank 0 of 1, backend "local").
std::shared_ptr<Communicator> local_world();

}  // namespace hardy
