// The one way a pipeline stage runs, today's and future ones: skip it when its
// manifest says it finished with the same inputs (loading its artifacts), else
// compute it (resuming from its epoch checkpoint when resume is on), let rank 0
// save its artifacts, and mark it done. Every rank takes the same branch.
#pragma once

#include "train/run_scope.h"

#include <functional>
#include <string>

namespace hardy {

struct StageRun {
  std::string dir;         // the fold's run directory
  std::string name;        // manifest <dir>/<name>.json; e.g. "teacher", "student_at"
  std::string key;         // fingerprint of everything the stage's output depends on
  std::string checkpoint;  // its epoch checkpoint, or empty when it has none
};

struct StageSteps {
  std::function<void()> load;     // every rank: read the finished stage's artifacts
  std::function<void()> compute;  // every rank (collective): compute the stage
  std::function<void()> save;     // rank 0 only, after compute: write the artifacts
};

// Returns true when the stage was skipped (loaded), false when it was computed.
// A damaged manifest or artifact (train/run_file_error.h) is moved aside by rank 0
// with a warning saying what was found, and the stage is computed again; with
// run.strict it stops the run instead.
bool run_stage(const RunScope& run, const StageRun& stage, bool resume, const StageSteps& steps);

// Whether the manifest at `path` exists, is complete and has `key` (this rank's read).
// A corrupt one is moved aside with a warning and counts as not done, or throws
// RunFileError when `strict`.
bool manifest_done(const std::string& path, const std::string& key, bool strict);

}  // namespace hardy
