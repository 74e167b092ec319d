// Choosing the process group a job runs on, at run time (dist.backend).
#pragma once

#include "dist/communicator.h"

#include <memory>
#include <string>

namespace hardy {

// The process group `dist.backend` asks for:
//   "mpi"   every tensor over MPI;
//   "nccl"  CUDA tensors over NCCL on CUDA device `device` (one communicator per
//           process, its own stream; the ncclUniqueId is broadcast over MPI), CPU
//           tensors over MPI. Needs a build with NCCL and a usable CUDA device;
//   "auto"  nccl when both are there, else mpi.
std::shared_ptr<Communicator> make_communicator(const std::string& backend, int device);

}  // namespace hardy
