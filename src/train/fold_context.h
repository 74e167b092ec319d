// What every stage of one fold sees: the settings, this rank's rows of the fold,
// the fold's run directory and its process group. The stages of docs/algorithm.md
// are functions of it (feature_stage.h ... student_stage.h); the pipeline
// (pipeline.h) chains them, stores their artifacts and skips or resumes them. Every
// per-utterance tensor is indexed by corpus row (the global id), so a stage never
// depends on row order within a batch.
#pragma once

#include "data/corpus.h"
#include "dist/communicator.h"
#include "train/sequence_data.h"
#include "train/settings.h"
#include <torch/torch.h>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace hardy {

// What every stage of one fold sees.
//
// `comm` is the fold's process group; one process is a group of size 1
// (dist/local_communicator.h). `corpus` holds the rows this rank reads (all of them
// on one rank; its shard under shard_fold in sequence_data.h otherwise) and
// `plan`'s sequences point into it; corpus.row maps a row of the table to its
// global id. Stages that need other ranks' data use `comm`: every collective is a
// no-op copy on a group of one, so a stage has one code path for any rank count.
struct FoldContext {
  const TrainSettings& settings;
  const CorpusRows& corpus;  // the row table
  const FoldPlan& plan;
  SequenceSet train, valid, test;
  std::string dir;  // this fold's run directory
  std::shared_ptr<Communicator> comm;  // never null; size 1 on one process
  // The fold's training sequences over all ranks (the unsharded plan.train), and for
  // each the index of that sequence in `train` when this rank holds it, else -1.
  // Batches are drawn from the global list, so they do not depend on the rank count.
  std::vector<SequenceRun> global_train;
  std::vector<std::int64_t> train_local;
  // training.class_weights over the fold's training labels (all ranks'), float32 [C];
  // undefined when none (set by compute_class_weights).
  torch::Tensor class_weights;

  // This rank's part of the fold (shard_fold), which must outlive the context.
  FoldContext(const TrainSettings& s, const FoldShard& shard, std::string d,
              std::shared_ptr<Communicator> c);
  // A context over a table whose row i is global id i and that holds the whole fold
  // (tests and benchmarks on one process).
  FoldContext(const TrainSettings& s, const CorpusRows& rows, const FoldPlan& p, std::string d,
              std::shared_ptr<Communicator> c);
  // True when row i of the table is global id i for every row (one rank, nothing
  // left out): supports can then be addressed directly, without an exchange.
  bool holds_everything() const { return table_is_global_; }
  // Collective over `comm`: sets class_weights from every rank's training labels when
  // the settings ask for them.
  void compute_class_weights();
  // The task term of a stage's loss on this rank's share of a global batch: logits
  // [B, T, outputs] against labels [B, T] (or [B, T, targets]), to be multiplied by
  // the share like every mean term (data_parallel.h). Cross-entropy (classification,
  // with class_weights), squared error (sentiment; regression_loss = "mse"), or
  // 1 - mean CCC over the targets of the WHOLE global batch (regression_loss =
  // "ccc"; collective when sharded: train/task_loss.h).
  torch::Tensor task_loss(const torch::Tensor& logits, const torch::Tensor& label, const torch::Tensor& real,
                          double share) const;
  // A rank holding none of a global batch joins the collectives of `terms` task
  // terms it does not compute (CCC when sharded); nothing otherwise.
  void join_task_losses(int terms) const;
  int rank() const { return comm->rank(); }
  // Rank 0 writes checkpoints, artifacts and reports; every rank reads them.
  bool writes_files() const { return rank() == 0; }
  // Global ids of rows of the table.
  torch::Tensor global_ids(const torch::Tensor& table_rows) const {
    return corpus.row.index_select(0, table_rows);
  }

 private:
  bool table_is_global_ = false;
};

}  // namespace hardy
