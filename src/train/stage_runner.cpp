#include "train/stage_runner.h"

#include "core/log.h"
#include "train/file_io.h"
#include "train/manifest.h"
#include "train/run_file_error.h"

#include <filesystem>

namespace hardy {

bool manifest_done(const std::string& path, const std::string& key, bool strict) {
  try {
    return manifest_matches(path, key);
  } catch (const RunFileError& e) {
    if (strict) throw;
    const auto aside = move_aside(path);
    log::warn("{}; moved aside to '{}', the stage runs again (output.strict = false)", e.found(),
              aside.empty() ? "(gone)" : aside);
    return false;
  }
}

bool run_stage(const RunScope& run, const StageRun& stage, bool resume, const StageSteps& steps) {
  const std::string manifest = stage.dir + "/" + stage.name + ".json";
  // Rank 0 reads the manifest and decides for everyone.
  if (run.agree(run.root() && resume && manifest_done(manifest, stage.key, run.strict))) {
    // Every rank loads; a damaged artifact on any rank makes the stage run again.
    std::string found, damaged;
    try {
      if (steps.load) steps.load();
    } catch (const RunFileError& e) {
      if (run.strict) throw;
      found = e.found();
      damaged = e.path();
    }
    auto any = torch::tensor({found.empty() ? 0 : 1}, torch::kInt32);
    run.comm->allreduce(any, ReduceOp::Max)->wait();  // every rank has finished reading
    if (any.item<int>() == 0) return true;
    if (!found.empty()) {
      const auto aside = run.root() ? move_aside(damaged) : std::string();
      log::warn("{} | {}{}; the stage runs again (output.strict = false)", stage.name, found,
                aside.empty() ? "" : fmt::format("; moved aside to '{}'", aside));
    }
    if (run.root()) move_aside(manifest);  // kept as the record of what was there
    run.barrier();
  }
  if (!resume && !stage.checkpoint.empty()) {
    // A fresh start: rank 0 removes the old checkpoint before any rank can read it.
    if (run.root()) std::filesystem::remove(stage.checkpoint);
    run.barrier();
  }
  steps.compute();
  if (run.root()) {
    if (steps.save) steps.save();
    Manifest m;
    m.stage = stage.name;
    m.key = stage.key;
    m.complete = true;
    save_manifest(manifest, m);
  }
  return false;
}

}  // namespace hardy
