#include "train/step_checkpoints.h"

#include "core/error.h"
#include "core/log.h"
#include "core/stop_request.h"
#include "train/file_io.h"
#include "train/run_file_error.h"

#include <ATen/Context.h>

#include <mutex>

namespace hardy {

namespace {

// The default generators a stage draws from: the CPU one, and the device's.
std::vector<at::Generator> generators(const torch::Device& device) {
  std::vector<at::Generator> out{at::globalContext().defaultGenerator(torch::kCPU)};
  if (!device.is_cpu()) out.push_back(at::globalContext().defaultGenerator(device));
  return out;
}

std::string generator_key(std::size_t i) { return i == 0 ? "rng/cpu" : "rng/device"; }

}  // namespace

std::optional<CheckpointState> load_stage_checkpoint(const FoldContext& ctx, const std::string& path,
                                                     torch::nn::Module& module, torch::optim::Optimizer& optimizer,
                                                     const std::string& what) {
  std::optional<CheckpointState> state;
  std::string found;
  try {
    state = load_checkpoint(path, module, optimizer);
  } catch (const RunFileError& e) {
    if (ctx.settings.strict) throw;
    found = e.found();
  }
  auto failed = torch::tensor({found.empty() ? 0 : 1}, torch::kInt64);
  ctx.comm->allreduce(failed, ReduceOp::Sum)->wait();  // every rank has finished reading
  const auto n = failed.item<std::int64_t>();
  if (n == 0) return state;
  HARDY_THROW_IF_NOT_MSG(n == ctx.comm->size(),
                         "{}: {} of {} ranks cannot use checkpoint '{}'{}. Every rank reads rank 0's files: put "
                         "output.dir on a filesystem all ranks share",
                         what, n, ctx.comm->size(), path, found.empty() ? "" : " (this rank: " + found + ")");
  if (ctx.writes_files()) {
    const auto aside = move_aside(path);
    log::warn("{} | {}; moved aside to '{}', the stage starts over (output.strict = false)", what, found, aside);
  }
  return std::nullopt;
}

StepCheckpoints::StepCheckpoints(const FoldContext& ctx, std::string what) : ctx_(ctx), what_(std::move(what)) {}

void StepCheckpoints::after_batch(std::int64_t epoch, std::int64_t batch, DataParallel& parallel,
                                  const std::function<void(CheckpointState&)>& save) {
  const double minutes = ctx_.settings.checkpoint_minutes;
  const bool due = ctx_.rank() == 0 && minutes > 0 &&
                   std::chrono::duration<double>(Clock::now() - last_).count() >= minutes * 60.0;
  auto flags = torch::tensor({due ? 1 : 0, stop_requested() ? 1 : 0}, torch::kInt32);
  ctx_.comm->allreduce(flags, ReduceOp::Max)->wait();
  const bool checkpoint = flags[0].item<int>() != 0, stop = flags[1].item<int>() != 0;
  if (!checkpoint && !stop) return;

  CheckpointState state;
  state.epoch = epoch;
  state.step = batch + 1;
  state.extra["running_loss"] = parallel.running_loss();  // collective
  auto gens = generators(ctx_.settings.device);
  for (std::size_t i = 0; i < gens.size(); ++i) {
    std::lock_guard<std::mutex> lock(gens[i].mutex());
    state.extra[generator_key(i)] = gens[i].get_state();
  }
  save(state);
  // Stopping: no rank may exit (and have the launcher kill the others) before rank 0
  // has written the checkpoint.
  if (stop) ctx_.comm->barrier();
  last_ = Clock::now();
  log::debug("{} | step checkpoint after batch {} of epoch {}", what_, state.step, epoch + 1);
  if (!stop) return;
  const auto reason = stop_requested() ? stop_reason() : "another rank's signal";
  log::info("{} | stopping on {}: saved after batch {} of epoch {}; re-run the same command to resume", what_,
            reason, state.step, epoch + 1);
  throw StopRequested(fmt::format("{} | stopped on {} after batch {} of epoch {}", what_, reason, state.step,
                                  epoch + 1));
}

std::int64_t StepCheckpoints::resume(const CheckpointState& state, DataParallel& parallel) const {
  if (state.step == 0) return 0;
  HARDY_THROW_IF_NOT_MSG(state.extra.count("running_loss") && state.extra.count(generator_key(0)),
                         "{}: the step checkpoint (epoch {}, batch {}) lacks its running loss or generator state",
                         what_, state.epoch + 1, state.step);
  parallel.resume_running_loss(state.extra.at("running_loss"));
  auto gens = generators(ctx_.settings.device);
  for (std::size_t i = 0; i < gens.size(); ++i) {
    auto it = state.extra.find(generator_key(i));
    if (it == state.extra.end()) continue;  // written on another kind of device
    std::lock_guard<std::mutex> lock(gens[i].mutex());
    gens[i].set_state(it->second.to(torch::kCPU));
  }
  log::info("{} | resuming epoch {} after batch {} (step checkpoint)", what_, state.epoch + 1, state.step);
  return state.step;
}

}  // namespace hardy
