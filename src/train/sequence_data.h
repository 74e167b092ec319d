// Rows of a corpus grouped into the train / valid / test sequences of one fold,
// and the assembly of padded SequenceBatch-es from them, including the curriculum
// views of student stage 2 (docs/algorithm.md §3.3).
#pragma once

#include "data/corpus.h"
#include "data/corpus_reader.h"
#include "model/batch.h"

#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace hardy {

// Which sequences train, validate and test in one fold of the protocol.
struct FoldPlan {
  std::string name;  // "fold 2" or "split"
  int fold = -1;     // held-out fold, -1 for the split protocol
  std::vector<SequenceRun> train, valid, test;
};

// Leave-one-fold-out when `protocol` is "folds" (or "auto" and the corpus has folds):
// test = fold f; valid = the train folds' sequences with split = valid, or when
// there are none every 10th train sequence (or, with ValidFrom::Speakers, the
// sequences of every 10th training speaker); train = the rest. "split": the
// corpus' train/valid/test split (valid carved the same way when empty).
// `folds` selects folds (empty = all).
// Where a validation set comes from when the corpus has none (data.valid_from).
enum class ValidFrom { Sequences, Speakers };

// `test_split` (data.test_split, split protocol): the test partition to evaluate by
// name (meta.split_names, e.g. "test1"); the other test partitions are left out. Empty:
// every split code from 2 on is test.
std::vector<FoldPlan> plan_folds(const CorpusMeta& meta, const std::vector<SequenceRun>& sequences,
                                 const std::string& protocol, const std::vector<std::int64_t>& folds,
                                 ValidFrom valid_from = ValidFrom::Sequences, const std::string& test_split = "");

// One rank's part of a fold: its train, valid and test sequences (each set sharded
// separately, whole sequences, balanced by rows, as in data/sharding.h) read from
// the corpus, and the plan with every sequence re-based onto those rows, so
// `rows.row[plan.train[i].begin]` is the global id of that sequence's first row.
// The assignment is computed here once; FoldContext takes it as it is.
struct FoldShard {
  CorpusRows rows;
  FoldPlan plan;
  // The fold's training sequences over all ranks (global rows), and for each the
  // index of that sequence in plan.train when this rank holds it, else -1.
  std::vector<SequenceRun> global_train;
  std::vector<std::int64_t> train_local;
};
FoldShard shard_fold(const CorpusReader& reader, const FoldPlan& plan, int rank, int world);

// Utterances of a set of sequences, as row indices into a row table (features,
// labels) held elsewhere, grouped by sequence.
struct SequenceSet {
  std::vector<std::int64_t> begin;  // per sequence: first row (into the row table)
  std::vector<std::int64_t> count;  // per sequence: number of utterances
  std::int64_t sequences() const { return static_cast<std::int64_t>(begin.size()); }
  std::int64_t utterances() const;
  torch::Tensor rows() const;  // int64 [utterances]: every row, sequence by sequence
};

// Rows are corpus global row ids when the row table is the whole corpus.
SequenceSet sequence_set(const std::vector<SequenceRun>& runs);

// The rows of the given sequences laid out as a padded [B, T] grid.
struct BatchLayout {
  torch::Tensor rows;  // int64 [B, T]; padding holds row 0
  torch::Tensor real;  // bool [B, T]
};
BatchLayout batch_layout(const SequenceSet& set, const std::vector<std::int64_t>& sequence_ids);

// Gathers a batch: x[m][b, t] = features[m][feature_rows[b, t]], label[b, t] =
// labels[label_rows[b, t]], zeros at padding; then the condition `keep`.
SequenceBatch gather_batch(const PerModality<torch::Tensor>& features, const torch::Tensor& labels,
                           const torch::Tensor& feature_rows, const torch::Tensor& label_rows,
                           const torch::Tensor& real, const std::vector<bool>& keep);

// Copies of a batch / of per-modality tensors on `device`.
SequenceBatch batch_to(const SequenceBatch& batch, const torch::Device& device);
PerModality<torch::Tensor> tensors_to(const PerModality<torch::Tensor>& x, const torch::Device& device);

// View j (1..K) of student stage 2: every utterance replaced by its j-th support, or
// kept where its curriculum is shorter than j. `support_rows` [n_rows, K] maps a row
// to its supports' rows (-1 past K_q). Returns the rows whose features the view uses.
torch::Tensor view_rows(const torch::Tensor& rows, const torch::Tensor& real,
                        const torch::Tensor& support_rows, std::int64_t j);

// Sequence order of one epoch: a permutation of 0..n-1 fixed by (seed, epoch), so a
// resumed run shuffles exactly as the uninterrupted one.
std::vector<std::int64_t> epoch_order(std::int64_t n, std::uint64_t seed, std::int64_t epoch);

// Batches of `batch_size` sequence ids from an order.
std::vector<std::vector<std::int64_t>> make_batches(const std::vector<std::int64_t>& order,
                                                    std::int64_t batch_size);

}  // namespace hardy
