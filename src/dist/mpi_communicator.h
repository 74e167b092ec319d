// The MPI backend over MPI_COMM_WORLD: every collective on CPU tensors.
#pragma once

#include "dist/communicator.h"

#include <memory>

namespace hardy {

// The world communicator. Initialises MPI on first use and finalises it at process
// exit.
std::shared_ptr<Communicator> mpi_world();

}  // namespace hardy
