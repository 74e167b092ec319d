// The whole HARDY-MER run of docs/algorithm.md on one process or many: for every fold,
// features → teacher → hardness → index + curriculum → students → evaluation, then the report.
// Each stage writes its artifacts and a manifest under output.dir/<fold>/; a re-run
// skips stages whose manifest matches and resumes interrupted ones from their last
// epoch checkpoint.
#pragma once

#include "core/config.h"
#include "dist/communicator.h"
#include "dist/local_communicator.h"
#include "train/report.h"

#include <memory>

namespace hardy {

// One process is `local_world()`, a group of one. With more than one rank, every
// stage runs data-parallel over the ranks (train/data_parallel.h): each rank reads
// only its rows of every fold; rank 0
// writes artifacts, checkpoints and reports, which every rank must be able to read
// (output.dir on a shared filesystem). Results equal the single-process ones up to
// float rounding and dropout draws (docs/data-parallel.md).
RunResults run_pipeline(const Config& config, std::shared_ptr<Communicator> comm = local_world());

}  // namespace hardy
