#include "train/stage_runner.h"

#include "train/manifest.h"

#include <filesystem>

namespace hardy {

bool run_stage(const RunScope& run, const StageRun& stage, bool resume, const StageSteps& steps) {
  const std::string manifest = stage.dir + "/" + stage.name + ".json";
  // Rank 0 reads the manifest and decides for everyone.
  if (run.agree(run.root() && resume && manifest_matches(manifest, stage.key))) {
    if (steps.load) steps.load();
    return true;
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
