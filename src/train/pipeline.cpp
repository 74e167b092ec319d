#include "train/pipeline.h"

#include "core/error.h"
#include "core/fingerprint.h"
#include "data/corpus_reader.h"
#include "data/sharding.h"
#include "data/validator.h"
#include "model/spearman.h"
#include "model/student_net.h"
#include "train/data_parallel.h"
#include "train/file_io.h"
#include "train/manifest.h"
#include "train/stages.h"

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <thread>

namespace hardy {

namespace fs = std::filesystem;

namespace {

// Named tensors in one file, written atomically.
void save_tensors(const std::string& path, const std::map<std::string, torch::Tensor>& tensors) {
  torch::serialize::OutputArchive archive;
  for (const auto& [name, t] : tensors) archive.write(name, t.cpu());
  std::ostringstream bytes;
  archive.save_to(bytes);
  write_file_atomic(path, bytes.str());
}

std::map<std::string, torch::Tensor> load_tensors(const std::string& path,
                                                  const std::vector<std::string>& names) {
  torch::serialize::InputArchive archive;
  std::map<std::string, torch::Tensor> out;
  try {
    archive.load_from(path);
    for (const auto& name : names) archive.read(name, out[name]);
  } catch (const c10::Error& e) {
    HARDY_THROW_MSG("cannot read artifact '{}' ({}); delete it and re-run to recompute it", path,
                    e.what_without_backtrace());
  }
  return out;
}

void save_module(const std::string& path, torch::nn::Module& module) {
  torch::serialize::OutputArchive archive;
  module.save(archive);
  std::ostringstream bytes;
  archive.save_to(bytes);
  write_file_atomic(path, bytes.str());
}

void load_module(const std::string& path, torch::nn::Module& module) {
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path);
    module.load(archive);
  } catch (const c10::Error& e) {
    HARDY_THROW_MSG("cannot read model '{}' ({}); delete it and re-run", path,
                    e.what_without_backtrace());
  }
}

// Identifies the corpus contents cheaply: path, size and modification time.
std::string corpus_fingerprint(const std::string& path) {
  auto time = fs::last_write_time(path).time_since_epoch().count();
  return fmt::format("{}:{}:{}", fs::absolute(path).string(), fs::file_size(path), time);
}

// Everything of one run that is not per fold: the communicator (null on one process)
// and the per-row columns reports need for every row (labels, planted hardness).
struct RunScope {
  std::shared_ptr<Communicator> comm;
  CorpusRows labels;  // every row of the corpus, without features
  bool root() const { return !comm || comm->rank() == 0; }
  void barrier() const {
    if (comm) comm->barrier();
  }
  // Rank 0's value of `decision`, on every rank: stage skips are decided once.
  bool agree(bool decision) const {
    if (!comm) return decision;
    auto t = torch::tensor({decision ? 1 : 0}, torch::kInt32);
    comm->broadcast(t, 0)->wait();
    return t.item<int>() != 0;
  }
};

// True when `stage` finished earlier with the same inputs (dir/stage.json matches `key`).
bool stage_done(const RunScope& run, const std::string& dir, const std::string& stage,
                const std::string& key, bool resume) {
  return run.agree(run.root() && resume && manifest_matches(dir + "/" + stage + ".json", key));
}

void mark_done(const RunScope& run, const std::string& dir, const std::string& stage,
               const std::string& key) {
  if (!run.root()) return;
  Manifest m;
  m.stage = stage;
  m.key = key;
  m.complete = true;
  save_manifest(dir + "/" + stage + ".json", m);
}

