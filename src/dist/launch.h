// Where this process sits in the job: rank and local rank, from the launcher's
// environment (Open MPI, SLURM, or a generic PMI), before MPI is initialised.
#pragma once

#include <string>

namespace hardy {

struct LaunchInfo {
  int rank = 0;
  int world = 1;
  int local_rank = 0;
  int local_world = 1;
  std::string launcher = "none";  // "openmpi", "slurm", "pmi" or "none"
  bool distributed() const { return world > 1; }
};

// Reads OMPI_COMM_WORLD_{RANK,SIZE,LOCAL_RANK,LOCAL_SIZE}, then SLURM_{PROCID,NTASKS,
// LOCALID} (with SLURM_NTASKS_PER_NODE / SLURM_TASKS_PER_NODE for the local size),
// then PMI_{RANK,SIZE}. Throws hardy::Error on malformed values.
LaunchInfo detect_launch();

}  // namespace hardy
