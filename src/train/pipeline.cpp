#include "train/pipeline.h"

#include "core/error.h"
#include "data/corpus_reader.h"
#include "data/validator.h"
#include "model/student_net.h"
#include "train/run_dir.h"
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

// True when `stage` finished earlier with the same inputs (dir/stage.json matches `key`).
bool stage_done(const std::string& dir, const std::string& stage, const std::string& key,
                bool resume) {
  return resume && manifest_matches(dir + "/" + stage + ".json", key);
}

void mark_done(const std::string& dir, const std::string& stage, const std::string& key) {
  Manifest m;
  m.stage = stage;
  m.key = key;
  m.complete = true;
  save_manifest(dir + "/" + stage + ".json", m);
}

// Fraction of valid supports whose label equals their query's label.
double support_label_agreement(const Curriculum& c, const torch::Tensor& labels) {
  auto valid = c.support >= 0;
  if (valid.sum().item<std::int64_t>() == 0) return NAN;
  auto query_label = labels.index_select(0, c.query).unsqueeze(1).expand_as(c.support);
  auto support_label = labels.index_select(0, c.support.clamp_min(0).reshape({-1})).view(c.support.sizes());
  return (query_label == support_label).masked_select(valid).to(torch::kFloat64).mean().item<double>();
}

const std::vector<std::string> kCurriculumFields = {"query", "hardness", "size", "candidates",
                                                    "support", "distance"};

ConditionResult run_condition(const FoldContext& ctx, const std::array<torch::Tensor, 3>& features,
                              const HardnessScores& hardness,
                              const std::map<std::string, Curriculum>& curricula,
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
  if (stage_done(ctx.dir, stage, key, resume)) {
    result.epochs = scores_from_tensor(load_tensors(scores_path, {"history"}).at("history"));
    spdlog::info("{} | student {} | done earlier (manifest matches), skipped", ctx.plan.name, condition);
  } else {
    if (!resume) fs::remove(checkpoint);
    result.epochs = train_student(ctx, features, condition, curriculum, checkpoint);
    save_tensors(scores_path, {{"history", scores_to_tensor(result.epochs)}});
    mark_done(ctx.dir, stage, key);
  }
  if (ctx.corpus.planted_hardness.defined())
    result.spearman_planted = spearman(hardness.unified.at(condition),
                                       ctx.corpus.planted_hardness.index_select(0, hardness.rows));
  if (curriculum) {
    result.k_histogram = curriculum_size_histogram(*curriculum);
    result.support_label_agreement = support_label_agreement(*curriculum, ctx.corpus.label);
  }
  return result;
}

