#include "train/settings.h"

#include "core/error.h"
#include "dist/device.h"

#include <fmt/ranges.h>

namespace hardy {

namespace {

bool index_is_flat(const Config& c) { return c.string("retrieval.index") == "flat"; }

}  // namespace

TrainSettings TrainSettings::from(const Config& c, const CorpusMeta& meta) {
  TrainSettings s;
  s.task = meta.task;
  s.sentiment = meta.task == Task::Sentiment;
  s.regression = meta.task == Task::Regression;
  s.classes = meta.task == Task::Classification ? meta.classes : 0;
  s.targets = meta.targets;
  s.ccc_loss = c.string("training.regression_loss") == "ccc";
  s.model.modalities = meta.modalities;
  s.model.dims = meta.dims;
  s.model.hidden = c.integer("model.hidden");
  s.model.depth = c.integer("model.depth");
  s.model.heads = c.integer("model.heads");
  s.model.ff_hidden = c.integer("model.ff_hidden");
  s.model.dropout = c.real("model.dropout");
  s.model.decoder_hidden = c.integer("model.decoder_hidden");
  s.model.outputs = s.sentiment ? 1 : s.regression ? static_cast<std::int64_t>(meta.targets.size()) : meta.classes;

  s.finetune_features = c.boolean("training.finetune_features");
  s.finetune_epochs = c.integer("training.finetune_epochs");
  s.finetune_lr = c.real("training.finetune_lr");
  s.teacher_epochs = c.integer("training.teacher_epochs");
  s.teacher_stage1_epochs = c.integer("training.teacher_stage1_epochs");
  s.student_epochs = c.integer("training.student_epochs");
  s.student_stage1_epochs = c.integer("training.student_stage1_epochs");
  s.batch_size = c.integer("training.batch_size");
  s.lr = c.real("training.lr");
  s.weight_decay = c.real("training.weight_decay");
  s.lambda_mi = c.real("training.lambda_mi");
  s.support_label_own = c.string("training.support_label") == "own";
  s.merge_views = c.boolean("training.merge_views");
  s.inverse_frequency_weights =
      c.string("training.class_weights") == "inverse_frequency" && meta.task == Task::Classification;
  s.seed = static_cast<std::uint64_t>(c.integer("training.seed"));

  s.hardness.alpha = c.real("hardness.alpha");
  s.hardness.beta = c.real("hardness.beta");
  s.hardness.gamma = c.real("hardness.gamma");
  s.hardness.use_direct = c.boolean("hardness.use_direct_hardness");
  s.hardness.use_indirect = c.boolean("hardness.use_indirect_hardness");
  s.hardness.centered = c.boolean("hardness.centered");
  s.batch_normalization = c.string("hardness.normalization") == "batch";
  s.rank_normalization = c.string("hardness.normalization") == "rank";
  s.permute_hardness = c.boolean("hardness.permute");
  s.hardness_per_sequence = c.boolean("hardness.per_sequence");
  s.checkpoint_minutes = c.real("output.checkpoint_minutes");
  s.strict = c.boolean("output.strict");
  s.sync.bucket_mb = c.real("dist.bucket_mb");
  s.sync.first_bucket_mb = c.real("dist.first_bucket_mb");
  s.sync.overlap = c.boolean("dist.overlap");
  s.sync.bucket_view = c.boolean("dist.bucket_view");
  s.sync.grad_dtype = c.string("dist.grad_dtype") == "bfloat16" ? torch::kBFloat16 : torch::kFloat32;
  s.sync.checksum_every = c.integer("dist.checksum_every");
  s.sync.average = false;  // each rank's loss carries its share of the global batch

  s.retrieval = c.boolean("retrieval.enabled");
  s.curriculum.top_k = c.integer("retrieval.top_k");
  s.curriculum.k_min = c.integer("retrieval.k_min");
  s.curriculum.dynamic_k = c.boolean("retrieval.dynamic_k");
  s.random_supports = c.boolean("retrieval.random_supports");
  s.curriculum.query_batch = c.integer("retrieval.query_batch");
  s.index.resize(static_cast<std::size_t>(meta.modalities.size()));
  for (int m = 0; m < meta.modalities.size(); ++m) {
    auto& o = s.index[static_cast<std::size_t>(m)];
    const auto& name = meta.modalities.name(m);
    o.modality = name;
    const bool named = name == "audio" || name == "text" || name == "visual";
    o.metric = parse_metric(c.string(named ? "retrieval.metric_" + name : "retrieval.metric_other"));
    o.kind = parse_index_kind(c.string("retrieval.index"));
    o.ivf_nlist = c.integer("retrieval.ivf_nlist");
    o.ivf_nprobe = c.integer("retrieval.ivf_nprobe");
    o.hnsw_m = c.integer("retrieval.hnsw_m");
    o.hnsw_ef_search = c.integer("retrieval.hnsw_ef_search");
  }
  // Where each rank searches: its training device unless told otherwise; LibTorch's
  // exact search on CUDA (curricula identical to FAISS flat), FAISS on the CPU.
  const auto search_setting = c.string("retrieval.device");
  const auto search_device = resolve_device(search_setting == "auto" ? c.string("training.device") : search_setting);
  const auto engine_setting = c.string("retrieval.engine");
  const auto engine = engine_setting == "auto"
                          ? (search_device.is_cuda() && index_is_flat(c) ? SearchEngine::Torch : SearchEngine::Faiss)
                          : parse_search_engine(engine_setting);
  HARDY_THROW_IF_NOT_MSG(!search_device.is_cuda() || engine == SearchEngine::Torch,
                         "retrieval.device = cuda needs retrieval.engine = torch (or auto): FAISS "
                         "in this build searches on the CPU");
  for (auto& o : s.index) {
    o.engine = engine;
    o.device = engine == SearchEngine::Torch ? search_device : torch::Device(torch::kCPU);
  }
  s.conditions = c.strings("data.conditions");
  if (s.conditions.empty()) {
    s.conditions = meta.modalities.missing_conditions();
    s.conditions.push_back(meta.modalities.complete_condition());
  }
  for (const auto& condition : s.conditions) {
    try {
      meta.modalities.parse_condition(condition);
    } catch (const Error&) {
      HARDY_THROW_MSG("data.conditions = {}: '{}' is not a condition of this corpus, whose modalities are {}; "
                      "write conditions in their codes (e.g. \"{}\")",
                      fmt::format("{}", fmt::join(s.conditions, ",")), condition, meta.modalities.describe(),
                      meta.modalities.complete_condition());
    }
  }

  // The rank's device was chosen at start-up (dist/device.h): keep its index.
  s.device = resolve_device(c.string("training.device"));
  return s;
}

std::string TrainSettings::feature_key() const {
  // Class weights change every stage's loss; "none" leaves the keys as they were.
  // Likewise the regression loss; classification and sentiment keys are unchanged.
  return fmt::format("features:{}:{}:{}:{}:{}{}{}", finetune_features, finetune_epochs, finetune_lr,
                     seed, model.outputs, inverse_frequency_weights ? ":inverse_frequency" : "",
                     regression ? (ccc_loss ? ":ccc" : ":mse") : "");
}

std::string TrainSettings::teacher_key() const {
  return fmt::format("teacher:{}:{}:{}:{}:{}:{}:{}:{}:{}:{}:{}:{}:{}:{}:{}", feature_key(),
                     model.hidden, model.depth, model.heads, model.ff_hidden, model.dropout,
                     model.decoder_hidden, teacher_epochs, teacher_stage1_epochs, batch_size, lr,
                     weight_decay, lambda_mi, seed, fmt::join(conditions, ","));
}

std::string TrainSettings::hardness_key() const {
  return fmt::format("hardness:{}:{}:{}:{}:{}:{}:{}:{}:{}", teacher_key(), hardness.alpha,
                     hardness.beta, hardness.gamma, hardness.use_direct, hardness.use_indirect,
                     hardness.centered, batch_normalization, hardness_per_sequence) +
         (rank_normalization ? ":rank" : "");
}

std::string TrainSettings::curriculum_key() const {
  std::string index_text;
  for (const auto& o : index)
    index_text += fmt::format("{}/{}/{}/{}/{}/{};", static_cast<int>(o.metric),
                              static_cast<int>(o.kind), o.ivf_nlist, o.ivf_nprobe, o.hnsw_m,
                              o.hnsw_ef_search);
  // The controls (train/controls.h) leave the keys of the default run as they were.
  return fmt::format("curriculum:{}:{}:{}:{}:{}", hardness_key(), curriculum.top_k,
                     curriculum.k_min, curriculum.dynamic_k, index_text) +
         (permute_hardness ? ":permuted_hardness" : "") + (random_supports ? ":random_supports" : "");
}

std::string TrainSettings::student_key() const {
  return fmt::format("student:{}:{}:{}:{}:{}:{}:{}:{}:{}:{}:{}:{}:{}:{}", curriculum_key(),
                     retrieval, model.hidden, model.depth, model.heads, model.ff_hidden,
                     model.dropout, model.decoder_hidden, student_epochs, student_stage1_epochs,
                     batch_size, lr, support_label_own, merge_views);
}

}  // namespace hardy
