#include "train/pipeline.h"

#include "train/metrics_log.h"

#include "core/error.h"
#include "core/fingerprint.h"
#include "core/log.h"
#include "core/modality.h"
#include "core/progress.h"
#include "core/stop_request.h"
#include "data/corpus_reader.h"
#include "data/validator.h"
#include "dist/device.h"
#include "dist/launch.h"
#include "dist/local_communicator.h"
#include "model/spearman.h"
#include "model/student_net.h"
#include "train/artifacts.h"
#include "train/controls.h"
#include "train/curriculum_stage.h"
#include "train/data_parallel.h"
#include "train/feature_stage.h"
#include "train/file_io.h"
#include "train/run_file_error.h"
#include "train/group_layout.h"
#include "train/hardness_stage.h"
#include "train/manifest.h"
#include "train/metrics_log.h"
#include "train/run_monitor.h"
#include "train/run_scope.h"
#include "train/stage_runner.h"
#include "train/student_stage.h"
#include "train/teacher_stage.h"
#include "train/timings_file.h"
#include "train/unit_plan.h"

#include <nlohmann/json.hpp>

#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
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

// What every unit of the run reads: the settings, the corpus, the folds, where their
// artifacts go and what their stage keys start with.
struct RunInputs {
  const TrainSettings& settings;
  const CorpusReader& reader;
  const std::vector<FoldPlan>& plans;
  std::string dir;         // output.dir
  std::string corpus_key;  // corpus_fingerprint

  std::string fold_dir(std::size_t f) const {
    return dir + "/" + (plans[f].fold >= 0 ? fmt::format("fold{}", plans[f].fold) : "split");
  }
  // The manifest key of a stage of fold f whose output depends on `what`.
  std::string key(std::size_t f, const std::string& what) const {
    return fingerprint(corpus_key + plans[f].name + what);
  }
  std::vector<std::string> fold_names() const {
    std::vector<std::string> names;
    for (const auto& p : plans) names.push_back(p.name);
    return names;
  }
};

// One fold made ready for its students: this rank's rows, the refined features, the
// hardness scores and the curricula (computed, or loaded when their manifests match).
struct PreparedFold {
  FoldShard shard;
  std::unique_ptr<FoldContext> ctx;
  PerModality<torch::Tensor> features;
  HardnessScores hardness, all_hardness;
  // Classification: the teacher's H of every test utterance (all ranks'), per
  // condition, and each test row's quintile of it (hardness_quintiles; by global id).
  HardnessScores all_test_hardness;
  std::map<std::string, torch::Tensor> test_quintiles;
  std::map<std::string, Curriculum> curricula, all_curricula;
};

PerModality<FeatureNet> feature_nets(const FoldContext& ctx) {
  const auto outputs = ctx.settings.model.outputs;
  PerModality<FeatureNet> nets;
  for (const auto& raw : ctx.corpus.features) nets.push_back(FeatureNet(raw.size(1), outputs));
  return nets;
}

