// A batch of utterance sequences as every network in src/model consumes it, and
// the missing-modality condition applied to it (docs/algorithm.md, "Notation").
#pragma once

#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <string>

namespace hardy {

// Modality order everywhere in src/model: audio (0), text (1), visual (2).
struct SequenceBatch {
  std::array<torch::Tensor, 3> x;  // float32 [B, T, D_m]; zeros where missing or padding
  torch::Tensor real;              // bool [B, T]; true = real utterance, false = padding
  torch::Tensor available;         // bool [B, T, 3]; modality m present (after the condition)
  torch::Tensor label;             // [B, T] int64 class or float32 score; ignored at padding
};

// Throws hardy::Error unless the batch is consistently shaped: x[m] is [B, T, dims[m]],
// real is bool [B, T], available is bool [B, T, 3] (label is not checked: losses do).
void check_batch(const SequenceBatch& batch, const std::array<std::int64_t, 3>& dims);

// Parses a missing-modality condition: "a", "t", "v", "at", "av", "tv" or "atv"
// (the available modalities, in a-t-v order). Anything else throws hardy::Error.
std::array<bool, 3> parse_condition(const std::string& condition);

// The inverse of parse_condition: {true, false, true} -> "av".
std::string condition_name(const std::array<bool, 3>& keep);

// The batch as seen under a condition: the features of every dropped modality are
// zeroed and its `available` flags cleared. Kept modalities keep their availability
// (a modality missing in the corpus stays missing). The input batch is not modified;
// tensors of kept modalities are shared, not copied.
SequenceBatch apply_condition(const SequenceBatch& batch, const std::array<bool, 3>& keep);

}  // namespace hardy
