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

void check_batch(const SequenceBatch& batch, const std::array<std::int64_t, 3>& dims) {
  const auto& real = batch.real;
  HARDY_THROW_IF_NOT_MSG(real.defined() && real.dim() == 2 &&
                             real.scalar_type() == torch::kBool,
                         "batch.real must be a bool [B, T] tensor, got {}", shape_of(real));
  const std::int64_t b = real.size(0), t = real.size(1);
  HARDY_THROW_IF_NOT_MSG(batch.available.defined() &&
                             batch.available.scalar_type() == torch::kBool &&
                             batch.available.sizes() == torch::IntArrayRef({b, t, 3}),
                         "batch.available must be a bool [{}, {}, 3] tensor, got {}", b, t,
                         shape_of(batch.available));
  for (int m = 0; m < 3; ++m) {
    const auto& x = batch.x[m];
    HARDY_THROW_IF_NOT_MSG(x.defined() && x.sizes() == torch::IntArrayRef({b, t, dims[m]}),
                           "batch {} features must be [{}, {}, {}] (B, T, D from the "
                           "model options), got {}",
                           ModalitySet::standard().name(m), b, t, dims[m], shape_of(x));
  }
}

std::array<bool, 3> parse_condition(const std::string& condition) {
  const auto keep = ModalitySet::standard().parse_condition(condition);
  return {keep[0], keep[1], keep[2]};
}

std::string condition_name(const std::array<bool, 3>& keep) {
  return ModalitySet::standard().condition_name({keep[0], keep[1], keep[2]});
}

SequenceBatch apply_condition(const SequenceBatch& batch, const std::array<bool, 3>& keep) {
  SequenceBatch out = batch;
  out.available = batch.available.clone();
  for (int m = 0; m < 3; ++m) {
    if (keep[m]) continue;
    out.x[m] = torch::zeros_like(batch.x[m]);
    out.available.select(-1, m).fill_(false);
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
