// The NCCL backend (compiled with HARDY_WITH_NCCL): collectives on CUDA tensors over
// one NCCL communicator per process; CPU tensors and the small CPU-side exchanges go
// over the MPI `bootstrap`, which also carries the ncclUniqueId.
#pragma once

#include "dist/communicator.h"

#include <memory>

namespace hardy {

std::shared_ptr<Communicator> nccl_world(std::shared_ptr<Communicator> bootstrap, int device);

}  // namespace hardy
