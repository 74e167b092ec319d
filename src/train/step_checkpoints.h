// Mid-epoch (step) checkpoints and agreed stops for the teacher's and the students'
// training loops (docs/operations.md, "Checkpoints" and "Signals").
//
// After every global batch the ranks of the fold's group agree, with one two-value
// allreduce (nothing to exchange on one process), on two things: whether a step
// checkpoint is due (rank 0's clock: output.checkpoint_minutes since this stage's last
// checkpoint), and whether the run must stop (any rank received SIGTERM or SIGUSR1,
// core/stop_request.h). Signals reach ranks at different moments; the allreduce makes
// every rank stop after the same batch. A stop writes a step checkpoint first, then
// throws StopRequested on every rank.
//
// A step checkpoint is the stage's epoch checkpoint file with `step` > 0: the batches
// done in the current epoch, the random generator states and the epoch's running
// loss. Resuming replays the epoch's batch order (drawn from the seed), skips the
// batches done and continues bit for bit (dropout 0; with dropout, the generator
// states carry the draws too).
#pragma once

#include "train/checkpoint.h"
#include "train/data_parallel.h"
#include "train/fold_context.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace hardy {

// Collective over the fold's group: load_checkpoint (train/checkpoint.h) on every
// rank. A checkpoint that no rank can use (corrupt, truncated, not matching the
// model) is moved aside by rank 0 to <path>.corrupt with a warning saying what was
// found, and the stage starts over (nullopt, the module and optimizer untouched);
// with output.strict the RunFileError stops the run. Ranks that disagree (some can
// read it, some cannot) are an error: output.dir must be one shared directory.
std::optional<CheckpointState> load_stage_checkpoint(const FoldContext& ctx, const std::string& path,
                                                     torch::nn::Module& module, torch::optim::Optimizer& optimizer,
                                                     const std::string& what);

class StepCheckpoints {
 public:
  // `what` names the stage in log lines ("fold 0 | teacher").
  StepCheckpoints(const FoldContext& ctx, std::string what);

  // Collective over the fold's group, after global batch `batch` (0-based) of
  // `epoch`: writes a step checkpoint with `save` when one is due or the run stops
  // (`save` gets the state to complete and write: epoch, step = batch + 1, running
  // loss and generator states filled in), then throws StopRequested if stopping.
  void after_batch(std::int64_t epoch, std::int64_t batch, DataParallel& parallel,
                   const std::function<void(CheckpointState&)>& save);

  // An epoch checkpoint was written: the clock restarts.
  void saved() { last_ = Clock::now(); }

  // On resume from `state` (after seed_epoch of state.epoch): when it is a step
  // checkpoint, restores the generator states and the running loss and logs where
  // the epoch resumes. Returns the number of batches of state.epoch to skip.
  std::int64_t resume(const CheckpointState& state, DataParallel& parallel) const;

 private:
  using Clock = std::chrono::steady_clock;
  const FoldContext& ctx_;
  std::string what_;
  Clock::time_point last_ = Clock::now();
};

}  // namespace hardy
