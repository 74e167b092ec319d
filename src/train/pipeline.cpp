#include "train/pipeline.h"

#include "core/error.h"
#include "core/log.h"
#include "core/fingerprint.h"
#include "core/modality.h"
#include "data/corpus_reader.h"
#include "data/validator.h"
#include "dist/local_communicator.h"
#include "model/spearman.h"
#include "model/student_net.h"
#include "train/artifacts.h"
#include "train/curriculum_stage.h"
#include "train/data_parallel.h"
#include "train/feature_stage.h"
#include "train/file_io.h"
#include "train/hardness_stage.h"
#include "train/run_scope.h"
#include "train/stage_runner.h"
#include "train/student_stage.h"
#include "train/teacher_stage.h"
#include "train/timings_file.h"

#include <fmt/ranges.h>

#include <filesystem>

namespace hardy {

namespace fs = std::filesystem;

namespace {

// Identifies the corpus contents cheaply: path, size and modification time.
std::string corpus_fingerprint(const std::string& path) {
  auto time = fs::last_write_time(path).time_since_epoch().count();
  return fmt::format("{}:{}:{}", fs::absolute(path).string(), fs::file_size(path), time);
}

// Fraction of valid supports whose label equals their query's label; `labels` is
// indexed by global id.
double support_label_agreement(const Curriculum& c, const torch::Tensor& labels) {
  auto valid = c.support >= 0;
  if (valid.sum().item<std::int64_t>() == 0) return NAN;
  auto query_label = labels.index_select(0, c.query).unsqueeze(1).expand_as(c.support);
  auto support_label = labels.index_select(0, c.support.clamp_min(0).reshape({-1})).view(c.support.sizes());
  return (query_label == support_label).masked_select(valid).to(torch::kFloat64).mean().item<double>();
}

// Artifacts hold every rank's rows, keyed by global id, so a run resumes with any
// number of ranks. Gathering and selecting:
HardnessScores gather_hardness(const FoldContext& ctx, const HardnessScores& mine) {
  auto keyed = mine;
  keyed.rows = ctx.global_ids(mine.rows);
  return map_hardness(keyed, ctx.settings.conditions, [&](const torch::Tensor& t) { return gather_rows(ctx, t); });
}

// This rank's training rows of `all` (rows as global ids), rows as table rows again.
HardnessScores select_hardness(const FoldContext& ctx, const HardnessScores& all) {
  auto sorted = all.rows.sort();
  const auto& ids = std::get<0>(sorted);
  const auto rows = ctx.train.rows();
  auto wanted = ctx.global_ids(rows);
  auto pos = torch::searchsorted(ids, wanted).clamp_max(std::max<std::int64_t>(ids.numel() - 1, 0));
  HARDY_THROW_IF_NOT_MSG(wanted.numel() == 0 || (ids.numel() > 0 && ids.index_select(0, pos).equal(wanted)),
                         "{}: the saved hardness scores ('{}/hardness.pt') do not cover this rank's "
                         "training rows; delete it and re-run",
                         ctx.plan.name, ctx.dir);
  auto at = std::get<1>(sorted).index_select(0, pos);
  auto mine = map_hardness(all, ctx.settings.conditions, [&](const torch::Tensor& t) { return t.index_select(0, at); });
  mine.rows = rows;
  return mine;
}

Curriculum gather_curriculum(const FoldContext& ctx, const Curriculum& c) {
  return map_curriculum(c, [&](const torch::Tensor& t) { return gather_rows(ctx, t); });
}

// The queries of `c` that are this rank's training rows.
Curriculum select_curriculum(const FoldContext& ctx, const Curriculum& c) {
  if (ctx.holds_everything()) return c;
  auto mine = torch::isin(c.query, ctx.global_ids(ctx.train.rows())).nonzero().view({-1});
  return map_curriculum(c, [&](const torch::Tensor& t) { return t.index_select(0, mine); });
}

ConditionResult run_condition(const RunScope& run, const FoldContext& ctx,
                              const std::array<torch::Tensor, 3>& features,
                              const HardnessScores& all_hardness,
                              const std::map<std::string, Curriculum>& curricula,
                              const std::map<std::string, Curriculum>& all_curricula,
                              const std::string& condition, const std::string& key_prefix,
                              bool resume) {
  const auto& s = ctx.settings;
  ConditionResult result;
  result.condition = condition;
  const Curriculum* curriculum = s.retrieval ? &curricula.at(condition) : nullptr;
  const std::string stage = "student_" + condition;
  const std::string scores_path = ctx.dir + "/" + stage + "_scores.pt";
  const bool skipped = run_stage(
      run, {ctx.dir, stage, fingerprint(key_prefix + s.student_key() + condition), ctx.dir + "/" + stage + ".ckpt"},
      resume,
      {[&] { result.epochs = scores_from_tensor(load_tensors(scores_path, {"history"}).at("history")); },
       [&] { result.epochs = train_student(ctx, features, condition, curriculum, ctx.dir + "/" + stage + ".ckpt"); },
       [&] { save_tensors(scores_path, {{"history", scores_to_tensor(result.epochs)}}); }});
  if (skipped) log::info("{} | student {} | done earlier (manifest matches), skipped", ctx.plan.name, condition);
  const auto& labels = run.labels;
  if (labels.planted_hardness.defined())
    result.spearman_planted = spearman(all_hardness.unified.at(condition),
                                       labels.planted_hardness.index_select(0, all_hardness.rows));
  if (curriculum) {
    const auto& all = all_curricula.at(condition);
    result.k_histogram = curriculum_size_histogram(all);
    result.support_label_agreement = support_label_agreement(all, labels.label);
  }
  return result;
}

std::array<FeatureNet, 3> feature_nets(const FoldContext& ctx) {
  const auto outputs = ctx.settings.model.outputs;
  return {FeatureNet(ctx.corpus.features[0].size(1), outputs), FeatureNet(ctx.corpus.features[1].size(1), outputs),
          FeatureNet(ctx.corpus.features[2].size(1), outputs)};
}

FoldResult run_fold(const RunScope& run, const TrainSettings& s, const FoldContext& ctx,
                    const std::string& corpus_key, bool resume) {
  const auto& dir = ctx.dir;
  const auto& plan = ctx.plan;
  if (run.root()) fs::create_directories(dir);
  run.barrier();
  const int world = ctx.comm->size();
  log::info("{} | {} train / {} valid / {} test utterances{}", plan.name, train_utterances(ctx),
               ctx.valid.utterances(), ctx.test.utterances(),
               world > 1 ? fmt::format(" (valid/test: this rank's; {} ranks)", world) : "");
  const std::string prefix = corpus_key + plan.name;

  // §0 features: the feature nets are the artifact; every rank refines its own rows.
  std::array<torch::Tensor, 3> features;
  if (!(s.finetune_features && s.finetune_epochs > 0)) {
    features = refined_features(ctx, nullptr);
  } else {
    // Built only where they are needed: a net's construction draws from the
    // generator, and training must see the generator as one process left it.
    std::array<FeatureNet, 3> nets{nullptr, nullptr, nullptr};
    run_stage(run, {dir, "features", fingerprint(prefix + s.feature_key() + "feature-nets"), ""}, resume,
              {[&] {
                 nets = feature_nets(ctx);
                 for (int m = 0; m < 3; ++m)
                   load_module(dir + "/feature_net_" + ModalitySet::standard().name(m) + ".pt", *nets[static_cast<size_t>(m)]);
               },
               [&] { nets = train_feature_nets(ctx); },
               [&] {
                 for (int m = 0; m < 3; ++m)
                   save_module(dir + "/feature_net_" + ModalitySet::standard().name(m) + ".pt", *nets[static_cast<size_t>(m)]);
               }});
    features = refined_features(ctx, &nets);
  }

  // §1 teacher and hardness
  HardnessScores hardness, all_hardness;
  const bool hardness_loaded = run_stage(
      run, {dir, "hardness", fingerprint(prefix + s.hardness_key()), ""}, resume,
      {[&] { all_hardness = hardness_from_tensors(load_tensors(dir + "/hardness.pt", hardness_tensor_names(s.conditions)), s.conditions); },
       [&] {
         TeacherNet teacher(s.model);
         run_stage(run, {dir, "teacher", fingerprint(prefix + s.teacher_key()), dir + "/teacher.ckpt"}, resume,
                   {[&] { load_module(dir + "/teacher.pt", *teacher); },
                    [&] { teacher = train_teacher(ctx, features, dir + "/teacher.ckpt"); },
                    [&] { save_module(dir + "/teacher.pt", *teacher); }});
         teacher->to(s.device);
         hardness = timed(stage_times("hardness").compute_s, [&] { return score_hardness(ctx, teacher, features); });
         all_hardness = gather_hardness(ctx, hardness);
       },
       [&] { save_tensors(dir + "/hardness.pt", hardness_to_tensors(all_hardness, s.conditions)); }});
  if (hardness_loaded) hardness = select_hardness(ctx, all_hardness);

  // §2 index + curriculum
  std::map<std::string, Curriculum> curricula, all_curricula;
  if (s.retrieval) {
    const bool loaded = run_stage(
        run, {dir, "curriculum", fingerprint(prefix + s.curriculum_key()), ""}, resume,
        {[&] {
           for (const auto& c : s.conditions)
             all_curricula[c] = curriculum_from_tensors(load_tensors(dir + "/curriculum_" + c + ".pt", curriculum_tensor_names()));
         },
         [&] {
           curricula = timed(stage_times("curriculum").exchange_s, [&] { return build_curricula(ctx, features, hardness); });
           for (const auto& [c, cur] : curricula) all_curricula[c] = gather_curriculum(ctx, cur);
         },
         [&] {
           for (const auto& [c, all] : all_curricula) save_tensors(dir + "/curriculum_" + c + ".pt", curriculum_to_tensors(all));
         }});
    if (loaded)
      for (const auto& c : s.conditions) curricula[c] = select_curriculum(ctx, all_curricula[c]);
  }

  // §3 students, §4 evaluation
  FoldResult fold;
  fold.name = plan.name;
  for (const auto& c : s.conditions)
    fold.conditions.push_back(
        run_condition(run, ctx, features, all_hardness, curricula, all_curricula, c, prefix, resume));
  return fold;
}

}  // namespace

RunResults run_pipeline(const Config& config, std::shared_ptr<Communicator> comm) {
  HARDY_THROW_IF_NOT_MSG(comm, "run_pipeline needs a process group (local_world() on one process)");
  RunScope run{std::move(comm), {}};
  const auto path = config.string("data.corpus");
  HARDY_THROW_IF_NOT_MSG(!path.empty(), "no corpus given: set data.corpus (or pass --corpus FILE)");
  ValidateOptions check;
  check.expect_dims = config.integers("data.expect_dims");
  if (run.root()) {
    auto report = validate_corpus(path, check);
    HARDY_THROW_IF_NOT_MSG(report.ok(), "the corpus is not usable:\n{}Fix the file (see hardy_dist validate) and re-run",
                           report.to_text());
  }
  run.barrier();
  CorpusReader reader(path);
  auto settings = TrainSettings::from(config, reader.meta());
  auto plans = plan_folds(reader.meta(), reader.sequences(), config.string("data.protocol"),
                          config.integers("data.folds"));

  const auto dir = config.string("output.dir");
  const bool resume = config.boolean("output.resume");
  if (run.root()) {
    fs::create_directories(dir);
    write_file_atomic(dir + "/config.toml", config.to_toml());
  }
  run.barrier();
  // Checkpoints and artifacts are written by rank 0 and read by every rank.
  HARDY_THROW_IF_NOT_MSG(fs::exists(dir + "/config.toml"),
                         "output.dir '{}' is not visible from this rank (rank 0 wrote config.toml "
                         "there): put output.dir on a filesystem every rank can see",
                         dir);
  const int world = run.comm->size();
  log::info("train: corpus '{}' ({} rows, {}), {} fold(s), conditions {}, device {}, {} threads{}; run directory '{}'",
               path, reader.meta().rows, task_name(reader.meta().task), plans.size(),
               fmt::join(settings.conditions, ","), settings.device.str(), torch::get_num_threads(),
               world > 1 ? fmt::format(" per rank, {} ranks", world) : "", dir);
  // Every rank reads its rows of each fold, plus every row's label and planted
  // hardness (no features) for the reports.
  run.labels = reader.read_rows({RowRange{0, reader.meta().rows}}, /*with_features=*/false);

  RunResults results;
  results.corpus = path;
  results.task = task_name(reader.meta().task);
  const auto corpus_key = corpus_fingerprint(path);
  for (const auto& plan : plans) {
    const std::string fold_dir = dir + "/" + (plan.fold >= 0 ? fmt::format("fold{}", plan.fold) : "split");
    const auto shard = shard_fold(reader, plan, run.comm->rank(), world);
    const FoldContext ctx(settings, shard, fold_dir, run.comm);
    results.folds.push_back(run_fold(run, settings, ctx, corpus_key, resume));
  }
  write_timings_file(*run.comm, dir + "/timings.json");
  if (run.root()) write_reports(results, dir);
  return results;
}

}  // namespace hardy