// Starts a stage with an epoch checkpoint afresh (resume off): rank 0 removes the
// checkpoint before any rank can read it.
void discard_checkpoint(const RunScope& run, const std::string& path) {
  if (run.root()) fs::remove(path);
  run.barrier();
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

const std::vector<std::string> kCurriculumFields = {"query", "hardness", "size", "candidates",
                                                    "support", "distance"};

// Artifacts hold every rank's rows, keyed by global id, so a run resumes with any
// number of ranks. Gathering and selecting:
HardnessScores gather_hardness(const FoldContext& ctx, const HardnessScores& mine) {
  HardnessScores all;
  all.rows = gather_rows(ctx, ctx.global_ids(mine.rows));
  for (const auto& c : ctx.settings.conditions) {
    all.direct[c] = gather_rows(ctx, mine.direct.at(c));
    all.indirect[c] = gather_rows(ctx, mine.indirect.at(c));
    all.unified[c] = gather_rows(ctx, mine.unified.at(c));
  }
  return all;
}

// This rank's training rows of `all` (rows as global ids), rows as table rows again.
HardnessScores select_hardness(const FoldContext& ctx, const HardnessScores& all) {
  HardnessScores mine;
  mine.rows = ctx.train.rows();
  auto sorted = all.rows.sort();
  const auto& ids = std::get<0>(sorted);
  auto wanted = ctx.global_ids(mine.rows);
  auto pos = torch::searchsorted(ids, wanted).clamp_max(std::max<std::int64_t>(ids.numel() - 1, 0));
  HARDY_THROW_IF_NOT_MSG(wanted.numel() == 0 || (ids.numel() > 0 && ids.index_select(0, pos).equal(wanted)),
                         "{}: the saved hardness scores ('{}/hardness.pt') do not cover this rank's "
                         "training rows; delete it and re-run",
                         ctx.plan.name, ctx.dir);
  auto at = std::get<1>(sorted).index_select(0, pos);
  for (const auto& c : ctx.settings.conditions) {
    mine.direct[c] = all.direct.at(c).index_select(0, at);
    mine.indirect[c] = all.indirect.at(c).index_select(0, at);
    mine.unified[c] = all.unified.at(c).index_select(0, at);
  }
  return mine;
}

Curriculum gather_curriculum(const FoldContext& ctx, const Curriculum& c) {
  return Curriculum{gather_rows(ctx, c.query), gather_rows(ctx, c.hardness), gather_rows(ctx, c.size),
                    gather_rows(ctx, c.candidates), gather_rows(ctx, c.support),
                    gather_rows(ctx, c.distance)};
}

Curriculum select_curriculum(const FoldContext& ctx, const Curriculum& c) {
  if (!ctx.sharded()) return c;
  auto mine = torch::isin(c.query, ctx.global_ids(ctx.train.rows())).nonzero().view({-1});
  return Curriculum{c.query.index_select(0, mine), c.hardness.index_select(0, mine),
                    c.size.index_select(0, mine), c.candidates.index_select(0, mine),
                    c.support.index_select(0, mine), c.distance.index_select(0, mine)};
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
  std::string stage = "student_" + condition;
  std::string key = fingerprint(key_prefix + s.student_key() + condition);
  std::string scores_path = ctx.dir + "/" + stage + "_scores.pt";
  std::string checkpoint = ctx.dir + "/" + stage + ".ckpt";
  if (stage_done(run, ctx.dir, stage, key, resume)) {
    result.epochs = scores_from_tensor(load_tensors(scores_path, {"history"}).at("history"));
    spdlog::info("{} | student {} | done earlier (manifest matches), skipped", ctx.plan.name, condition);
  } else {
    if (!resume) discard_checkpoint(run, checkpoint);
    result.epochs = train_student(ctx, features, condition, curriculum, checkpoint);
    if (run.root()) save_tensors(scores_path, {{"history", scores_to_tensor(result.epochs)}});
    mark_done(run, ctx.dir, stage, key);
  }
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

FoldResult run_fold(const RunScope& run, const TrainSettings& s, const FoldContext& ctx,
                    const std::string& corpus_key, bool resume) {
  const auto& dir = ctx.dir;
  const auto& plan = ctx.plan;
  if (run.root()) fs::create_directories(dir);
  run.barrier();
  spdlog::info("{} | {} train / {} valid / {} test utterances{}", plan.name, train_utterances(ctx),
               ctx.valid.utterances(), ctx.test.utterances(),
               ctx.sharded() ? fmt::format(" (valid/test: this rank's; {} ranks)", ctx.comm->size()) : "");
  const std::string prefix = corpus_key + plan.name;

  // §0 features: the feature nets are the artifact; every rank refines its own rows.
  std::array<torch::Tensor, 3> features;
  std::string key = fingerprint(prefix + s.feature_key() + "feature-nets");
  const bool finetune = s.finetune_features && s.finetune_epochs > 0;
  if (!finetune) {
    features = refined_features(ctx, nullptr);
  } else if (stage_done(run, dir, "features", key, resume)) {
    std::array<FeatureNet, 3> nets{FeatureNet(ctx.corpus.features[0].size(1), s.model.outputs),
                                   FeatureNet(ctx.corpus.features[1].size(1), s.model.outputs),
                                   FeatureNet(ctx.corpus.features[2].size(1), s.model.outputs)};
    const char* names[] = {"audio", "text", "visual"};
    for (int m = 0; m < 3; ++m) load_module(dir + "/feature_net_" + names[m] + ".pt", *nets[static_cast<size_t>(m)]);
    features = refined_features(ctx, &nets);
  } else {
    auto nets = train_feature_nets(ctx);
    const char* names[] = {"audio", "text", "visual"};
    if (run.root())
      for (int m = 0; m < 3; ++m) save_module(dir + "/feature_net_" + names[m] + ".pt", *nets[static_cast<size_t>(m)]);
    features = refined_features(ctx, &nets);
    mark_done(run, dir, "features", key);
  }

  // §1 teacher and hardness
  HardnessScores hardness, all_hardness;
  key = fingerprint(prefix + s.hardness_key());
  if (stage_done(run, dir, "hardness", key, resume)) {
    std::vector<std::string> names{"rows"};
    for (const auto& c : s.conditions)
      for (const char* kind : {"direct_", "indirect_", "unified_"}) names.push_back(kind + c);
    auto t = load_tensors(dir + "/hardness.pt", names);
    all_hardness.rows = t["rows"];
    for (const auto& c : s.conditions) {
      all_hardness.direct[c] = t["direct_" + c];
      all_hardness.indirect[c] = t["indirect_" + c];
      all_hardness.unified[c] = t["unified_" + c];
    }
    hardness = select_hardness(ctx, all_hardness);
  } else {
    TeacherNet teacher(s.model);
    std::string teacher_key = fingerprint(prefix + s.teacher_key());
    if (stage_done(run, dir, "teacher", teacher_key, resume)) {
      load_module(dir + "/teacher.pt", *teacher);
    } else {
      if (!resume) discard_checkpoint(run, dir + "/teacher.ckpt");
      teacher = train_teacher(ctx, features, dir + "/teacher.ckpt");
      if (run.root()) save_module(dir + "/teacher.pt", *teacher);
      mark_done(run, dir, "teacher", teacher_key);
    }
    teacher->to(s.device);
    hardness = timed(stage_times("hardness").compute_s, [&] { return score_hardness(ctx, teacher, features); });
    all_hardness = gather_hardness(ctx, hardness);
    std::map<std::string, torch::Tensor> t{{"rows", all_hardness.rows}};
    for (const auto& c : s.conditions) {
      t["direct_" + c] = all_hardness.direct[c];
      t["indirect_" + c] = all_hardness.indirect[c];
      t["unified_" + c] = all_hardness.unified[c];
    }
    if (run.root()) save_tensors(dir + "/hardness.pt", t);
    mark_done(run, dir, "hardness", key);
  }

  // §2 index + curriculum
  std::map<std::string, Curriculum> curricula, all_curricula;
  if (s.retrieval) {
    key = fingerprint(prefix + s.curriculum_key());
    if (stage_done(run, dir, "curriculum", key, resume)) {
      for (const auto& c : s.conditions) {
        auto t = load_tensors(dir + "/curriculum_" + c + ".pt", kCurriculumFields);
        all_curricula[c] = Curriculum{t["query"], t["hardness"], t["size"], t["candidates"], t["support"], t["distance"]};
        curricula[c] = select_curriculum(ctx, all_curricula[c]);
      }
    } else {
      curricula = timed(stage_times("curriculum").exchange_s, [&] { return build_curricula(ctx, features, hardness); });
      for (const auto& [c, cur] : curricula) {
        const auto& all = all_curricula[c] = gather_curriculum(ctx, cur);
        if (run.root())
          save_tensors(dir + "/curriculum_" + c + ".pt",
                       {{"query", all.query}, {"hardness", all.hardness}, {"size", all.size},
                        {"candidates", all.candidates}, {"support", all.support}, {"distance", all.distance}});
      }
      mark_done(run, dir, "curriculum", key);
    }
  }

  // §3 students, §4 evaluation
  FoldResult fold;
  fold.name = plan.name;
  for (const auto& c : s.conditions)
    fold.conditions.push_back(
        run_condition(run, ctx, features, all_hardness, curricula, all_curricula, c, prefix, resume));
  return fold;
}

// Every rank's stage times, the maximum over ranks per field, written by rank 0 as
// <output.dir>/timings.json (what bench/README.md's per-step split reads).
void write_timings(const RunScope& run, const std::string& dir) {
  std::ostringstream out;
  out << "{\n  \"ranks\": " << (run.comm ? run.comm->size() : 1) << ",\n  \"stages\": {";
  bool first = true;
  for (const auto& [stage, t] : all_stage_times()) {
    auto v = torch::tensor({t.data_s, t.compute_s, t.grad_sync_s, t.exchange_s, static_cast<double>(t.steps)},
                           torch::kFloat64);
    if (run.comm) run.comm->allreduce(v, ReduceOp::Max)->wait();
    auto* p = v.data_ptr<double>();
    out << (first ? "" : ",") << "\n    \"" << stage << "\": {\"data_s\": " << p[0]
        << ", \"compute_s\": " << p[1] << ", \"grad_sync_s\": " << p[2] << ", \"exchange_s\": " << p[3]
        << ", \"steps\": " << static_cast<std::int64_t>(p[4]) << "}";
    first = false;
  }
  out << "\n  }\n}\n";
  if (run.root()) write_file_atomic(dir + "/timings.json", out.str());
}

// LibTorch's intra-op threads and OpenBLAS's own thread pool together oversubscribe
// the cores: on 2 cores the demo ran 2.9× slower (bench/README.md). Unless the user
// chose OPENBLAS_NUM_THREADS, OpenBLAS gets one thread. Looked up at run time, so
// builds against another BLAS are unaffected.
void limit_blas_threads() {
  if (std::getenv("OPENBLAS_NUM_THREADS")) return;
  using SetThreads = void (*)(int);
  if (auto set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
    set(1);
}

}  // namespace

RunResults run_pipeline(const Config& config, std::shared_ptr<Communicator> comm) {
  if (comm && comm->size() == 1) comm = nullptr;  // one rank: the single-process path
  RunScope run{comm, {}};
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
  auto threads = config.integer("training.threads");
  if (threads <= 0) threads = std::max<std::int64_t>(1, std::thread::hardware_concurrency());
  torch::set_num_threads(static_cast<int>(threads));
  limit_blas_threads();

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
  const int world = comm ? comm->size() : 1;
  spdlog::info("train: corpus '{}' ({} rows, {}), {} fold(s), conditions {}, device {}, {} threads{}; run directory '{}'",
               path, reader.meta().rows, task_name(reader.meta().task), plans.size(),
               fmt::join(settings.conditions, ","), settings.device.str(), threads,
               world > 1 ? fmt::format(" per rank, {} ranks", world) : "", dir);
  // One process reads the whole corpus; a rank reads its rows per fold, plus every
  // row's label and planted hardness (no features) for the reports.
  CorpusRows all_rows;
  if (comm)
    run.labels = reader.read_rows({RowRange{0, reader.meta().rows}}, /*with_features=*/false);
  else
    run.labels = all_rows = reader.read_all();

  RunResults results;
  results.corpus = path;
  results.task = task_name(reader.meta().task);
  const auto corpus_key = corpus_fingerprint(path);
  for (const auto& plan : plans) {
    std::string fold_dir = dir + "/" + (plan.fold >= 0 ? fmt::format("fold{}", plan.fold) : "split");
    if (comm) {
      auto shard = shard_fold(reader, plan, comm->rank(), comm->size());
      FoldContext ctx(settings, shard.rows, shard.plan, fold_dir, comm, plan.train);
      results.folds.push_back(run_fold(run, settings, ctx, corpus_key, resume));
    } else {
      FoldContext ctx(settings, all_rows, plan, fold_dir);
      results.folds.push_back(run_fold(run, settings, ctx, corpus_key, resume));
    }
  }
  write_timings(run, dir);
  if (run.root()) write_reports(results, dir);
  return results;
}

}  // namespace hardy