// §0 features, §1 teacher and hardness, §2 index + curricula of fold f, on the ranks
// of `run`.
std::unique_ptr<PreparedFold> prepare_fold(const RunScope& run, const RunInputs& in, std::size_t f, bool resume) {
  const auto& s = in.settings;
  const auto dir = in.fold_dir(f);
  auto fold = std::make_unique<PreparedFold>();
  fold->shard = shard_fold(in.reader, in.plans[f], run.comm->rank(), run.comm->size());
  fold->ctx = std::make_unique<FoldContext>(s, fold->shard, dir, run.comm);
  fold->ctx->compute_class_weights();
  const auto& ctx = *fold->ctx;
  if (run.root()) fs::create_directories(dir);
  run.barrier();
  const int ranks = ctx.comm->size();
  log::info("{} | {} train / {} valid / {} test utterances{}", ctx.plan.name, train_utterances(ctx),
            ctx.valid.utterances(), ctx.test.utterances(),
            ranks > 1 ? fmt::format(" (valid/test: this rank's; {} ranks)", ranks) : "");

  // §0 features: the feature nets are the artifact; every rank refines its own rows.
  auto& features = fold->features;
  if (!(s.finetune_features && s.finetune_epochs > 0)) {
    features = refined_features(ctx, nullptr);
  } else {
    // Built only where they are needed: a net's construction draws from the
    // generator, and training must see the generator as one process left it.
    PerModality<FeatureNet> nets;
    run_stage(run, {dir, "features", in.key(f, s.feature_key() + "feature-nets"), ""}, resume,
              {[&] {
                 nets = feature_nets(ctx);
                 for (int m = 0; m < s.model.modalities.size(); ++m)
                   load_module(dir + "/feature_net_" + s.model.modalities.name(m) + ".pt", *nets[static_cast<size_t>(m)]);
               },
               [&] { nets = train_feature_nets(ctx); },
               [&] {
                 for (int m = 0; m < s.model.modalities.size(); ++m)
                   save_module(dir + "/feature_net_" + s.model.modalities.name(m) + ".pt", *nets[static_cast<size_t>(m)]);
               }});
    features = refined_features(ctx, &nets);
  }

  // §1 teacher and hardness
  auto& hardness = fold->hardness;
  auto& all_hardness = fold->all_hardness;
  auto& all_test = fold->all_test_hardness;
  // Accuracy by hardness quintile (classification): the test utterances are scored too.
  const bool test_hardness = s.task == Task::Classification;
  const auto test_path = dir + "/test_hardness.pt";
  const bool hardness_loaded = run_stage(
      run, {dir, "hardness", in.key(f, s.hardness_key()), ""}, resume,
      {[&] {
         all_hardness = hardness_from_tensors(load_tensors(dir + "/hardness.pt", hardness_tensor_names(s.conditions)), s.conditions);
         if (test_hardness)
           all_test = hardness_from_tensors(load_tensors(test_path, hardness_tensor_names(s.conditions)), s.conditions);
       },
       [&] {
         TeacherNet teacher(s.model);
         run_stage(run, {dir, "teacher", in.key(f, s.teacher_key()), dir + "/teacher.ckpt"}, resume,
                   {[&] { load_module(dir + "/teacher.pt", *teacher); },
                    [&] { teacher = train_teacher(ctx, features, dir + "/teacher.ckpt"); },
                    [&] { save_module(dir + "/teacher.pt", *teacher); }});
         teacher->to(s.device);
         hardness = timed(stage_times("hardness").compute_s, [&] { return score_hardness(ctx, teacher, features); });
         all_hardness = gather_hardness(ctx, hardness);
         if (test_hardness)
           all_test = gather_hardness(ctx, score_hardness(ctx, teacher, features, ctx.test, "test hardness"));
       },
       [&] {
         save_tensors(dir + "/hardness.pt", hardness_to_tensors(all_hardness, s.conditions));
         if (test_hardness) save_tensors(test_path, hardness_to_tensors(all_test, s.conditions));
       }});
  if (hardness_loaded) hardness = select_hardness(ctx, all_hardness);
  if (test_hardness)
    for (const auto& c : s.conditions)
      fold->test_quintiles[c] = hardness_quintiles(all_test.rows, all_test.unified.at(c), in.reader.meta().rows);

  // §2 index + curriculum
  auto& curricula = fold->curricula;
  auto& all_curricula = fold->all_curricula;
  if (s.retrieval) {
    const bool loaded = run_stage(
        run, {dir, "curriculum", in.key(f, s.curriculum_key()), ""}, resume,
        {[&] {
           for (const auto& c : s.conditions)
             all_curricula[c] = curriculum_from_tensors(load_tensors(dir + "/curriculum_" + c + ".pt", curriculum_tensor_names()));
         },
         [&] {
           // The controls (train/controls.h) act on the gathered scores and curricula.
           const auto used = s.permute_hardness ? select_hardness(ctx, permute_hardness(all_hardness, s.conditions, s.seed))
                                                : hardness;
           curricula = timed(stage_times("curriculum").exchange_s, [&] { return build_curricula(ctx, features, used); });
           for (const auto& [c, cur] : curricula) all_curricula[c] = gather_curriculum(ctx, cur);
           if (s.random_supports)
             for (auto& [c, all] : all_curricula) {
               all = random_supports(all, s.seed, c);
               curricula[c] = select_curriculum(ctx, all);
             }
         },
         [&] {
           for (const auto& [c, all] : all_curricula) save_tensors(dir + "/curriculum_" + c + ".pt", curriculum_to_tensors(all));
         }});
    if (loaded)
      for (const auto& c : s.conditions) curricula[c] = select_curriculum(ctx, all_curricula[c]);
  }
  return fold;
}

