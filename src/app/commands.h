// The hardy_dist commands. Each takes the effective configuration (defaults <
// --config file < --set < command flags) and the process group, and returns the
// process exit code.
#pragma once

#include "core/config.h"
#include "dist/communicator.h"

#include <memory>
#include <string>

namespace hardy::app {

// Exit codes, documented in `hardy_dist --help`.
constexpr int kExitOk = 0;
constexpr int kExitDefects = 1;  // validate found defects
constexpr int kExitError = 2;    // bad usage, bad config, unreadable input

struct Context {
  Config config;
  std::shared_ptr<Communicator> comm;  // size 1 when not launched by mpirun/srun
  int rank() const { return comm->rank(); }
  int world() const { return comm->size(); }
};

int cmd_train(const Context& ctx);
// Every (row, seed) run in <output.dir>/<row>/seed<s>, then ablation.md/.csv/.json.
int cmd_ablate(const Context& ctx);
// PNG figures of output.dir (a run or an ablation) in <output.dir>/plots.
int cmd_plot(const Context& ctx);
int cmd_synth(const Context& ctx);
int cmd_validate(const Context& ctx);
int cmd_inspect(const Context& ctx, std::int64_t plan_ranks);
int cmd_config(const Context& ctx, bool reference);
int cmd_version();
int cmd_env(const Context& ctx);

}  // namespace hardy::app
