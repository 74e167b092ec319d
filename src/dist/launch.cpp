#include "dist/launch.h"

#include "core/error.h"

#include <cstdlib>
#include <string>

namespace hardy {

namespace {

// Parses an environment variable holding a non-negative integer; -1 when unset.
int env_int(const char* name) {
  const char* raw = std::getenv(name);
  if (!raw || !*raw) return -1;
  char* end = nullptr;
  long value = std::strtol(raw, &end, 10);
  // SLURM_TASKS_PER_NODE looks like "4(x2)": the leading count is what we need.
  HARDY_THROW_IF_NOT_MSG(end != raw && value >= 0 && value < (1L << 30),
                         "environment variable {}='{}' is not a valid count", name, raw);
  return static_cast<int>(value);
}

}  // namespace

LaunchInfo detect_launch() {
  LaunchInfo info;
  if (env_int("OMPI_COMM_WORLD_SIZE") > 0) {
    info.launcher = "openmpi";
    info.rank = env_int("OMPI_COMM_WORLD_RANK");
    info.world = env_int("OMPI_COMM_WORLD_SIZE");
    info.local_rank = std::max(0, env_int("OMPI_COMM_WORLD_LOCAL_RANK"));
    info.local_world = std::max(1, env_int("OMPI_COMM_WORLD_LOCAL_SIZE"));
  } else if (env_int("SLURM_NTASKS") > 0 && env_int("SLURM_PROCID") >= 0) {
    info.launcher = "slurm";
    info.rank = env_int("SLURM_PROCID");
    info.world = env_int("SLURM_NTASKS");
    info.local_rank = std::max(0, env_int("SLURM_LOCALID"));
    int per_node = env_int("SLURM_NTASKS_PER_NODE");
    if (per_node < 0) per_node = env_int("SLURM_TASKS_PER_NODE");
    info.local_world = std::max(1, per_node);
  } else if (env_int("PMI_SIZE") > 0) {
    info.launcher = "pmi";
    info.rank = std::max(0, env_int("PMI_RANK"));
    info.world = env_int("PMI_SIZE");
  }
  HARDY_THROW_IF_NOT_MSG(info.rank >= 0 && info.rank < info.world,
                         "launcher '{}' reports rank {} outside a world of {}", info.launcher,
                         info.rank, info.world);
  HARDY_THROW_IF_NOT_MSG(info.local_rank < info.local_world,
                         "launcher '{}' reports local rank {} outside {} local ranks",
                         info.launcher, info.local_rank, info.local_world);
  return info;
}

}  // namespace hardy