FoldResult run_fold(const TrainSettings& s, const CorpusRows& rows, const FoldPlan& plan,
                    const std::string& dir, const std::string& corpus_key, bool resume) {
  FoldContext ctx(s, rows, plan, dir);
  fs::create_directories(dir);
  spdlog::info("{} | {} train / {} valid / {} test utterances", plan.name, ctx.train.utterances(),
               ctx.valid.utterances(), ctx.test.utterances());
  const std::string prefix = corpus_key + plan.name;

  // §0 features
  std::array<torch::Tensor, 3> features;
  std::string key = fingerprint(prefix + s.feature_key());
  if (stage_done(dir, "features", key, resume)) {
    auto t = load_tensors(dir + "/features.pt", {"audio", "text", "visual"});
    features = {t["audio"], t["text"], t["visual"]};
  } else {
    features = refine_features(ctx);
    save_tensors(dir + "/features.pt", {{"audio", features[0]}, {"text", features[1]}, {"visual", features[2]}});
    mark_done(dir, "features", key);
  }

  // §1 teacher and hardness
  HardnessScores hardness;
  key = fingerprint(prefix + s.hardness_key());
  if (stage_done(dir, "hardness", key, resume)) {
    std::vector<std::string> names{"rows"};
    for (const auto& c : s.conditions)
      for (const char* kind : {"direct_", "indirect_", "unified_"}) names.push_back(kind + c);
    auto t = load_tensors(dir + "/hardness.pt", names);
    hardness.rows = t["rows"];
    for (const auto& c : s.conditions) {
      hardness.direct[c] = t["direct_" + c];
      hardness.indirect[c] = t["indirect_" + c];
      hardness.unified[c] = t["unified_" + c];
    }
  } else {
    TeacherNet teacher(s.model);
    std::string teacher_key = fingerprint(prefix + s.teacher_key());
    if (stage_done(dir, "teacher", teacher_key, resume)) {
      load_module(dir + "/teacher.pt", *teacher);
    } else {
      if (!resume) fs::remove(dir + "/teacher.ckpt");
      teacher = train_teacher(ctx, features, dir + "/teacher.ckpt");
      save_module(dir + "/teacher.pt", *teacher);
      mark_done(dir, "teacher", teacher_key);
    }
    teacher->to(s.device);
    hardness = score_hardness(ctx, teacher, features);
    std::map<std::string, torch::Tensor> t{{"rows", hardness.rows}};
    for (const auto& c : s.conditions) {
      t["direct_" + c] = hardness.direct[c];
      t["indirect_" + c] = hardness.indirect[c];
      t["unified_" + c] = hardness.unified[c];
    }
    save_tensors(dir + "/hardness.pt", t);
    mark_done(dir, "hardness", key);
  }

  // §2 index + curriculum
  std::map<std::string, Curriculum> curricula;
  if (s.retrieval) {
    key = fingerprint(prefix + s.curriculum_key());
    if (stage_done(dir, "curriculum", key, resume)) {
      for (const auto& c : s.conditions) {
        auto t = load_tensors(dir + "/curriculum_" + c + ".pt", kCurriculumFields);
        curricula[c] = Curriculum{t["query"], t["hardness"], t["size"], t["candidates"], t["support"], t["distance"]};
      }
    } else {
      curricula = build_curricula(ctx, features, hardness);
      for (const auto& [c, cur] : curricula)
        save_tensors(dir + "/curriculum_" + c + ".pt",
                     {{"query", cur.query}, {"hardness", cur.hardness}, {"size", cur.size},
                      {"candidates", cur.candidates}, {"support", cur.support}, {"distance", cur.distance}});
      mark_done(dir, "curriculum", key);
    }
  }

  // §3 students, §4 evaluation
  FoldResult fold;
  fold.name = plan.name;
  for (const auto& c : s.conditions)
    fold.conditions.push_back(run_condition(ctx, features, hardness, curricula, c, prefix, resume));
  return fold;
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

RunResults run_pipeline(const Config& config) {
  const auto path = config.string("data.corpus");
  HARDY_THROW_IF_NOT_MSG(!path.empty(), "no corpus given: set data.corpus (or pass --corpus FILE)");
  ValidateOptions check;
  check.expect_dims = config.integers("data.expect_dims");
  auto report = validate_corpus(path, check);
  HARDY_THROW_IF_NOT_MSG(report.ok(), "the corpus is not usable:\n{}Fix the file (see hardy_dist validate) and re-run",
                         report.to_text());
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
  fs::create_directories(dir);
  write_file_atomic(dir + "/config.toml", config.to_toml());
  spdlog::info("train: corpus '{}' ({} rows, {}), {} fold(s), conditions {}, device {}, {} threads; run directory '{}'",
               path, reader.meta().rows, task_name(reader.meta().task), plans.size(),
               fmt::join(settings.conditions, ","), settings.device.str(), threads, dir);
  auto rows = reader.read_all();

  RunResults results;
  results.corpus = path;
  results.task = task_name(reader.meta().task);
  const auto corpus_key = corpus_fingerprint(path);
  for (const auto& plan : plans) {
    std::string fold_dir = dir + "/" + (plan.fold >= 0 ? fmt::format("fold{}", plan.fold) : "split");
    results.folds.push_back(run_fold(settings, rows, plan, fold_dir, corpus_key, resume));
  }
  write_reports(results, dir);
  return results;
}

}  // namespace hardy
