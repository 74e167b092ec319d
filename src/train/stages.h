// The stages of ALGORITHM.md for one fold, each a function of its inputs. The
// pipeline (pipeline.h) chains them, stores their artifacts and skips or resumes
// them; here they only compute. Every per-utterance tensor is indexed by corpus row
// (the global id), so a stage never depends on row order within a batch.
#pragma once

#include "data/corpus.h"
#include "dist/communicator.h"
#include "model/feature_net.h"
#include "model/teacher_net.h"
#include "retrieval/curriculum.h"
#include "train/epoch_scores.h"
#include "train/sequence_data.h"
#include "train/settings.h"

#include <array>
#include <map>
#include <string>

namespace hardy {

// What every stage of one fold sees.
//
// Single process: `corpus` is the whole corpus and row i of it is global id i.
// Sharded (comm set): `corpus` holds this rank's rows only (shard_fold in
// sequence_data.h) and `plan`'s sequences point into it; corpus.row maps a row of
// the table to its global id. Stages that need other ranks' data use `comm`.
struct FoldContext {
  const TrainSettings& settings;
  const CorpusRows& corpus;  // the row table
  const FoldPlan& plan;
  SequenceSet train, valid, test;
  std::string dir;  // this fold's run directory
  std::shared_ptr<Communicator> comm;  // null: one process holds everything
  // The fold's training sequences over all ranks (the unsharded plan.train), and for
  // each the index of that sequence in `train` when this rank holds it, else -1.
  // Batches are drawn from the global list, so they do not depend on the rank count.
  std::vector<SequenceRun> global_train;
  std::vector<std::int64_t> train_local;

  // `global`: the fold's unsharded training sequences; only needed when sharded
  // (one process: plan.train itself).
  FoldContext(const TrainSettings& s, const CorpusRows& rows, const FoldPlan& p, std::string d,
              std::shared_ptr<Communicator> c = nullptr, std::vector<SequenceRun> global = {});
  bool sharded() const { return comm != nullptr; }
  int rank() const { return comm ? comm->rank() : 0; }
  // Rank 0 writes checkpoints, artifacts and reports; every rank reads them.
  bool writes_files() const { return rank() == 0; }
  // Global ids of rows of the table.
  torch::Tensor global_ids(const torch::Tensor& table_rows) const {
    return corpus.row.index_select(0, table_rows);
  }
};

// §0: one FeatureNet per modality trained on the fold's train rows (data-parallel
// when sharded), and the refined features of every row of the table: the nets'
// features, or the raw ones when `nets` is null. Text features are L2-normalised
// either way. refine_features does both (raw when training.finetune_features is off).
std::array<FeatureNet, 3> train_feature_nets(const FoldContext& ctx);
std::array<torch::Tensor, 3> refined_features(const FoldContext& ctx, std::array<FeatureNet, 3>* nets);
std::array<torch::Tensor, 3> refine_features(const FoldContext& ctx);

// §1 teacher training (stage 1 complete modalities, stage 2 condition inputs), one
// checkpoint per epoch at `checkpoint` so an interrupted run resumes.
TeacherNet train_teacher(const FoldContext& ctx, const std::array<torch::Tensor, 3>& features,
                         const std::string& checkpoint);

// Raw and unified hardness of every training utterance (of this rank, when sharded)
// under each condition. With hardness.normalization = "dataset" the min–max range
// spans the training rows of all ranks.
struct HardnessScores {
  torch::Tensor rows;                            // int64 [n]: training rows of the row table
  std::map<std::string, torch::Tensor> direct;   // per condition, float32 [n]: Hd
  std::map<std::string, torch::Tensor> indirect; // Hi
  std::map<std::string, torch::Tensor> unified;  // H (eq. 10)
};
HardnessScores score_hardness(const FoldContext& ctx, TeacherNet& teacher,
                              const std::array<torch::Tensor, 3>& features);

// §2 curricula, one per condition, over the fold's training rows. Queries and
// supports are global ids. Sharded: a collective; the feature database is split
// over the ranks and each rank gets the curricula of its own training rows.
std::map<std::string, Curriculum> build_curricula(const FoldContext& ctx,
                                                  const std::array<torch::Tensor, 3>& features,
                                                  const HardnessScores& hardness);

// §3 one student for `condition`: stage 1 on complete modalities, stage 2 on the
// curriculum views (or the original samples when `curriculum` is null), evaluated
// on valid and test after every stage-2 epoch. Checkpoints every epoch.
std::vector<EpochScores> train_student(const FoldContext& ctx,
                                       const std::array<torch::Tensor, 3>& features,
                                       const std::string& condition, const Curriculum* curriculum,
                                       const std::string& checkpoint);

// Epoch scores as a [E, 5] float64 tensor (epoch, valid ×2, test ×2) and back, for
// checkpoints and artifacts.
torch::Tensor scores_to_tensor(const std::vector<EpochScores>& scores);
std::vector<EpochScores> scores_from_tensor(const torch::Tensor& t);

}  // namespace hardy