// §3 the student of one condition, §4 its evaluation.
ConditionResult run_condition(const RunScope& run, const RunInputs& in, std::size_t f, const PreparedFold& fold,
                              const std::string& condition, bool resume) {
  const auto& s = in.settings;
  const auto& ctx = *fold.ctx;
  ConditionResult result;
  result.condition = condition;
  const Curriculum* curriculum = s.retrieval ? &fold.curricula.at(condition) : nullptr;
  const std::string stage = "student_" + condition;
  const std::string scores_path = ctx.dir + "/" + stage + "_scores.pt";
  const bool skipped = run_stage(
      run, {ctx.dir, stage, in.key(f, s.student_key() + condition), ctx.dir + "/" + stage + ".ckpt"}, resume,
      {[&] {
         const auto saved = load_tensors(scores_path, {"history"}, {"quintiles"});
         result.epochs = scores_from_tensor(saved.at("history"), static_cast<std::int64_t>(ctx.settings.targets.size()));
         if (saved.count("quintiles")) quintiles_from_tensor(saved.at("quintiles"), result.epochs);
       },
       [&] {
         result.epochs = train_student(ctx, fold.features, condition, curriculum, ctx.dir + "/" + stage + ".ckpt",
                                       fold.test_quintiles.count(condition) ? fold.test_quintiles.at(condition)
                                                                            : torch::Tensor());
       },
       [&] {
         save_tensors(scores_path, {{"history", scores_to_tensor(result.epochs)}, {"quintiles", quintiles_to_tensor(result.epochs)}});
       }});
  if (skipped) log::info("{} | student {} | done earlier (manifest matches), skipped", ctx.plan.name, condition);
  const auto& labels = run.labels;
  if (labels.planted_hardness.defined()) {
    const auto planted = labels.planted_hardness.index_select(0, fold.all_hardness.rows);
    result.spearman_planted = spearman(fold.all_hardness.unified.at(condition), planted);
    result.spearman_direct_planted = spearman(fold.all_hardness.direct.at(condition), planted);
    result.spearman_indirect_planted = spearman(fold.all_hardness.indirect.at(condition), planted);
  }
  if (curriculum) {
    const auto& all = fold.all_curricula.at(condition);
    result.k_histogram = curriculum_size_histogram(all);
    if (!ctx.settings.regression)  // equal labels: a class (or a score) shared with the query
      result.support_label_agreement = support_label_agreement(all, labels.label);
  }
  return result;
}

FoldResult run_fold(const RunScope& run, const RunInputs& in, std::size_t f, bool resume) {
  const auto fold = prepare_fold(run, in, f, resume);
  FoldResult result;
  result.name = in.plans[f].name;
  for (const auto& c : in.settings.conditions) result.conditions.push_back(run_condition(run, in, f, *fold, c, resume));
  return result;
}

// ---- units in groups (train/unit_plan.h, train/group_layout.h) ----

// A unit has finished when the manifest of its last stage matches.
struct UnitManifest {
  std::string path, key;
  // Rank 0 checks them before any group starts (pending_units), moving a corrupt one
  // aside; later reads while groups run see only complete manifests (atomic writes).
  bool matches(bool strict = true) const { return manifest_done(path, key, strict); }
};

