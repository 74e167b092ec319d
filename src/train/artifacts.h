// A stage's artifacts on disk: named tensors and LibTorch modules in torch
// archives, written atomically by rank 0 and read by every rank, always to the CPU
// (a caller moves what it needs to its own device, so a run started on a GPU
// resumes on a CPU and the reverse). Curricula and hardness scores have one tensor
// layout each, defined here and nowhere else.
#pragma once

#include "retrieval/curriculum.h"
#include "train/hardness_stage.h"

#include <torch/torch.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace hardy {

using TensorMap = std::map<std::string, torch::Tensor>;

// Named tensors in one file (moved to the CPU first), written atomically.
void save_tensors(const std::string& path, const TensorMap& tensors);
// The tensors `names` of the file, on the CPU; RunFileError naming the file if it is
// missing, corrupt or lacks one of them (as load_module).
TensorMap load_tensors(const std::string& path, const std::vector<std::string>& names);
// The same, plus each of `optional` the file holds (absent from the map otherwise:
// files written before that tensor existed).
TensorMap load_tensors(const std::string& path, const std::vector<std::string>& names,
                       const std::vector<std::string>& optional);

// Throws RunFileError unless `path` opens as a torch archive (it exists and is neither
// truncated nor garbage); `what` names it ("artifact", "model").
void check_archive(const std::string& path, const char* what);

// A module's parameters and buffers, written atomically / read into `module` (on
// the CPU; the caller moves the module to its device afterwards).
void save_module(const std::string& path, torch::nn::Module& module);
void load_module(const std::string& path, torch::nn::Module& module);

// Curriculum <-> {"query", "hardness", "size", "candidates", "support", "distance"}.
TensorMap curriculum_to_tensors(const Curriculum& c);
Curriculum curriculum_from_tensors(const TensorMap& t);
const std::vector<std::string>& curriculum_tensor_names();
// `f` applied to every per-query tensor of `c`, field by field (gathering, selecting).
Curriculum map_curriculum(const Curriculum& c, const std::function<torch::Tensor(const torch::Tensor&)>& f);

// HardnessScores <-> {"rows", "direct_<c>", "indirect_<c>", "unified_<c>"} for the
// given conditions.
TensorMap hardness_to_tensors(const HardnessScores& h, const std::vector<std::string>& conditions);
HardnessScores hardness_from_tensors(const TensorMap& t, const std::vector<std::string>& conditions);
std::vector<std::string> hardness_tensor_names(const std::vector<std::string>& conditions);
// `f` applied to every per-row tensor of the scores (rows, and each condition's three).
HardnessScores map_hardness(const HardnessScores& h, const std::vector<std::string>& conditions,
                            const std::function<torch::Tensor(const torch::Tensor&)>& f);

}  // namespace hardy
