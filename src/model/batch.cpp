#include "model/batch.h"

#include "core/error.h"
#include "core/modality.h"
#include "model/attention_mask.h"

#include <fmt/ranges.h>

namespace hardy {

namespace {

std::string shape_of(const torch::Tensor& t) {
  return t.defined() ? fmt::format("{}", t.sizes().vec()) : std::string("undefined");
}
}  // namespace

void check_batch(const SequenceBatch& batch, const ModelOptions& options) {
  const auto& real = batch.real;
  const auto modalities = static_cast<std::int64_t>(modality_count(options));
  HARDY_THROW_IF_NOT_MSG(real.defined() && real.dim() == 2 &&
                             real.scalar_type() == torch::kBool,
                         "batch.real must be a bool [B, T] tensor, got {}", shape_of(real));
  const std::int64_t b = real.size(0), t = real.size(1);
  HARDY_THROW_IF_NOT_MSG(batch.available.defined() &&
                             batch.available.scalar_type() == torch::kBool &&
                             batch.available.sizes() == torch::IntArrayRef({b, t, modalities}),
                         "batch.available must be a bool [{}, {}, {}] tensor, got {}", b, t, modalities,
                         shape_of(batch.available));
  HARDY_THROW_IF_NOT_MSG(batch.x.size() == static_cast<std::size_t>(modalities),
                         "the batch has {} feature tensors for the {} modalities {}", batch.x.size(),
                         modalities, options.modalities.describe());
  for (int m = 0; m < modalities; ++m) {
    const auto& x = batch.x[static_cast<std::size_t>(m)];
    const auto dim = options.dims[static_cast<std::size_t>(m)];
    HARDY_THROW_IF_NOT_MSG(x.defined() && x.sizes() == torch::IntArrayRef({b, t, dim}),
                           "batch {} features must be [{}, {}, {}] (B, T, D from the "
                           "model options), got {}",
                           options.modalities.name(m), b, t, dim, shape_of(x));
  }
}

SequenceBatch apply_condition(const SequenceBatch& batch, const std::vector<bool>& keep) {
  HARDY_THROW_IF_NOT_MSG(keep.size() == batch.x.size(), "a condition of {} modalities for a batch of {}",
                         keep.size(), batch.x.size());
  SequenceBatch out = batch;
  out.available = batch.available.clone();
  for (std::size_t m = 0; m < keep.size(); ++m) {
    if (keep[m]) continue;
    out.x[m] = torch::zeros_like(batch.x[m]);
    out.available.select(-1, static_cast<std::int64_t>(m)).fill_(false);
  }
  return out;
}

torch::Tensor modality_key_padding_mask(const torch::Tensor& real,
                                        const torch::Tensor& available, int modality) {
  auto mask = ~(real & available.select(-1, modality));
  // Rows where every key is masked fall back to "ignore padding only" ...
  auto all_masked = mask.all(/*dim=*/1, /*keepdim=*/true);
  mask = torch::where(all_masked, ~real, mask);
  // ... and rows without any real utterance to "ignore nothing".
  all_masked = mask.all(/*dim=*/1, /*keepdim=*/true);
  return mask & ~all_masked;
}

}  // namespace hardy