UnitManifest unit_manifest(const RunInputs& in, const WorkUnit& unit) {
  const auto f = static_cast<std::size_t>(unit.fold);
  const auto& s = in.settings;
  const auto dir = in.fold_dir(f);
  if (unit.kind == WorkUnit::Kind::Student)
    return {dir + "/student_" + unit.condition + ".json", in.key(f, s.student_key() + unit.condition)};
  if (s.retrieval) return {dir + "/curriculum.json", in.key(f, s.curriculum_key())};
  return {dir + "/hardness.json", in.key(f, s.hardness_key())};
}

// <output.dir>/units/<fold dir>-<unit>.json: what a finished unit took, for the cost
// model of later runs.
std::string unit_record_path(const RunInputs& in, const WorkUnit& unit) {
  const auto fold = fs::path(in.fold_dir(static_cast<std::size_t>(unit.fold))).filename().string();
  return fmt::format("{}/units/{}-{}.json", in.dir, fold,
                     unit.kind == WorkUnit::Kind::Prepare ? "prepare" : "student_" + unit.condition);
}

// Measured over modelled seconds of every unit recorded in the run directory, per
// kind (rank 0 reads; every rank gets the same numbers).
CostCalibration calibrate(const RunScope& run, const RunInputs& in, const std::vector<WorkUnit>& units) {
  auto ratios = torch::zeros({4}, torch::kFloat64);  // measured, modelled: prepare, student
  if (run.root()) {
    auto* r = ratios.data_ptr<double>();
    for (const auto& unit : units) {
      const auto path = unit_record_path(in, unit);
      if (!fs::exists(path)) continue;
      const auto record = nlohmann::json::parse(read_file(path), nullptr, false);
      if (!record.is_object() || !record.contains("seconds") || !record.contains("ranks") ||
          !record.contains("modelled_one_rank_s"))
        continue;
      // Against what the model said when the unit ran (its settings may have changed).
      const int k = unit.kind == WorkUnit::Kind::Prepare ? 0 : 2;
      r[k] += record["seconds"].get<double>() * record["ranks"].get<double>();
      r[k + 1] += record["modelled_one_rank_s"].get<double>();
    }
  }
  run.comm->broadcast(ratios, 0)->wait();
  const auto* r = ratios.data_ptr<double>();
  CostCalibration c;
  if (r[0] > 0 && r[1] > 0) c.prepare = r[0] / r[1];
  if (r[2] > 0 && r[3] > 0) c.student = r[2] / r[3];
  return c;
}

std::vector<std::int64_t> train_rows(const std::vector<FoldPlan>& plans) {
  std::vector<std::int64_t> rows;
  for (const auto& p : plans) {
    std::int64_t n = 0;
    for (const auto& seq : p.train) n += seq.count;
    rows.push_back(n);
  }
  return rows;
}

// Modelled bytes of one unit on one rank (group_layout.h's unit_bytes), from the
// corpus and the model sizes.
std::int64_t modelled_unit_bytes(const TrainSettings& s, const CorpusMeta& meta) {
  const auto& m = s.model;
  std::int64_t dims = 0;
  for (auto d : m.dims) dims += d;
  const auto modalities = static_cast<std::int64_t>(m.dims.size());
  const std::int64_t layer = 4 * m.hidden * m.hidden + 2 * m.hidden * m.ff_hidden;
  const std::int64_t parameters = dims * m.hidden + modalities * m.depth * layer +
                                  modalities * m.hidden * m.hidden + m.decoder_hidden * (modalities * m.hidden + dims);
  constexpr std::int64_t kUtterancesPerSequence = 64;  // a long IEMOCAP dialogue
  const std::int64_t activations = s.batch_size * kUtterancesPerSequence * m.hidden * m.depth * modalities * 16;
  return unit_bytes(meta.rows, dims, parameters, activations);
}

