#include "train/sequence_data.h"

#include "core/error.h"
#include "data/random.h"
#include "data/sharding.h"

#include <algorithm>
#include <numeric>

namespace hardy {

namespace {

// A validation set for corpora that have none, such as the IEMOCAP pickles. By
// sequence: every 10th training sequence. By speaker: every 10th of the training
// sequences' speakers in ascending id order (a sequence counts as its first row's
// speaker; unknown speakers, -1, stay in training), so validation and training
// speakers are disjoint when each sequence has one speaker (MSP-Podcast's turns).
void carve_valid(std::vector<SequenceRun>& train, std::vector<SequenceRun>& valid, ValidFrom from,
                 const std::string& where) {
  std::vector<SequenceRun> kept;
  if (from == ValidFrom::Sequences) {
    for (size_t i = 0; i < train.size(); ++i) (i % 10 == 9 ? valid : kept).push_back(train[i]);
  } else {
    std::vector<std::int32_t> speakers;
    for (const auto& s : train)
      if (s.speaker >= 0) speakers.push_back(s.speaker);
    std::sort(speakers.begin(), speakers.end());
    speakers.erase(std::unique(speakers.begin(), speakers.end()), speakers.end());
    HARDY_THROW_IF_NOT_MSG(speakers.size() >= 2,
                           "{}: data.valid_from = \"speakers\" needs at least 2 known training speakers, "
                           "found {} (does the corpus have a 'speaker' dataset?); use \"sequences\"",
                           where, speakers.size());
    std::vector<std::int32_t> held;
    for (size_t i = 0; i < speakers.size(); ++i)
      if (i % 10 == 9 || (speakers.size() < 10 && i + 1 == speakers.size())) held.push_back(speakers[i]);
    for (const auto& s : train)
      (std::binary_search(held.begin(), held.end(), s.speaker) ? valid : kept).push_back(s);
  }
  train.swap(kept);
}

}  // namespace

std::vector<FoldPlan> plan_folds(const CorpusMeta& meta, const std::vector<SequenceRun>& sequences,
                                 const std::string& protocol,
                                 const std::vector<std::int64_t>& folds, ValidFrom valid_from,
                                 const std::string& test_split) {
  const bool use_folds = protocol == "folds" || (protocol == "auto" && meta.has_fold);
  HARDY_THROW_IF_NOT_MSG(!use_folds || meta.has_fold,
                         "data.protocol = \"folds\" but corpus '{}' has no fold dataset; use "
                         "protocol = \"split\"",
                         meta.path);
  HARDY_THROW_IF_NOT_MSG(use_folds || meta.has_split,
                         "corpus '{}' has no split dataset; use data.protocol = \"folds\"",
                         meta.path);
  std::vector<FoldPlan> plans;
  int test_code = -1;  // every code from kTest on
  if (!test_split.empty()) {
    HARDY_THROW_IF_NOT_MSG(!use_folds,
                           "data.test_split = \"{}\" chooses a test partition of the split protocol, but corpus "
                           "'{}' is evaluated by folds; set data.protocol = \"split\" or leave test_split empty",
                           test_split, meta.path);
    for (std::size_t k = kTest; k < meta.split_names.size(); ++k)
      if (meta.split_names[k] == test_split) test_code = static_cast<int>(k);
    std::string tests;
    for (std::size_t k = kTest; k < meta.split_names.size(); ++k) tests += (tests.empty() ? "" : ", ") + meta.split_names[k];
    HARDY_THROW_IF_NOT_MSG(test_code >= 0, "data.test_split = \"{}\" is not a test partition of corpus '{}'; it has {}",
                           test_split, meta.path, tests);
  }
  if (!use_folds) {
    FoldPlan p;
    p.name = "split";
    for (const auto& s : sequences) {
      if (s.split == kTrain) p.train.push_back(s);
      else if (s.split == kValid) p.valid.push_back(s);
      else if (test_code < 0 || s.split == test_code) p.test.push_back(s);
    }
    if (p.valid.empty()) carve_valid(p.train, p.valid, valid_from, meta.path);
    plans.push_back(std::move(p));
  } else {
    std::vector<std::int64_t> chosen = folds;
    if (chosen.empty())
      for (int f = 0; f < meta.folds; ++f) chosen.push_back(f);
    for (auto f : chosen) {
      HARDY_THROW_IF_NOT_MSG(f >= 0 && f < meta.folds,
                             "data.folds names fold {}, but corpus '{}' has folds 0..{}", f,
                             meta.path, meta.folds - 1);
      FoldPlan p;
      p.name = fmt::format("fold {}", f);
      p.fold = static_cast<int>(f);
      for (const auto& s : sequences) {
        if (s.fold == f)
          p.test.push_back(s);
        else if (meta.has_split && s.split == kValid)
          p.valid.push_back(s);
        else
          p.train.push_back(s);
      }
      if (p.valid.empty()) carve_valid(p.train, p.valid, valid_from, meta.path + ", " + p.name);
      plans.push_back(std::move(p));
    }
  }
  for (const auto& p : plans) {
    HARDY_THROW_IF_NOT_MSG(!p.train.empty() && !p.test.empty(),
                           "{} of corpus '{}' has {} train and {} test sequences; both must be "
                           "non-empty",
                           p.name, meta.path, p.train.size(), p.test.size());
  }
  return plans;
}

std::int64_t SequenceSet::utterances() const {
  return std::accumulate(count.begin(), count.end(), std::int64_t{0});
}

torch::Tensor SequenceSet::rows() const {
  std::vector<torch::Tensor> parts;
  for (size_t s = 0; s < begin.size(); ++s)
    parts.push_back(torch::arange(begin[s], begin[s] + count[s], torch::kInt64));
  return parts.empty() ? torch::empty({0}, torch::kInt64) : torch::cat(parts);
}

FoldShard shard_fold(const CorpusReader& reader, const FoldPlan& plan, int rank, int world) {
  FoldShard shard;
  shard.plan.name = plan.name;
  shard.plan.fold = plan.fold;
  std::vector<SequenceRun> mine;
  for (auto* set : {&plan.train, &plan.valid, &plan.test})
    for (const auto& s : shard_sequences(*set, rank, world)) mine.push_back(s);
  std::sort(mine.begin(), mine.end(),
            [](const SequenceRun& a, const SequenceRun& b) { return a.begin < b.begin; });
  std::vector<RowRange> ranges;
  for (const auto& s : mine) {
    if (!ranges.empty() && ranges.back().end == s.begin)
      ranges.back().end += s.count;
    else
      ranges.push_back(RowRange{s.begin, s.begin + s.count});
  }
  shard.rows = reader.read_rows(ranges);
  // Global first row -> row of the shard's table.
  auto local = [&](const SequenceRun& s) {
    auto at = torch::searchsorted(shard.rows.row, torch::tensor({s.begin}, torch::kInt64));
    SequenceRun out = s;
    out.begin = at.item<std::int64_t>();
    return out;
  };
  shard.global_train = plan.train;
  const auto owner = shard_owners(plan.train, world);
  for (size_t i = 0; i < plan.train.size(); ++i) {
    if (owner[i] != rank) {
      shard.train_local.push_back(-1);
      continue;
    }
    shard.train_local.push_back(static_cast<std::int64_t>(shard.plan.train.size()));
    shard.plan.train.push_back(local(plan.train[i]));
  }
  for (const auto& s : shard_sequences(plan.valid, rank, world)) shard.plan.valid.push_back(local(s));
  for (const auto& s : shard_sequences(plan.test, rank, world)) shard.plan.test.push_back(local(s));
  return shard;
}

SequenceSet sequence_set(const std::vector<SequenceRun>& runs) {
  SequenceSet set;
  for (const auto& s : runs) {
    set.begin.push_back(s.begin);
    set.count.push_back(s.count);
  }
  return set;
}

BatchLayout batch_layout(const SequenceSet& set, const std::vector<std::int64_t>& ids) {
  std::int64_t t_max = 0;
  for (auto s : ids) t_max = std::max(t_max, set.count[static_cast<size_t>(s)]);
  const auto b = static_cast<std::int64_t>(ids.size());
  BatchLayout layout{torch::zeros({b, t_max}, torch::kInt64),
                     torch::zeros({b, t_max}, torch::kBool)};
  auto rows = layout.rows.accessor<std::int64_t, 2>();
  auto real = layout.real.accessor<bool, 2>();
  for (std::int64_t i = 0; i < b; ++i) {
    auto s = static_cast<size_t>(ids[static_cast<size_t>(i)]);
    for (std::int64_t t = 0; t < set.count[s]; ++t) {
      rows[i][t] = set.begin[s] + t;
      real[i][t] = true;
    }
  }
  return layout;
}

SequenceBatch gather_batch(const PerModality<torch::Tensor>& features, const torch::Tensor& labels,
                           const torch::Tensor& feature_rows, const torch::Tensor& label_rows,
                           const torch::Tensor& real, const std::vector<bool>& keep) {
  const auto b = feature_rows.size(0), t = feature_rows.size(1);
  auto flat = feature_rows.reshape({-1});
  auto mask = real.unsqueeze(-1).to(torch::kFloat32);
  SequenceBatch batch;
  for (const auto& f : features) batch.x.push_back(f.index_select(0, flat).view({b, t, -1}) * mask);
  batch.real = real;
  batch.available = real.unsqueeze(-1).expand({b, t, static_cast<std::int64_t>(features.size())}).clone();
  auto label = labels.index_select(0, label_rows.reshape({-1}));
  // [B, T] class ids or scores; [B, T, targets] for regression labels [N, targets].
  batch.label = labels.dim() == 2 ? label.view({b, t, labels.size(1)}) : label.view({b, t});
  return apply_condition(batch, keep);
}

SequenceBatch batch_to(const SequenceBatch& b, const torch::Device& device) {
  return SequenceBatch{tensors_to(b.x, device), b.real.to(device), b.available.to(device),
                       b.label.to(device)};
}

PerModality<torch::Tensor> tensors_to(const PerModality<torch::Tensor>& x, const torch::Device& device) {
  PerModality<torch::Tensor> out;
  for (const auto& t : x) out.push_back(t.to(device));
  return out;
}

torch::Tensor view_rows(const torch::Tensor& rows, const torch::Tensor& real,
                        const torch::Tensor& support_rows, std::int64_t j) {
  HARDY_THROW_IF_NOT_MSG(j >= 1 && j <= support_rows.size(1), "view {} outside 1..{}", j,
                         support_rows.size(1));
  auto support = support_rows.select(1, j - 1).index_select(0, rows.reshape({-1})).view(rows.sizes());
  return torch::where(real & (support >= 0), support, rows);
}

std::vector<std::int64_t> epoch_order(std::int64_t n, std::uint64_t seed, std::int64_t epoch) {
  std::vector<std::int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), std::int64_t{0});
  Random rng(seed, 0xE90C0000ULL + static_cast<std::uint64_t>(epoch));
  for (std::int64_t i = n - 1; i > 0; --i)  // Fisher–Yates
    std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(rng.below(i + 1))]);
  return order;
}

std::vector<std::vector<std::int64_t>> make_batches(const std::vector<std::int64_t>& order,
                                                    std::int64_t batch_size) {
  std::vector<std::vector<std::int64_t>> batches;
  for (size_t i = 0; i < order.size(); i += static_cast<size_t>(batch_size))
    batches.emplace_back(order.begin() + static_cast<std::ptrdiff_t>(i),
                         order.begin() + static_cast<std::ptrdiff_t>(
                                             std::min(order.size(), i + static_cast<size_t>(batch_size))));
  return batches;
}

}  // namespace hardy
