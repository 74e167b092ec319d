// Epoch checkpoints: module, optimizer and progress of a training stage in one file,
// so an interrupted stage resumes at the epoch where it stopped, bit for bit.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace hardy {

// What a checkpoint carries besides the module and optimizer.
struct CheckpointState {
  std::int64_t epoch = 0;  // epochs finished
  // Global batches finished of epoch `epoch` (0: at its start). A step checkpoint
  // (train/step_checkpoints.h) has step > 0; checkpoints without the field read as 0.
  std::int64_t step = 0;
  std::map<std::string, torch::Tensor> extra;  // e.g. metric history, any names
};

// Module parameters and buffers, optimizer state, epoch and extra tensors, in one
// torch archive written atomically.
void save_checkpoint(const std::string& path, torch::nn::Module& module,
                     torch::optim::Optimizer& optimizer, const CheckpointState& state);

// Loads into `module` and `optimizer` and returns the state (extra tensors on the
// module's device); nullopt if the file does not exist. RunFileError
// (train/run_file_error.h) naming the file if it is corrupt or its parameters do not
// match the module's names and shapes; the module is left untouched in that case.
std::optional<CheckpointState> load_checkpoint(const std::string& path,
                                               torch::nn::Module& module,
                                               torch::optim::Optimizer& optimizer);

}  // namespace hardy
