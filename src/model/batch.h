// A batch of utterance sequences as every network in src/model consumes it, and
// the missing-modality condition applied to it (docs/algorithm.md, "Notation").
#pragma once

#include "core/modality.h"
#include "model/options.h"

#include <torch/torch.h>

#include <cstdint>
#include <string>

namespace hardy {

// Modality order everywhere in src/model: the corpus's (ModelOptions::modalities);
// audio (0), text (1), visual (2) for a format_version 1 corpus. M = their count.
struct SequenceBatch {
  PerModality<torch::Tensor> x;  // float32 [B, T, D_m] per modality; zeros where missing or padding
  torch::Tensor real;            // bool [B, T]; true = real utterance, false = padding
  torch::Tensor available;       // bool [B, T, M]; modality m present (after the condition)
  torch::Tensor label;           // [B, T] int64 class or float32 score, or float32 [B, T, targets]; ignored at padding
};

// Throws hardy::Error unless the batch is consistently shaped for `options`: x[m] is
// [B, T, dims[m]] for each of the M modalities, real is bool [B, T], available is
// bool [B, T, M] (label is not checked: losses do).
void check_batch(const SequenceBatch& batch, const ModelOptions& options);

// The batch as seen under a condition (`keep`, one flag per modality, from
// ModalitySet::parse_condition): the features of every dropped modality are zeroed
// and its `available` flags cleared. Kept modalities keep their availability (a
// modality missing in the corpus stays missing). The input batch is not modified;
// tensors of kept modalities are shared, not copied.
SequenceBatch apply_condition(const SequenceBatch& batch, const std::vector<bool>& keep);

}  // namespace hardy
