// Sizes of the HARDY-MER networks (docs/algorithm.md §1.1, §3). Defaults are the
// authors' student settings: hidden 256, depth 4, heads 2, dropout 0.5.
#pragma once

#include "core/modality.h"

#include <cstdint>
#include <vector>

namespace hardy {

struct ModelOptions {
  ModalitySet modalities = ModalitySet::standard();  // the corpus's modalities, in its order
  std::vector<std::int64_t> dims;      // input width D_m of each modality, in that order
  std::int64_t hidden = 256;           // h: width of every modality representation z^m
  std::int64_t depth = 4;              // Transformer encoder layers per modality
  std::int64_t heads = 2;              // attention heads (must divide hidden)
  std::int64_t ff_hidden = 1024;       // Transformer feed-forward width
  double dropout = 0.5;
  std::int64_t decoder_hidden = 1024;  // reconstruction decoder's hidden width
  std::int64_t outputs = 0;            // classes, or 1 for sentiment regression
};

// Throws hardy::Error naming the offending field when the options cannot build a
// network (non-positive sizes, heads not dividing hidden, dropout outside [0, 1)).
void validate(const ModelOptions& options);

// M, the number of modalities.
inline int modality_count(const ModelOptions& options) { return options.modalities.size(); }

}  // namespace hardy
