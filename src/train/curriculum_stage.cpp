#include "train/curriculum_stage.h"

#include "core/error.h"
#include "core/log.h"
#include "retrieval/local_retrieval.h"
#include "retrieval/sharded_retrieval.h"
#include "train/loop.h"

#include <fmt/ranges.h>

namespace hardy {

std::map<std::string, Curriculum> build_curricula(const FoldContext& ctx,
                                                  const PerModality<torch::Tensor>& features,
                                                  const HardnessScores& hardness) {
  const auto& s = ctx.settings;
  PerModality<torch::Tensor> train_features;
  for (const auto& f : features) train_features.push_back(f.index_select(0, hardness.rows));
  auto ids = ctx.global_ids(hardness.rows);
  std::unique_ptr<RetrievalBackend> backend;
  // One rank searches its FAISS indexes directly (no collective bookkeeping).
  if (ctx.holds_everything())
    backend = std::make_unique<LocalRetrieval>(train_features, ids, s.index);
  else
    backend = std::make_unique<ShardedRetrieval>(ctx.comm, train_features, ids, s.index);
  std::map<std::string, Curriculum> curricula;
  for (const auto& name : s.conditions) {
    curricula[name] = build_curriculum(*backend, train_features, ids, hardness.unified.at(name),
                                       s.model.modalities.parse_condition(name), s.curriculum);
    auto histogram = torch::tensor(curriculum_size_histogram(curricula[name]), torch::kInt64);
    ctx.comm->allreduce(histogram, ReduceOp::Sum)->wait();
    log::info("{} | curriculum {} | {} queries, K_q histogram [{}]", ctx.plan.name, name,
                 histogram.sum().item<std::int64_t>(),
                 fmt::join(std::vector<std::int64_t>(histogram.data_ptr<std::int64_t>(),
                                                     histogram.data_ptr<std::int64_t>() + histogram.numel()),
                           ", "));
  }
  return curricula;
}

}  // namespace hardy
