// Every training setting of the pipeline, read once from the Config and the corpus.
#pragma once

#include "core/config.h"
#include "data/corpus.h"
#include "dist/gradient_synchronizer.h"
#include "model/options.h"
#include "retrieval/curriculum.h"
#include "retrieval/feature_index.h"
#include "train/hardness.h"

#include <torch/torch.h>

#include <array>
#include <string>
#include <vector>

namespace hardy {

struct TrainSettings {
  ModelOptions model;  // dims and outputs from the corpus
  Task task = Task::Classification;
  bool sentiment = false;    // task == Sentiment
  bool regression = false;   // task == Regression
  std::int64_t classes = 0;  // 0 for sentiment and regression
  std::vector<std::string> targets;  // regression: one output per target
  bool ccc_loss = true;      // regression: training.regression_loss = "ccc" (else "mse")

  bool finetune_features = true;
  std::int64_t finetune_epochs = 20;
  double finetune_lr = 1e-3;

  std::int64_t teacher_epochs = 200, teacher_stage1_epochs = 100;
  std::int64_t student_epochs = 50, student_stage1_epochs = 25;
  std::int64_t batch_size = 16;
  double lr = 1e-4, weight_decay = 1e-5, lambda_mi = 0.001;
  bool support_label_own = false;  // training.support_label = "own"
  bool merge_views = false;
  bool inverse_frequency_weights = false;  // training.class_weights = "inverse_frequency"
  std::uint64_t seed = 42;
  double checkpoint_minutes = 10;  // output.checkpoint_minutes: step checkpoints (0 = off)
  bool strict = false;             // output.strict: damaged run files stop the run

  HardnessOptions hardness;
  bool batch_normalization = false;  // hardness.normalization = "batch"
  bool rank_normalization = false;   // hardness.normalization = "rank"
  bool permute_hardness = false;     // hardness.permute (a control: train/controls.h)
  bool random_supports = false;      // retrieval.random_supports (a control)
  bool hardness_per_sequence = true;  // hardness.per_sequence
  bool retrieval = true;             // retrieval.enabled
  CurriculumOptions curriculum;
  PerModality<IndexOptions> index;

  GradientSyncOptions sync;  // the dist.* gradient keys (sum mode)

  std::vector<std::string> conditions;  // "a", "t", ..., as configured
  torch::Device device = torch::kCPU;

  static TrainSettings from(const Config& config, const CorpusMeta& meta);
  // The settings that each stage's output depends on, as text for fingerprints.
  std::string feature_key() const;
  std::string teacher_key() const;
  std::string hardness_key() const;
  std::string curriculum_key() const;
  std::string student_key() const;
};

}  // namespace hardy
