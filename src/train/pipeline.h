// The whole HARDY-MER run of ALGORITHM.md on one process: for every fold, features →
// teacher → hardness → index + curriculum → students → evaluation, then the report.
// Each stage writes its artifacts and a manifest under output.dir/<fold>/; a re-run
// skips stages whose manifest matches and resumes interrupted ones from their last
// epoch checkpoint.
#pragma once

#include "core/config.h"
#include "train/report.h"

namespace hardy {

RunResults run_pipeline(const Config& config);

}  // namespace hardy
