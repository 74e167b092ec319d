// Small batches and options shared by the src/model tests.
#pragma once

#include "model/batch.h"
#include "model/options.h"

#include <torch/torch.h>

namespace hardy::testing {

inline ModelOptions tiny_options(std::int64_t outputs = 4, double dropout = 0.1) {
  ModelOptions o;
  o.dims = {6, 5, 4};
  o.hidden = 8;
  o.depth = 2;
  o.heads = 2;
  o.ff_hidden = 16;
  o.dropout = dropout;
  o.decoder_hidden = 12;
  o.outputs = outputs;
  return o;
}

// B = 2, T = 5: sequence 0 has 5 real utterances, sequence 1 has 3 then 2 padding
// rows. Utterance (0, 1) lacks audio, (0, 3) lacks text and visual, (1, 2) lacks
// visual. Features are random where present and zero where missing or padding.
inline SequenceBatch toy_batch(const ModelOptions& o) {
  const std::int64_t b = 2, t = 5;
  SequenceBatch batch;
  batch.real = torch::ones({b, t}, torch::kBool);
  batch.real.index_put_({1, torch::indexing::Slice(3, torch::indexing::None)}, false);
  batch.available = batch.real.unsqueeze(-1).repeat({1, 1, 3});
  batch.available.index_put_({0, 1, 0}, false);
  batch.available.index_put_({0, 3, 1}, false);
  batch.available.index_put_({0, 3, 2}, false);
  batch.available.index_put_({1, 2, 2}, false);
  batch.x.resize(3);
  for (int m = 0; m < 3; ++m) {
    auto present = batch.available.select(-1, m).unsqueeze(-1).to(torch::kFloat);
    batch.x[m] = torch::randn({b, t, o.dims[m]}) * present;
  }
  batch.label = torch::randint(0, o.outputs, {b, t}, torch::kLong);
  return batch;
}

}  // namespace hardy::testing
