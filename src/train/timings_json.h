// <output.dir>/timings.json: where each stage's time went (bench/README.md's
// per-step split, read by bench/train_scaling.sh).
#pragma once

#include "train/loop.h"

#include <cstdint>
#include <map>
#include <string>

namespace hardy {

// The file's text: {"ranks": P, "stages": {"<stage>": {"data_s", "compute_s",
// "grad_sync_s", "exchange_s" (seconds), "steps" (an integer)}, ...}}, stages in name
// order. `times` are already combined over ranks (the pipeline takes the maximum).
std::string timings_json(std::int64_t ranks, const std::map<std::string, StageTimes>& times);

}  // namespace hardy
