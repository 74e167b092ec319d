#include "model/losses.h"

#include "core/error.h"

#include <fmt/ranges.h>

namespace hardy {

namespace {

void check_real(const torch::Tensor& real, const char* what) {
  HARDY_THROW_IF_NOT_MSG(real.defined() && real.dim() == 2 && real.scalar_type() == torch::kBool,
                         "{}: `real` must be a bool [B, T] tensor", what);
}

void check_bt(const torch::Tensor& t, const torch::Tensor& real, const char* what,
              const char* name) {
  HARDY_THROW_IF_NOT_MSG(t.defined() && t.dim() >= 2 && t.size(0) == real.size(0) &&
                             t.size(1) == real.size(1),
                         "{}: {} must start with the batch shape [{}, {}] of `real`, got {}",
                         what, name, real.size(0), real.size(1),
                         t.defined() ? fmt::format("{}", t.sizes().vec()) : "undefined");
}

// sum(value where real) / max(#real, 1): the mean over real utterances, 0 without any.
torch::Tensor mean_over_real(const torch::Tensor& value, const torch::Tensor& real) {
  auto total = value.masked_fill(~real, 0.0).sum();
  return total / real.sum().clamp_min(1).to(value.dtype());
}

}  // namespace

torch::Tensor masked_cross_entropy(const torch::Tensor& logits, const torch::Tensor& label,
                                   const torch::Tensor& real, const torch::Tensor& class_weights) {
  check_real(real, "masked_cross_entropy");
  check_bt(logits, real, "masked_cross_entropy", "logits");
  check_bt(label, real, "masked_cross_entropy", "label");
  HARDY_THROW_IF_NOT_MSG(logits.dim() == 3 && label.dim() == 2 &&
                             label.scalar_type() == torch::kLong,
                         "masked_cross_entropy expects logits [B, T, C] and int64 labels "
                         "[B, T]; for sentiment scores use masked_mse");
  const auto classes = logits.size(-1);
  // Padding labels are arbitrary: replace them by a valid index before gathering.
  auto safe = label.masked_fill(~real, 0);
  HARDY_THROW_IF_NOT_MSG(!((safe < 0) | (safe >= classes)).any().item<bool>(),
                         "a label is outside [0, {}): check the corpus' class count against "
                         "the model's outputs",
                         classes);
  // Padding logits are zeroed first so that NaN there cannot reach the gradient.
  auto clean = logits.masked_fill(~real.unsqueeze(-1), 0.0);
  auto nll = -torch::log_softmax(clean, -1).gather(-1, safe.unsqueeze(-1)).squeeze(-1);
  if (class_weights.defined()) {
    HARDY_THROW_IF_NOT_MSG(class_weights.dim() == 1 && class_weights.size(0) == classes,
                           "masked_cross_entropy: {} class weights for {} classes", class_weights.numel(), classes);
    nll = nll * class_weights.to(nll.device(), nll.scalar_type()).index_select(0, safe.reshape({-1})).view_as(nll);
  }
  return mean_over_real(nll, real);
}

torch::Tensor masked_mse(const torch::Tensor& prediction, const torch::Tensor& target,
                         const torch::Tensor& real) {
  check_real(real, "masked_mse");
  check_bt(prediction, real, "masked_mse", "prediction");
  check_bt(target, real, "masked_mse", "target");
  if (target.dim() == 3) {  // regression: [B, T, K] against [B, T, K]
    HARDY_THROW_IF_NOT_MSG(prediction.dim() == 3 && prediction.size(-1) == target.size(-1),
                           "masked_mse: predictions {} for targets {}: the model needs one output per target",
                           prediction.sizes().vec(), target.sizes().vec());
    auto error = (prediction - target.to(prediction.dtype())).masked_fill(~real.unsqueeze(-1), 0.0).pow(2).mean(-1);
    return mean_over_real(error, real);
  }
  auto pred = prediction;
  if (pred.dim() == 3 && pred.size(-1) == 1) pred = pred.squeeze(-1);
  HARDY_THROW_IF_NOT_MSG(pred.dim() == 2 && target.dim() == 2,
                         "masked_mse expects predictions [B, T] or [B, T, 1] and targets "
                         "[B, T]; a model for sentiment regression needs outputs = 1");
  auto error = (pred - target.to(pred.dtype())).masked_fill(~real, 0.0).pow(2);
  return mean_over_real(error, real);
}

torch::Tensor ccc_statistics(const torch::Tensor& prediction, const torch::Tensor& target,
                             const torch::Tensor& real) {
  check_real(real, "ccc_statistics");
  check_bt(prediction, real, "ccc_statistics", "prediction");
  check_bt(target, real, "ccc_statistics", "target");
  HARDY_THROW_IF_NOT_MSG(prediction.dim() == 3 && target.dim() == 3 && prediction.size(-1) == target.size(-1),
                         "ccc_statistics expects predictions and targets [B, T, K], got {} and {}",
                         prediction.sizes().vec(), target.sizes().vec());
  auto mask = real.unsqueeze(-1).to(torch::kFloat64);
  // Padding is zeroed before the products, so NaN there cannot reach the gradient.
  auto p = prediction.to(torch::kFloat64).masked_fill(~real.unsqueeze(-1), 0.0).reshape({-1, prediction.size(-1)});
  auto y = target.to(prediction.device(), torch::kFloat64).masked_fill(~real.unsqueeze(-1), 0.0).reshape({-1, target.size(-1)});
  auto n = mask.expand_as(prediction).reshape({-1, prediction.size(-1)}).sum(0);
  return torch::stack({n, p.sum(0), y.sum(0), (p * p).sum(0), (y * y).sum(0), (p * y).sum(0)});
}

torch::Tensor ccc_from_statistics(const torch::Tensor& statistics) {
  HARDY_THROW_IF_NOT_MSG(statistics.dim() == 2 && statistics.size(0) == 6,
                         "ccc_from_statistics expects [6, K] statistics, got {}", statistics.sizes().vec());
  auto n = statistics[0].clamp_min(1.0);
  auto mean_p = statistics[1] / n, mean_y = statistics[2] / n;
  auto var_p = statistics[3] / n - mean_p * mean_p, var_y = statistics[4] / n - mean_y * mean_y;
  auto cov = statistics[5] / n - mean_p * mean_y;
  auto denominator = (var_p + var_y + (mean_p - mean_y).pow(2)).clamp_min(1e-12);
  return 2.0 * cov / denominator;
}

torch::Tensor task_loss(const torch::Tensor& logits, const torch::Tensor& label,
                        const torch::Tensor& real, bool sentiment, const torch::Tensor& class_weights) {
  return sentiment ? masked_mse(logits, label, real) : masked_cross_entropy(logits, label, real, class_weights);
}

torch::Tensor inverse_frequency_weights(const torch::Tensor& counts) {
  auto n = counts.to(torch::kFloat64);
  const auto present = (n > 0).sum().item<std::int64_t>();
  HARDY_THROW_IF_NOT_MSG(present > 0, "class weights: no training label at all");
  auto w = n.sum() / (static_cast<double>(present) * n.clamp_min(1));
  return torch::where(n > 0, w, torch::zeros_like(w)).to(torch::kFloat32);
}

torch::Tensor per_utterance_reconstruction_error(const PerModality<torch::Tensor>& reconstruction,
                                                 const PerModality<torch::Tensor>& x,
                                                 const torch::Tensor& available,
                                                 const torch::Tensor& real) {
  static constexpr const char* kWhat = "reconstruction error";
  check_real(real, kWhat);
  check_bt(available, real, kWhat, "available");
  const auto modalities = static_cast<std::int64_t>(x.size());
  HARDY_THROW_IF_NOT_MSG(reconstruction.size() == x.size() && available.dim() == 3 &&
                             available.size(2) == modalities && available.scalar_type() == torch::kBool,
                         "{}: available must be a bool [B, T, M] tensor and there must be one "
                         "reconstruction per modality (M = {}, {} reconstructions)",
                         kWhat, modalities, reconstruction.size());
  torch::Tensor error_sum, missing_count;
  for (std::size_t m = 0; m < x.size(); ++m) {
    check_bt(reconstruction[m], real, kWhat, "a reconstruction");
    HARDY_THROW_IF_NOT_MSG(reconstruction[m].sizes() == x[m].sizes(),
                           "{}: modality {} reconstruction {} and true features {} differ in "
                           "shape",
                           kWhat, m, fmt::format("{}", reconstruction[m].sizes().vec()),
                           fmt::format("{}", x[m].sizes().vec()));
    auto missing = real & ~available.select(-1, static_cast<std::int64_t>(m));
    // Mask the difference, not the error: values elsewhere (NaN included) then reach
    // neither the result nor the gradient.
    auto error = (reconstruction[m] - x[m].to(reconstruction[m].dtype()))
                     .masked_fill(~missing.unsqueeze(-1), 0.0)
                     .pow(2)
                     .mean(-1);
    error_sum = m == 0 ? error : error_sum + error;
    missing_count = m == 0 ? missing.to(error.dtype()) : missing_count + missing.to(error.dtype());
  }
  return error_sum / missing_count.clamp_min(1);
}

torch::Tensor reconstruction_loss(const PerModality<torch::Tensor>& reconstruction,
                                  const PerModality<torch::Tensor>& x,
                                  const torch::Tensor& available, const torch::Tensor& real) {
  return mean_over_real(per_utterance_reconstruction_error(reconstruction, x, available, real),
                        real);
}

torch::Tensor mi_loss(const torch::Tensor& mi, const torch::Tensor& real) {
  return -indirect_hardness(mi, real).sum() / static_cast<double>(mi.size(2));
}

torch::Tensor indirect_hardness(const torch::Tensor& mi, const torch::Tensor& real) {
  check_real(real, "indirect_hardness");
  check_bt(mi, real, "indirect_hardness", "mi");
  HARDY_THROW_IF_NOT_MSG(mi.dim() == 3 && mi.size(2) >= 1,
                         "indirect_hardness: mi must be [B, T, pairs] (pairs of modalities: at, av, tv for three)");
  return mi.masked_fill(~real.unsqueeze(-1), 0.0).sum(-1);
}

}  // namespace hardy