// Runs the units of `schedule` on this rank's group, then waits for every group.
// Every unit runs with resume on: a fresh start removed the old manifests first.
void run_units_in_groups(const RunScope& world, const RunInputs& in, const std::vector<WorkUnit>& units,
                         const Schedule& schedule, const GroupLayout& layout,
                         double timeout_s) {
  const int rank = world.comm->rank();
  const int group = layout.group_of(rank);
  const RunScope run{world.comm->split(group, rank), world.labels, world.strict};
  const bool leader = run.comm->rank() == 0;
  log::set_group(group, leader);
  const auto names = in.fold_names();
  MonitoredPlan monitored;
  for (std::size_t i = 0; i < units.size(); ++i) {
    monitored.unit_names.push_back(unit_name(units[i], names));
    const int g = schedule.group_of[i];
    monitored.unit_seconds.push_back(g >= 0 ? units[i].cost / layout.group_ranks[static_cast<std::size_t>(g)] : 0.0);
  }
  monitored.per_group = schedule.per_group;
  {
    RunMonitor monitor(in.dir, rank, world.comm->size(), group, leader, timeout_s, monitored);
    std::unique_ptr<PreparedFold> fold;  // the last fold this group prepared or loaded
    int fold_index = -1;
    const auto& mine = schedule.per_group[static_cast<std::size_t>(group)];
    // A stop request (SIGTERM, SIGUSR1) stops this group at its next step; the monitor
    // relays it to the other groups, and every rank leaves together below.
    bool stopped = false;
    try {
      for (std::size_t n = 0; n < mine.size(); ++n) {
        const auto i = mine[n];
        const auto& unit = units[i];
        const auto f = static_cast<std::size_t>(unit.fold);
        if (unit.kind == WorkUnit::Kind::Student) {
          // Its prepare unit may be another group's: wait for its manifest (every rank
          // reads it, so no collective waits longer than dist.timeout_s).
          const auto prepared = unit_manifest(in, WorkUnit{WorkUnit::Kind::Prepare, unit.fold, "", 0});
          // Each rank waits on its own; a stop request may end one rank's wait while
          // another sees the manifest: the group agrees before any collective.
          bool stop_now = false;
          try {
            if (!prepared.matches()) monitor.wait_until([&] { return prepared.matches(); }, names[f] + " | prepare");
          } catch (const StopRequested&) {
            stop_now = true;
          }
          auto any = torch::tensor({stop_now ? 1 : 0}, torch::kInt32);
          run.comm->allreduce(any, ReduceOp::Max)->wait();
          if (any.item<int>() != 0)
            throw StopRequested(fmt::format("stopped on {} while waiting for {} | prepare", stop_reason(), names[f]));
        }
        log::info("unit {}/{} of group {}: {}", n + 1, mine.size(), group, monitored.unit_names[i]);
        monitor.unit_started(i);
        const auto start = std::chrono::steady_clock::now();
        if (fold_index != unit.fold) {
          fold.reset();  // one fold in memory at a time
          fold = prepare_fold(run, in, f, /*resume=*/true);
          fold_index = unit.fold;
        }
        if (unit.kind == WorkUnit::Kind::Student) run_condition(run, in, f, *fold, unit.condition, /*resume=*/true);
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (leader)
          write_file_atomic(unit_record_path(in, unit),
                            nlohmann::json({{"unit", monitored.unit_names[i]},
                                            {"seconds", seconds},
                                            {"ranks", run.comm->size()},
                                            {"modelled_one_rank_s", unit.cost}})
                                    .dump() +
                                "\n");
        monitor.unit_finished(i, seconds);
      }
    } catch (const StopRequested& e) {
      stopped = true;
      monitor.relay_stop_request();  // the other groups stop at their next step
      log::info("group {} stopped: {}", group, e.what());
    }
    fold.reset();
    monitor.group_finished();
    monitor.wait_until([&] { return monitor.all_groups_finished(); }, "the other groups to finish their units",
                       /*stoppable=*/false);
    if (rank == 0) log::info("{}", monitor.progress_line());
    // Every rank learns whether any group stopped (and it is a barrier).
    auto any_stopped = torch::tensor({stopped ? 1 : 0}, torch::kInt32);
    world.comm->allreduce(any_stopped, ReduceOp::Max)->wait();
    if (any_stopped.item<int>() != 0)
      throw StopRequested(fmt::format("the units in groups stopped on {}; finished units are kept",
                                      stop_requested() ? stop_reason() : "a stop request"));
  }
  log::set_group(-1, rank == 0);
}

// Whether a finished prepare unit's artifacts can be read (rank 0). With groups, a
// damaged one must make the unit run again in one group, before any group runs one
// of its students (each would recompute the fold in the same files): its manifest is
// moved aside, and the stage that wrote the file heals it when the unit runs. (One
// group heals it in place, as the unit's stages run.)
bool prepare_artifacts_usable(const RunInputs& in, const WorkUnit& unit, bool strict) {
  const auto& s = in.settings;
  const auto f = static_cast<std::size_t>(unit.fold);
  const auto dir = in.fold_dir(f);
  try {
    if (s.finetune_features && s.finetune_epochs > 0)
      for (int m = 0; m < s.model.modalities.size(); ++m)
        check_archive(dir + "/feature_net_" + s.model.modalities.name(m) + ".pt", "model");
    load_tensors(dir + "/hardness.pt", hardness_tensor_names(s.conditions));
    if (s.retrieval)
      for (const auto& c : s.conditions) load_tensors(dir + "/curriculum_" + c + ".pt", curriculum_tensor_names());
  } catch (const RunFileError& e) {
    if (strict) throw;
    const auto manifest = unit_manifest(in, unit).path;
    move_aside(manifest);
    log::warn("{} | {}; its preparation runs again (manifest moved aside to '{}.corrupt')", in.plans[f].name,
              e.found(), manifest);
    return false;
  }
  return true;
}

// `pending` with every finished prepare unit whose artifacts are damaged marked
// pending again (rank 0 reads them; everyone gets its answer).
std::vector<bool> recheck_prepared(const RunScope& run, const RunInputs& in, const std::vector<WorkUnit>& units,
                                   std::vector<bool> pending) {
  auto flags = torch::zeros({static_cast<std::int64_t>(units.size())}, torch::kInt32);
  if (run.root())
    for (std::size_t i = 0; i < units.size(); ++i)
      if (!pending[i] && units[i].kind == WorkUnit::Kind::Prepare && !prepare_artifacts_usable(in, units[i], run.strict))
        flags[static_cast<std::int64_t>(i)] = 1;
  run.comm->broadcast(flags, 0)->wait();
  for (std::size_t i = 0; i < units.size(); ++i)
    if (flags[static_cast<std::int64_t>(i)].item<int>() != 0) pending[i] = true;
  return pending;
}

// Which units still have to run: rank 0 reads their manifests, everyone gets its answer.
std::vector<bool> pending_units(const RunScope& run, const RunInputs& in, const std::vector<WorkUnit>& units) {
  auto flags = torch::zeros({static_cast<std::int64_t>(units.size())}, torch::kInt32);
  if (run.root())
    for (std::size_t i = 0; i < units.size(); ++i) flags[static_cast<std::int64_t>(i)] = unit_manifest(in, units[i]).matches(run.strict) ? 0 : 1;
  run.comm->broadcast(flags, 0)->wait();
  std::vector<bool> pending;
  for (std::size_t i = 0; i < units.size(); ++i) pending.push_back(flags[static_cast<std::int64_t>(i)].item<int>() != 0);
  return pending;
}

// output.resume = false with groups: rank 0 removes the folds' manifests and
// checkpoints, so every unit can run with resume on and still start afresh.
void forget_earlier_run(const RunInputs& in) {
  for (std::size_t f = 0; f < in.plans.size(); ++f) {
    const auto dir = in.fold_dir(f);
    if (!fs::is_directory(dir)) continue;
    for (const auto& entry : fs::directory_iterator(dir)) {
      const auto ext = entry.path().extension();
      if (ext == ".json" || ext == ".ckpt") fs::remove(entry.path());
    }
  }
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
  run.strict = settings.strict;
  auto plans = plan_folds(reader.meta(), reader.sequences(), config.string("data.protocol"),
                          config.integers("data.folds"),
                          config.string("data.valid_from") == "speakers" ? ValidFrom::Speakers : ValidFrom::Sequences,
                          config.string("data.test_split"));

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
  results.modalities = reader.meta().modalities;
  results.targets = reader.meta().targets;
  const RunInputs in{settings, reader, plans, dir, corpus_fingerprint(path)};

  // The units, and the groups of ranks that run them.
  auto units = plan_units(settings, train_rows(plans), calibrate(run, in, plan_units(settings, train_rows(plans))));
  // A fresh start (output.resume = false) runs every unit, whatever the directory holds.
  auto pending = resume ? pending_units(run, in, units) : std::vector<bool>(units.size(), true);
  GroupSizeInputs sizing;
  sizing.world = world;
  sizing.units = 0;
  for (std::size_t i = 0; i < units.size(); ++i) sizing.units += pending[i] && units[i].kind == WorkUnit::Kind::Student;
  sizing.batch_size = settings.batch_size;
  sizing.unit_bytes = modelled_unit_bytes(settings, reader.meta());
  const auto launch = detect_launch();
  const int sharing = settings.device.is_cuda()
                          ? std::max(1, (launch.local_world + static_cast<int>(torch::cuda::device_count()) - 1) /
                                            std::max(1, static_cast<int>(torch::cuda::device_count())))
                          : launch.local_world;
  // Every rank must choose the same layout: the smallest memory of any rank decides.
  auto rank_bytes = torch::tensor({memory_per_rank(settings.device, sharing)}, torch::kInt64);
  run.comm->allreduce(rank_bytes, ReduceOp::Min)->wait();
  sizing.rank_bytes = rank_bytes.item<std::int64_t>();
  const auto layout = plan_groups(config.string("dist.group_size"), sizing);
  if (resume && layout.groups() > 1) pending = recheck_prepared(run, in, units, pending);
  const auto schedule = schedule_units(units, pending, layout.group_ranks);
  const auto to_run = static_cast<std::size_t>(std::count(pending.begin(), pending.end(), true));
  log::info("units: {} of {} to run ({} finished earlier) in {} group(s) of {} rank(s) ({}); modelled {}",
            to_run, units.size(), units.size() - to_run, layout.groups(), layout.group_size, layout.why,
            Progress::format_duration(schedule.makespan));

  if (layout.groups() > 1) {
    if (run.root()) {
      fs::remove_all(dir + "/progress");  // an earlier run's statuses and heartbeats
      if (!resume) forget_earlier_run(in);
    }
    run.barrier();
    run_units_in_groups(run, in, units, schedule, layout, config.real("dist.timeout_s"));
  }
  // One group runs everything here, as it always did; after groups, every unit has
  // finished and this loads their artifacts for the reports.
  const bool resume_all = resume || layout.groups() > 1;
  for (std::size_t f = 0; f < plans.size(); ++f) results.folds.push_back(run_fold(run, in, f, resume_all));
  write_timings_file(*run.comm, dir + "/timings.json");
  if (run.root()) {
    std::vector<std::string> fold_dirs, stages;
    for (std::size_t f = 0; f < plans.size(); ++f) fold_dirs.push_back(in.fold_dir(f));
    for (int m = 0; m < settings.model.modalities.size(); ++m) stages.push_back("features_" + settings.model.modalities.name(m));
    stages.push_back("teacher");
    for (const auto& c : settings.conditions) stages.push_back("student_" + c);
    merge_metrics(fold_dirs, stages, dir + "/metrics.csv");
    write_reports(results, dir);
  }
  return results;
}

}  // namespace hardy
