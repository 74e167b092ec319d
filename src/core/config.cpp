#include "core/config.h"
#include "core/quoted.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <type_traits>
#include <unordered_map>
#include <utility>

#include "core/error.h"

namespace hardy {

// ---------------------------------------------------------------------------------------
// The schema: the one place where a setting is declared.
// ---------------------------------------------------------------------------------------
namespace {

// Row builders, so that each schema row is one readable line. (A Value cannot be built
// from a plain int literal: int64_t, double and bool would be equally good conversions.)
KeySpec key_int(const char* key, std::int64_t def, double min, double max, const char* doc) {
  return {key, ValueType::Integer, def, doc, min, max, {}};
}
KeySpec key_real(const char* key, double def, double min, double max, const char* doc) {
  return {key, ValueType::Real, def, doc, min, max, {}};
}
KeySpec key_bool(const char* key, bool def, const char* doc) {
  return {key, ValueType::Boolean, def, doc, std::nullopt, std::nullopt, {}};
}
KeySpec key_str(const char* key, const char* def, std::vector<std::string> choices,
                const char* doc) {
  return {key, ValueType::String, std::string(def), doc, std::nullopt, std::nullopt,
          std::move(choices)};
}
// A string key whose value may also be a count: "auto" or 4 (dist.group_size).
KeySpec key_str_or_int(const char* key, const char* def, const char* doc) {
  KeySpec spec = key_str(key, def, {}, doc);
  spec.takes_integer = true;
  return spec;
}
KeySpec key_ints(const char* key, std::vector<std::int64_t> def, std::optional<double> min,
                 std::optional<double> max, const char* doc) {
  return {key, ValueType::IntegerList, std::move(def), doc, min, max, {}};
}
KeySpec key_reals(const char* key, std::vector<double> def, std::optional<double> min, std::optional<double> max,
                  const char* doc) {
  return {key, ValueType::RealList, std::move(def), doc, min, max, {}};
}
KeySpec key_strs(const char* key, std::vector<std::string> def, std::vector<std::string> choices,
                 const char* doc) {
  return {key, ValueType::StringList, std::move(def), doc, std::nullopt, std::nullopt,
          std::move(choices)};
}

// Seeds are kept below 2^62 so that derived per-rank/per-fold seeds cannot overflow.
const double kMaxSeed = static_cast<double>(std::int64_t{1} << 62);

}  // namespace

const std::vector<KeySpec>& config_schema() {
  // clang-format off
  static const std::vector<KeySpec> schema = {
    // ---- [data] ----
    key_str ("data.corpus", "", {}, "path of the HDF5 corpus (relative to the working directory)"),
    key_ints("data.expect_dims", {}, 1, std::nullopt, "if set, the feature dim of each of the corpus's modalities, in its order (e.g. [Da, Dt, Dv])"),
    key_str ("data.protocol", "auto", {"auto", "folds", "split"}, "auto = leave-one-fold-out CV when the corpus has folds, else its train/valid/test split; folds or split force one"),
    key_ints("data.folds", {}, 0, 126, "folds to run (each is held out once), empty = all"),
    key_str ("data.test_split", "", {}, "split protocol: the test partition to evaluate, by the corpus's split_names (e.g. \"test1\" of MSP-Podcast's test1/test2/test3); empty = every test partition"),
    key_str ("data.valid_from", "sequences", {"sequences", "speakers"}, "where validation comes from when the corpus has no valid split: every 10th training sequence, or the sequences of every 10th training speaker (speaker-independent validation; needs a speaker dataset)"),
    key_strs("data.conditions", {}, {}, "conditions (available modalities, in the corpus's modality codes, e.g. \"at\") to train and evaluate, one student each; empty = every missing-modality condition of the corpus and the complete one (a, t, v, at, av, tv, atv for audio/text/visual); the report averages the missing-modality ones and shows the complete one apart"),
    // ---- [synth] ----
    key_str ("synth.out", "runs/demo/corpus.h5", {}, "output path of the synthetic corpus"),
    key_int ("synth.dialogues", 120, 1, 1e9, "number of sequences (dialogues)"),
    key_int ("synth.utterances", 0, 0, 1e12, "if > 0, generate dialogues until exactly this many utterances (overrides synth.dialogues)"),
    key_int ("synth.min_length", 8, 1, 100000, "fewest utterances per dialogue (lengths are uniform in [min_length, max_length])"),
    key_int ("synth.max_length", 40, 1, 100000, "most utterances per dialogue"),
    key_int ("synth.classes", 4, 2, 64, "number of emotion classes"),
    key_str ("synth.task", "classification", {"classification", "sentiment", "regression"}, "integer class labels (classification), one score in [-3, 3] (sentiment) or named targets on [1, 7] that follow the hidden class (regression)"),
    key_strs("synth.targets", {"arousal", "valence", "dominance"}, {}, "regression: the target names, one label column each"),
    key_reals("synth.class_prior", {}, 0, 1e9, "relative frequency of each hidden class (e.g. [8, 1, 1, 1] for a dominant neutral class); empty = uniform"),
    key_int ("synth.speakers", 0, 0, 1e9, "0 = two speakers per dialogue (ids 0 and 1); N > 0 = a pool of N speakers whose ids and voices recur across dialogues"),
    key_strs("synth.split_names", {}, {}, "official-style partitions: names of split codes 0, 1, 2, ... (train, valid, then test partitions, e.g. [\"train\", \"valid\", \"test1\", \"test2\", \"test3\"]); empty = train/valid/test by dialogue decile (8/1/1)"),
    key_reals("synth.split_fractions", {}, 0, 1, "with synth.split_names: the fraction of dialogues in each partition (one per name, summing to 1)"),
    key_strs("synth.modalities", {"audio", "text", "visual"}, {}, "feature datasets to write, in order (two or more; e.g. [\"audio\", \"text\"] for an MSP-Podcast-shaped corpus)"),
    key_str ("synth.modality_codes", "", {}, "one letter per synth.modalities entry, used in condition names; empty = each name's first letter"),
    key_ints("synth.dims", {512, 1024, 1024}, 1, 65536, "feature dim of each of synth.modalities (default: the public audio, text, visual feature sizes)"),
    key_int ("synth.folds", 5, 2, 127, "number of folds in the corpus' fold dataset"),
    key_real("synth.conflict_rate", 0.1, 0, 1, "probability a modality carries another class's pattern"),
    key_real("synth.noise_rate", 0.1, 0, 1, "probability a modality is near-pure noise"),
    key_real("synth.signal", 1.0, 0, 100, "class-pattern amplitude relative to unit noise"),
    key_int ("synth.seed", 1234, 0, kMaxSeed, "random seed of the generator"),
    key_str ("synth.name", "synthetic", {}, "corpus name stored in the file"),
    // ---- [model] ----
    key_int ("model.hidden", 256, 8, 8192, "width of the modality encoders (divisible by model.heads)"),
    key_int ("model.depth", 4, 1, 64, "Transformer layers per modality encoder"),
    key_int ("model.heads", 2, 1, 64, "attention heads per Transformer layer"),
    key_int ("model.ff_hidden", 1024, 8, 65536, "Transformer feed-forward width"),
    key_real("model.dropout", 0.5, 0, 0.95, "dropout probability"),
    key_int ("model.decoder_hidden", 1024, 8, 65536, "reconstruction decoder width (authors: 1024)"),
    // ---- [hardness] ----
    key_bool("hardness.use_direct_hardness", true, "use the direct hardness Hd (reconstruction error of the missing modalities); false = ablation \"w/o Hd\""),
    key_bool("hardness.use_indirect_hardness", true, "use the indirect hardness Hi (cross-modal mutual information); false = ablation \"w/o Hi\""),
    key_real("hardness.alpha", 0.6, 0, 100, "weight α of the normalised direct hardness"),
    key_real("hardness.beta", 0.4, 0, 100, "weight β of the normalised indirect hardness"),
    key_real("hardness.gamma", 4.0, 0, 1000, "sharpness γ of the sigmoid in H = σ(γ(αĤd+βĤi))"),
    key_str ("hardness.normalization", "dataset", {"dataset", "batch", "rank"}, "min-max normalisation of Hd and Hi over the whole training set (all ranks) or per batch (authors' code); rank = Hd and Hi replaced by their rank quantiles over the training set and H by the rank quantile of αĤd+βĤi (no sigmoid), so K_q spreads evenly over K_min..K (exact at any number of ranks)"),
    key_bool("hardness.per_sequence", true, "score each training sequence in its own forward pass, so hardness does not depend on how sequences are batched or sharded (identical curriculum at any number of ranks); false = passes of up to 1,024 utterances of sequences of equal length (no padding; ~25x faster on single-turn corpora such as MSP-Podcast), equal only up to float rounding"),
    key_bool("hardness.centered", false, "use σ(γ(αĤd+βĤi−(α+β)/2)) so K_q spans 1..K"),
    key_bool("hardness.permute", false, "a control: each condition's hardness scores shuffled over the training samples (seeded by training.seed), so the K_q histogram is kept and only which sample gets which K_q is lost; the hardness artifact is shared with the unpermuted run"),
    // ---- [retrieval] ----
    key_bool("retrieval.enabled", true, "false = stage 2 trains on the original samples only (ablation \"w/o retrieval\")"),
    key_int ("retrieval.top_k", 3, 1, 1024, "K: most supports per sample"),
    key_int ("retrieval.k_min", 1, 0, 1024, "K_min: fewest supports per sample, K_q = ⌊H·(K+1−K_min)+K_min⌋"),
    key_bool("retrieval.dynamic_k", true, "false gives every sample K supports (ablation \"w/o hardness\")"),
    key_bool("retrieval.random_supports", false, "a control: each sample's K_q supports replaced by training samples drawn at random (seeded by training.seed; never the sample itself): augmentation without similarity"),
    key_str ("retrieval.index", "flat", {"flat", "ivf", "hnsw"}, "FAISS index: exact (flat) or approximate (ivf, hnsw)"),
    key_str ("retrieval.device", "auto", {"auto", "cpu", "cuda"}, "where each rank searches its shard: auto = the training device"),
    key_str ("retrieval.engine", "auto", {"auto", "faiss", "torch"}, "exact-search candidates from FAISS (CPU) or a LibTorch GEMM + top-k (any device); auto = torch on CUDA, else faiss; both give identical curricula"),
    key_str ("retrieval.metric_audio", "l2", {"l2", "ip"}, "audio distance: Euclidean (l2) or inner product (ip)"),
    key_str ("retrieval.metric_text", "ip", {"l2", "ip"}, "text distance (text features are L2-normalised, so ip = cosine)"),
    key_str ("retrieval.metric_visual", "l2", {"l2", "ip"}, "visual distance"),
    key_str ("retrieval.metric_other", "l2", {"l2", "ip"}, "distance of any modality other than audio, text and visual"),
    key_int ("retrieval.ivf_nlist", 0, 0, 1e7, "IVF lists, 0 = auto (≈4·sqrt(N))"),
    key_int ("retrieval.ivf_nprobe", 16, 1, 1e6, "IVF lists probed per query"),
    key_int ("retrieval.hnsw_m", 32, 4, 256, "HNSW links per node"),
    key_int ("retrieval.hnsw_ef_search", 64, 1, 1e6, "HNSW search breadth"),
    key_int ("retrieval.query_batch", 4096, 1, 1e7, "queries each rank searches per round; a round holds ranks × query_batch query vectors on every rank"),
    key_bool("retrieval.replicate_features", false, "every rank holds all training features (more memory, no feature exchange)"),
    // ---- [training] ----
    key_bool("training.finetune_features", true, "refine the input features with fine-tuned feature networks; false = ablation \"w/o fine-tuned features\""),
    key_int ("training.finetune_epochs", 20, 0, 100000, "epochs of the feature networks"),
    key_real("training.finetune_lr", 1e-3, 0, 10, "learning rate of the feature networks"),
    key_int ("training.teacher_epochs", 200, 0, 100000, "teacher epochs, both stages"),
    key_int ("training.teacher_stage1_epochs", 100, 0, 100000, "first teacher epochs, on complete modalities"),
    key_int ("training.student_epochs", 50, 0, 100000, "student epochs per condition, both stages"),
    key_int ("training.student_stage1_epochs", 25, 0, 100000, "first student epochs (pre-training on complete modalities)"),
    key_int ("training.batch_size", 16, 1, 1e6, "sequences per global batch"),
    key_real("training.lr", 1e-4, 0, 10, "Adam learning rate of teacher and students"),
    key_real("training.weight_decay", 1e-5, 0, 10, "Adam weight decay"),
    key_real("training.lambda_mi", 0.001, 0, 1000, "weight λ_MI of the mutual-information loss (teacher stage 1)"),
    key_str ("training.support_label", "query", {"query", "own"}, "label of a support view: the query's (authors' code) or the support's own"),
    key_bool("training.merge_views", false, "one optimizer step per batch over all K+1 views instead of one per view"),
    key_str ("training.class_weights", "none", {"none", "inverse_frequency"}, "classification losses of every stage: none, or each utterance weighted by N / (C · n_c) of its class over the fold's training labels (for imbalanced corpora)"),
    key_str ("training.regression_loss", "ccc", {"ccc", "mse"}, "regression corpora, every stage: 1 - mean over targets of the concordance correlation coefficient of the global batch (ccc), or the squared error averaged over targets and utterances (mse); docs/algorithm.md, \"Regression\""),
    key_int ("training.seed", 42, 0, kMaxSeed, "random seed (initialisation, shuffling, dropout)"),
    key_str ("training.device", "auto", {"auto", "cpu", "cuda"}, "auto = CUDA when available, else CPU"),
    key_int ("training.threads", 0, 0, 1024, "intra-op threads per rank, 0 = cores / local ranks"),
    // ---- [dist] ----
    key_str ("dist.backend", "auto", {"auto", "mpi", "nccl"}, "collectives: auto = NCCL for CUDA tensors when available, else MPI"),
    key_real("dist.bucket_mb", 25, 0.001, 4096, "gradient bucket size in MiB (2^20 bytes, as DDP's bucket_cap_mb)"),
    key_real("dist.first_bucket_mb", 1, 0.001, 4096, "size in MiB of the first gradient bucket (the last layers), so its allreduce starts early in backward; capped at dist.bucket_mb"),
    key_bool("dist.overlap", true, "overlap gradient allreduce with backward"),
    key_bool("dist.bucket_view", true, "gradients are views into the allreduce buckets (DDP's gradient_as_bucket_view): no copy into or out of the buckets"),
    key_str ("dist.grad_dtype", "float32", {"float32", "bfloat16"}, "dtype gradients travel in: bfloat16 halves the bytes (compressed before the allreduce, decompressed after; not bit-exact against float32 or one process)"),
    key_str_or_int("dist.group_size", "auto", "ranks per group: each group trains one (fold, condition) unit at a time, data-parallel inside the group; auto = one rank per unit unless a unit would not fit a rank's memory or ranks would idle (docs/data-parallel.md, \"Groups and units\")"),
    key_real("dist.timeout_s", 300, 1, 86400, "a peer silent this long is declared lost"),
    key_int ("dist.checksum_every", 0, 0, 1e9, "verify parameters are identical on all ranks every N steps (0 = off)"),
    // ---- [output] ----
    key_str ("output.dir", "runs/default", {}, "run directory"),
    key_str ("output.log_level", "info", {"trace", "debug", "info", "warn", "error", "off"}, "log level"),
    key_bool("output.log_all_ranks", false, "every rank logs at log_level (false: ranks other than 0 log warnings and errors only)"),
    key_bool("output.resume", true, "skip finished stages and resume interrupted ones"),
    key_bool("output.strict", false, "a damaged file of the run directory (a manifest, artifact or checkpoint that is missing, truncated or does not match) stops the run with an error (true), instead of being moved aside to <file>.corrupt with a warning and recomputed (false)"),
    key_real("output.checkpoint_minutes", 10, 0, 1e6, "during teacher and student epochs, also checkpoint mid-epoch once this many minutes have passed since the last checkpoint, so a killed run loses at most that much work (0 = epoch checkpoints only)"),
    key_bool("output.plots", true, "at the end of train and ablate, draw PNG figures into <output.dir>/plots with gnuplot and link them from results.md / ablation.md (a warning, not an error, where gnuplot is missing)"),
    // ---- [ablation] (hardy_dist ablate; docs/ablation.md) ----
    key_int ("ablation.seeds", 3, 1, 1000, "runs per row: training.seed, training.seed + 1, ...; every difference is paired by seed and fold"),
    key_strs("ablation.rows", {}, {}, "rows to run (full is always run, first): built-in full, no_direct, no_indirect, fixed_k, centered, no_retrieval, no_finetune, permuted_hardness, random_supports, or names from ablation.extra_rows; empty = every built-in and extra row"),
    key_strs("ablation.extra_rows", {}, {}, "your own rows, each \"name: key=value; key=value\" (config overrides), e.g. [\"k5: retrieval.top_k=5\"]"),
  };
  // clang-format on
  return schema;
}

namespace {

// key -> position in config_schema(); Config stores its values in the same order.
const std::unordered_map<std::string, std::size_t>& key_index() {
  static const std::unordered_map<std::string, std::size_t> index = [] {
    std::unordered_map<std::string, std::size_t> map;
    const auto& schema = config_schema();
    for (std::size_t i = 0; i < schema.size(); ++i) map.emplace(schema[i].key, i);
    return map;
  }();
  return index;
}

std::optional<std::size_t> lookup(const std::string& key) {
  auto it = key_index().find(key);
  if (it == key_index().end()) return std::nullopt;
  return it->second;
}

std::string section_of(const std::string& key) { return key.substr(0, key.find('.')); }
std::string name_of(const std::string& key) { return key.substr(key.find('.') + 1); }

bool is_section(const std::string& name) {
  const auto& schema = config_schema();
  return std::any_of(schema.begin(), schema.end(),
                     [&](const KeySpec& s) { return section_of(s.key) == name; });
}

// Sections in schema order.
std::vector<std::string> sections() {
  std::vector<std::string> out;
  for (const auto& spec : config_schema())
    if (out.empty() || out.back() != section_of(spec.key)) out.push_back(section_of(spec.key));
  return out;
}

// ---------------------------------------------------------------------------------------
// "Did you mean" for unknown keys.
// ---------------------------------------------------------------------------------------

// Edit distance counting an adjacent transposition as one edit ("modle" -> "model").
std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

// The known key (or section) closest to `key`, if it is plausibly a typo: within edit
// distance 2, or the same name in another section ("model.top_k" -> "retrieval.top_k";
// "top_k" at the top level -> "retrieval.top_k").
std::optional<std::string> closest_key(const std::string& key) {
  std::vector<std::string> candidates = sections();
  for (const auto& spec : config_schema()) candidates.push_back(spec.key);
  std::optional<std::string> best;
  std::size_t best_distance = 3;  // suggest only below this
  for (const auto& candidate : candidates) {
    std::size_t distance = edit_distance(key, candidate);
    if (distance < best_distance) best = candidate, best_distance = distance;
  }
  if (best) return best;
  for (const auto& spec : config_schema())
    if (name_of(spec.key) == name_of(key)) return spec.key;
  return std::nullopt;
}

std::string unknown_key_message(const std::string& where, const std::string& key) {
  auto suggestion = closest_key(key);
  if (suggestion) return fmt::format("{}: unknown key '{}' (did you mean '{}'?)", where, key, *suggestion);
  return fmt::format("{}: unknown key '{}'; see docs/config.md for the keys", where, key);
}

// ---------------------------------------------------------------------------------------
// Formatting values as TOML (used by to_toml, messages and the Markdown reference).
// ---------------------------------------------------------------------------------------

// Shortest text that reads back to the same double, always with a '.' or an exponent so
// that it stays a TOML float.
std::string format_real(double v) {
  std::string s = fmt::format("{}", v);
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";  // 'n': inf, nan
  return s;
}

template <typename T, typename F>
std::string format_list(const std::vector<T>& items, F format_item) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + format_item(items[i]);
  return out + "]";
}

std::string format_value(const Value& value) {
  struct Formatter {
    std::string operator()(std::int64_t v) const { return std::to_string(v); }
    std::string operator()(double v) const { return format_real(v); }
    std::string operator()(bool v) const { return v ? "true" : "false"; }
    std::string operator()(const std::string& v) const { return quoted_string(v); }
    std::string operator()(const std::vector<std::int64_t>& v) const {
      return format_list(v, [](std::int64_t x) { return std::to_string(x); });
    }
    std::string operator()(const std::vector<double>& v) const { return format_list(v, format_real); }
    std::string operator()(const std::vector<std::string>& v) const { return format_list(v, quoted_string); }
  };
  return std::visit(Formatter{}, value);
}

bool is_integral(ValueType t) { return t == ValueType::Integer || t == ValueType::IntegerList; }
bool is_list(ValueType t) {
  return t == ValueType::IntegerList || t == ValueType::RealList || t == ValueType::StringList;
}

// The element type of a list type; scalar types are their own element type.
ValueType element_type(ValueType t) {
  switch (t) {
    case ValueType::IntegerList: return ValueType::Integer;
    case ValueType::RealList: return ValueType::Real;
    case ValueType::StringList: return ValueType::String;
    default: return t;
  }
}

// The accessor that reads a key of type t, for messages.
const char* accessor_for(ValueType t) {
  switch (t) {
    case ValueType::Integer: return "integer() or real()";
    case ValueType::Real: return "real()";
    case ValueType::Boolean: return "boolean()";
    case ValueType::String: return "string()";
    case ValueType::IntegerList: return "integers() or reals()";
    case ValueType::RealList: return "reals()";
    case ValueType::StringList: return "strings()";
  }
  return "?";
}

const char* type_name(ValueType t) {
  switch (t) {
    case ValueType::Integer: return "integer";
    case ValueType::Real: return "real";
    case ValueType::Boolean: return "boolean";
    case ValueType::String: return "string";
    case ValueType::IntegerList: return "integer list";
    case ValueType::RealList: return "real list";
    case ValueType::StringList: return "string list";
  }
  return "?";
}

// What a value of type t must be, for "... must be <this>".
const char* expected_phrase(ValueType t) {
  switch (t) {
    case ValueType::Integer: return "an integer";
    case ValueType::Real: return "a number";
    case ValueType::Boolean: return "a boolean (true or false)";
    case ValueType::String: return "a string";
    case ValueType::IntegerList: return "a list of integers, e.g. [1, 2]";
    case ValueType::RealList: return "a list of numbers, e.g. [0.5, 1]";
    case ValueType::StringList: return "a list of strings, e.g. [\"a\", \"b\"]";
  }
  return "?";
}

std::string format_bound(double bound, ValueType t) {
  if (is_integral(t)) return std::to_string(static_cast<std::int64_t>(bound));
  return fmt::format("{}", bound);
}

// "[0, 0.95]", ">= 1", or "" when unbounded.
std::string range_text(const KeySpec& spec) {
  if (spec.min && spec.max)
    return fmt::format("[{}, {}]", format_bound(*spec.min, spec.type), format_bound(*spec.max, spec.type));
  if (spec.min) return ">= " + format_bound(*spec.min, spec.type);
  if (spec.max) return "<= " + format_bound(*spec.max, spec.type);
  return "";
}

std::string join(const std::vector<std::string>& items, const char* separator) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) out += (i ? separator : "") + items[i];
  return out;
}

// ---------------------------------------------------------------------------------------
// Reading a TOML node as the Value of a key: type, range and choices checks.
// ---------------------------------------------------------------------------------------

// Where a node came from, for messages: "configs/x.toml:7" for a file (the line of the
// node itself, so a bad list element on its own line is pointed at), or the whole
// "--set key=value" for an override.
struct Origin {
  std::string file;        // set for files
  std::string assignment;  // set for --set
  std::string at(const toml::node& node) const {
    if (!assignment.empty()) return "--set " + assignment;
    return fmt::format("{}:{}", file, node.source().begin.line);
  }
};

// "a string ("256")", "a real (1.5)", ...: what the user wrote, for type errors.
std::string describe(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string: return "a string (" + quoted_string(**node.as_string()) + ")";
    case toml::node_type::integer: return fmt::format("an integer ({})", **node.as_integer());
    case toml::node_type::floating_point:
      return "a real (" + format_real(**node.as_floating_point()) + ")";
    case toml::node_type::boolean: return **node.as_boolean() ? "a boolean (true)" : "a boolean (false)";
    case toml::node_type::array: return "an array";
    case toml::node_type::table: return "a table";
    default: return "a date/time";
  }
}

[[noreturn]] void throw_type_error(const Origin& origin, const toml::node& node,
                                   const std::string& what, ValueType expected) {
  HARDY_THROW_MSG("{}: {} must be {}, got {}", origin.at(node), what, expected_phrase(expected),
                  describe(node));
}

template <typename T>
void check_range(const KeySpec& spec, T v, const std::string& what, const std::string& where) {
  bool out;
  if constexpr (std::is_integral_v<T>) {
    // Compared as integers: the bounds (up to 2^62) are exact integers, while an int64
    // near 2^62 converted to double would round and slip past the bound.
    out = (spec.min && v < static_cast<std::int64_t>(*spec.min)) ||
          (spec.max && v > static_cast<std::int64_t>(*spec.max));
  } else {
    out = std::isnan(v) || (spec.min && v < *spec.min) || (spec.max && v > *spec.max);
  }
  std::string range = range_text(spec);
  if (range[0] != '[') range = "(must be " + range + ")";  // one-sided: ">= 1"
  HARDY_THROW_IF_NOT_MSG(!out, "{}: {} = {} is out of range {}", where, what,
                         format_value(Value(v)), range);
}

void check_choice(const KeySpec& spec, const std::string& v, const std::string& what,
                  const std::string& where) {
  if (spec.choices.empty()) return;
  bool ok = std::find(spec.choices.begin(), spec.choices.end(), v) != spec.choices.end();
  HARDY_THROW_IF_NOT_MSG(ok, "{}: {} = {} is not one of {}", where, what, quoted_string(v),
                         join(spec.choices, ", "));
}

// One scalar (a key's value, or one element of a list key) as `spec`'s element type.
// `what` names it in messages: "model.hidden" or "data.folds[2]".
Value read_scalar(const toml::node& node, const KeySpec& spec, const std::string& what,
                  const Origin& origin) {
  const ValueType type = element_type(spec.type);
  const std::string where = origin.at(node);
  switch (type) {
    case ValueType::Integer: {
      // A real is not accepted for an integer: 2.5 epochs has no meaning, and silently
      // truncating would hide a mistake.
      if (!node.is_integer()) throw_type_error(origin, node, what, type);
      std::int64_t v = **node.as_integer();
      check_range(spec, v, what, where);
      return v;
    }
    case ValueType::Real: {
      // An integer is accepted for a real: "bucket_mb = 25" is what people write.
      double v;
      if (node.is_floating_point()) v = **node.as_floating_point();
      else if (node.is_integer()) v = static_cast<double>(**node.as_integer());
      else throw_type_error(origin, node, what, type);
      check_range(spec, v, what, where);
      return v;
    }
    case ValueType::Boolean:
      if (!node.is_boolean()) throw_type_error(origin, node, what, type);
      return **node.as_boolean();
    case ValueType::String: {
      if (spec.takes_integer && node.is_integer() && **node.as_integer() >= 0)
        return std::to_string(**node.as_integer());
      if (!node.is_string()) throw_type_error(origin, node, what, type);
      std::string v = **node.as_string();
      check_choice(spec, v, what, where);
      return v;
    }
    default: break;
  }
  HARDY_THROW_MSG("internal error: {} has no scalar type", spec.key);
}

// The value of `spec` from `node`, fully checked except for the cross-key checks.
Value read_value(const toml::node& node, const KeySpec& spec, const Origin& origin) {
  if (!is_list(spec.type)) return read_scalar(node, spec, spec.key, origin);
  const toml::array* array = node.as_array();
  if (!array) throw_type_error(origin, node, spec.key, spec.type);
  // Collect the elements into the list alternative of Value matching spec.type.
  auto collect = [&](auto list) {
    using Element = typename decltype(list)::value_type;
    for (std::size_t i = 0; i < array->size(); ++i) {
      Value element = read_scalar(*array->get(i), spec, fmt::format("{}[{}]", spec.key, i), origin);
      list.push_back(std::get<Element>(std::move(element)));
    }
    return Value(std::move(list));
  };
  switch (spec.type) {
    case ValueType::IntegerList: return collect(std::vector<std::int64_t>{});
    case ValueType::RealList: return collect(std::vector<double>{});
    default: return collect(std::vector<std::string>{});
  }
}

// A value read from a file or a --set, ready to be stored.
struct Assignment {
  std::size_t index;  // into config_schema()
  Value value;
  std::string source;
};

// ---------------------------------------------------------------------------------------
// Files: every [section] must be known, every key in it too.
// ---------------------------------------------------------------------------------------

// The full dotted name of the first leaf under `node`, so that an unknown section
// "[modle]" with "hidden = 1" is reported as 'modle.hidden' (and matched to
// 'model.hidden') at the line of that key.
std::pair<std::string, const toml::node*> first_leaf(std::string name, const toml::node& node) {
  const toml::node* leaf = &node;
  while (leaf->is_table() && !leaf->as_table()->empty()) {
    auto first = leaf->as_table()->begin();
    name += "." + std::string(first->first.str());
    leaf = &first->second;
  }
  return {name, leaf};
}

// The entries of a table in file order. TOML++ iterates tables in key order; reading in
// file order makes the error reported for a file with several mistakes its first one.
std::vector<std::pair<std::string, const toml::node*>> in_file_order(const toml::table& table) {
  std::vector<std::pair<std::string, const toml::node*>> entries;
  for (auto&& [key, node] : table) entries.emplace_back(std::string(key.str()), &node);
  std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    return a.second->source().begin < b.second->source().begin;
  });
  return entries;
}

std::vector<Assignment> read_file_values(const toml::table& root, const std::string& file) {
  const Origin origin{file, ""};
  std::vector<Assignment> out;
  for (const auto& [section, section_ptr] : in_file_order(root)) {
    const toml::node& section_node = *section_ptr;
    if (!is_section(section) || !section_node.is_table()) {
      // A top-level key (or an array of tables): settings only live inside the sections.
      auto [full_name, leaf] = first_leaf(section, section_node);
      if (is_section(section))
        HARDY_THROW_MSG("{}: '{}' must be a table: write [{}] and its keys below it",
                        origin.at(section_node), section, section);
      HARDY_THROW_MSG("{}", unknown_key_message(origin.at(*leaf), full_name));
    }
    for (const auto& [name, node_ptr] : in_file_order(*section_node.as_table())) {
      const toml::node& node = *node_ptr;
      const std::string key = section + "." + name;
      auto index = lookup(key);
      if (!index) {
        auto [full_name, leaf] = first_leaf(key, node);
        HARDY_THROW_MSG("{}", unknown_key_message(origin.at(*leaf), full_name));
      }
      out.push_back({*index, read_value(node, config_schema()[*index], origin), origin.at(node)});
    }
  }
  return out;
}

toml::table parse_toml(const std::string& text, const std::string& source_name) {
  try {
    return toml::parse(text, std::string_view(source_name));
  } catch (const toml::parse_error& e) {
    HARDY_THROW_MSG("{}:{}:{}: TOML syntax error: {}", source_name, e.source().begin.line,
                    e.source().begin.column, e.description());
  }
}

// ---------------------------------------------------------------------------------------
// --set: the text after '=' becomes a TOML node, then goes through read_value() like a
// value from a file, so both paths apply exactly the same checks.
// ---------------------------------------------------------------------------------------

std::string trim(const std::string& s) {
  const char* space = " \t\r\n";
  std::size_t begin = s.find_first_not_of(space);
  if (begin == std::string::npos) return "";
  return s.substr(begin, s.find_last_not_of(space) - begin + 1);
}

bool is_quoted(const std::string& s) { return !s.empty() && (s[0] == '"' || s[0] == '\''); }
bool is_bracketed(const std::string& s) { return s.size() >= 2 && s.front() == '[' && s.back() == ']'; }

// `raw` read as one TOML value (by parsing "v = raw"), or nullopt if it is not one.
std::optional<toml::table> parse_toml_value(const std::string& raw) {
  try {
    return toml::parse("v = " + raw, std::string_view("--set"));
  } catch (const toml::parse_error&) {
    return std::nullopt;
  }
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  if (trim(s).empty()) return out;  // "" and "[]" are the empty list
  std::size_t begin = 0;
  for (std::size_t comma; (comma = s.find(',', begin)) != std::string::npos; begin = comma + 1)
    out.push_back(trim(s.substr(begin, comma - begin)));
  out.push_back(trim(s.substr(begin)));
  return out;
}

// Builds the TOML node that `raw` stands for, given the key's type. Strings may be
// unquoted (output.dir=runs/x) since shells eat quotes; lists may omit the brackets.
// Returns a table holding the node under "v"; nullopt if raw is not valid TOML.
std::optional<toml::table> override_node(const std::string& raw, const KeySpec& spec) {
  switch (spec.type) {
    case ValueType::String: {
      if (is_quoted(raw)) return parse_toml_value(raw);
      toml::table t;
      t.insert("v", raw);
      return t;
    }
    case ValueType::StringList: {
      // A complete TOML array (["a", "t"]) is taken as is; otherwise [a, t] or a,t.
      if (is_bracketed(raw))
        if (auto parsed = parse_toml_value(raw); parsed && (*parsed)["v"].is_array()) return parsed;
      std::string inner = is_bracketed(raw) ? raw.substr(1, raw.size() - 2) : raw;
      toml::array array;
      for (const auto& item : split_commas(inner)) {
        if (!is_quoted(item)) {
          array.push_back(item);
          continue;
        }
        auto parsed = parse_toml_value(item);
        if (!parsed || !(*parsed)["v"].is_string()) return std::nullopt;
        array.push_back(*(*parsed)["v"].value<std::string>());
      }
      toml::table t;
      t.insert("v", std::move(array));
      return t;
    }
    case ValueType::IntegerList:
    case ValueType::RealList:
      return parse_toml_value(is_bracketed(raw) ? raw : "[" + raw + "]");
    default:
      return parse_toml_value(raw);
  }
}

Assignment read_override(const std::string& assignment) {
  const std::string where = "--set " + assignment;
  const std::size_t eq = assignment.find('=');
  HARDY_THROW_IF_NOT_MSG(eq != std::string::npos,
                         "{}: expected section.key=value, e.g. --set model.hidden=128", where);
  const std::string key = trim(assignment.substr(0, eq));
  const std::string raw = trim(assignment.substr(eq + 1));
  auto index = lookup(key);
  if (!index) HARDY_THROW_MSG("{}", unknown_key_message(where, key));
  const KeySpec& spec = config_schema()[*index];
  auto node = override_node(raw, spec);
  HARDY_THROW_IF_NOT_MSG(node.has_value(), "{}: {} must be {}, got '{}'", where, key,
                         expected_phrase(spec.type), raw);
  return {*index, read_value(*(*node)["v"].node(), spec, Origin{"", assignment}), "--set"};
}

std::string escape_markdown(const std::string& s) {
  std::string out;
  for (char c : s) out += c == '|' ? std::string("\\|") : std::string(1, c);
  return out;
}

}  // namespace

const KeySpec* find_key_spec(const std::string& key) {
  auto index = lookup(key);
  return index ? &config_schema()[*index] : nullptr;
}

// ---------------------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------------------

Config Config::defaults() {
  Config config;
  for (const auto& spec : config_schema()) config.entries_.push_back({spec.default_value, "default"});
  return config;
}

Config Config::load(const std::string& path, const std::vector<std::string>& overrides) {
  std::ifstream in(path, std::ios::binary);
  HARDY_THROW_IF_NOT_MSG(in.good(), "config file '{}' does not exist or cannot be read", path);
  std::ostringstream text;
  text << in.rdbuf();
  return parse(text.str(), path, overrides);
}

Config Config::parse(const std::string& toml_text, const std::string& source_name,
                     const std::vector<std::string>& overrides) {
  Config config = defaults();
  config.file_ = source_name;
  for (auto& a : read_file_values(parse_toml(toml_text, source_name), source_name))
    config.entries_[a.index] = {std::move(a.value), std::move(a.source)};
  for (const auto& assignment : overrides) config.set(assignment);
  config.check_cross_keys();
  return config;
}

void Config::set(const std::string& assignment) {
  Assignment a = read_override(assignment);
  entries_[a.index] = {std::move(a.value), std::move(a.source)};
}

std::size_t Config::index_of(const std::string& key, const char* accessor) const {
  auto index = lookup(key);
  if (!index) HARDY_THROW_MSG("{}", unknown_key_message(fmt::format("Config::{}", accessor), key));
  return *index;
}

const Config::Entry& Config::typed_entry(const std::string& key, const char* accessor,
                                         std::initializer_list<ValueType> accepted) const {
  const std::size_t index = index_of(key, accessor);
  const ValueType type = config_schema()[index].type;
  HARDY_THROW_IF_NOT_MSG(std::find(accepted.begin(), accepted.end(), type) != accepted.end(),
                         "Config::{}: {} has type {}; read it with Config::{}", accessor, key,
                         type_name(type), accessor_for(type));
  return entries_[index];
}

std::int64_t Config::integer(const std::string& key) const {
  return std::get<std::int64_t>(typed_entry(key, "integer", {ValueType::Integer}).value);
}

double Config::real(const std::string& key) const {
  const Value& v = typed_entry(key, "real", {ValueType::Real, ValueType::Integer}).value;
  if (auto* i = std::get_if<std::int64_t>(&v)) return static_cast<double>(*i);
  return std::get<double>(v);
}

bool Config::boolean(const std::string& key) const {
  return std::get<bool>(typed_entry(key, "boolean", {ValueType::Boolean}).value);
}

const std::string& Config::string(const std::string& key) const {
  return std::get<std::string>(typed_entry(key, "string", {ValueType::String}).value);
}

std::vector<std::int64_t> Config::integers(const std::string& key) const {
  return std::get<std::vector<std::int64_t>>(
      typed_entry(key, "integers", {ValueType::IntegerList}).value);
}

std::vector<double> Config::reals(const std::string& key) const {
  const Value& v = typed_entry(key, "reals", {ValueType::RealList, ValueType::IntegerList}).value;
  if (auto* ints = std::get_if<std::vector<std::int64_t>>(&v))
    return std::vector<double>(ints->begin(), ints->end());
  return std::get<std::vector<double>>(v);
}

std::vector<std::string> Config::strings(const std::string& key) const {
  return std::get<std::vector<std::string>>(
      typed_entry(key, "strings", {ValueType::StringList}).value);
}

const Value& Config::value(const std::string& key) const { return entries_[index_of(key, "value")].value; }

std::string Config::source(const std::string& key) const {
  return entries_[index_of(key, "source")].source;
}

const std::string& Config::file() const { return file_; }

void Config::check_cross_keys() const {
  // "training.teacher_epochs = 100 (configs/x.toml:4)": a key, its value and its source.
  auto show = [&](const std::string& key) {
    return fmt::format("{} = {} ({})", key, format_value(value(key)), source(key));
  };
  auto require_at_most = [&](const std::string& smaller, const std::string& larger) {
    HARDY_THROW_IF_NOT_MSG(integer(smaller) <= integer(larger),
                           "{} must be <= {}; lower the first or raise the second", show(smaller),
                           show(larger));
  };
  require_at_most("training.teacher_stage1_epochs", "training.teacher_epochs");
  require_at_most("training.student_stage1_epochs", "training.student_epochs");
  require_at_most("retrieval.k_min", "retrieval.top_k");
  require_at_most("synth.min_length", "synth.max_length");

  HARDY_THROW_IF_NOT_MSG(real("hardness.alpha") + real("hardness.beta") > 0,
                         "{} and {}: their sum must be > 0, or the hardness H is constant; to "
                         "ablate hardness set retrieval.dynamic_k = false instead",
                         show("hardness.alpha"), show("hardness.beta"));
  // A small tolerance so that 0.7 + 0.3 (which is 1.0000000000000002 in binary) passes.
  HARDY_THROW_IF_NOT_MSG(real("synth.conflict_rate") + real("synth.noise_rate") <= 1 + 1e-12,
                         "{} and {}: their sum must be <= 1 (each modality is conflicting, noisy "
                         "or clean)",
                         show("synth.conflict_rate"), show("synth.noise_rate"));
  HARDY_THROW_IF_NOT_MSG(integer("model.hidden") % integer("model.heads") == 0,
                         "{} must be divisible by {} (each head gets hidden/heads dims)",
                         show("model.hidden"), show("model.heads"));

  HARDY_THROW_IF_NOT_MSG(integers("synth.dims").size() == strings("synth.modalities").size(),
                         "{} must have one element per modality of {}", show("synth.dims"),
                         show("synth.modalities"));
  const auto& group_size = string("dist.group_size");
  HARDY_THROW_IF_NOT_MSG(group_size == "auto" || (!group_size.empty() && group_size.size() < 9 &&
                                                   group_size.find_first_not_of("0123456789") == std::string::npos &&
                                                   std::stoi(group_size) >= 1),
                         "{}: use \"auto\" or a number of ranks per group (1 or more)", show("dist.group_size"));
  const auto conditions = strings("data.conditions");
  for (std::size_t i = 0; i < conditions.size(); ++i)
    for (std::size_t j = 0; j < i; ++j)
      HARDY_THROW_IF_NOT_MSG(conditions[i] != conditions[j], "{} lists {} twice; remove one",
                             show("data.conditions"), quoted_string(conditions[i]));
}

std::string Config::value_text(const std::string& key) const {
  return format_value(entries_[index_of(key, "value_text")].value);
}

std::string Config::to_toml() const {
  std::string out = "# Effective hardy_dist configuration";
  out += file_.empty() ? " (defaults only).\n" : " (file: " + file_ + ").\n";
  out += "# Reference: docs/config.md. Precedence: defaults < file < --set.\n";
  const auto& schema = config_schema();
  std::string section;
  for (std::size_t i = 0; i < schema.size(); ++i) {
    if (section_of(schema[i].key) != section) {
      section = section_of(schema[i].key);
      out += "\n[" + section + "]\n";
    }
    out += "# " + schema[i].doc + "\n";
    out += name_of(schema[i].key) + " = " + format_value(entries_[i].value);
    // Mark what differs from the defaults, so the dump shows where each change came from.
    if (entries_[i].source != "default") out += "  # from " + entries_[i].source;
    out += "\n";
  }
  return out;
}

std::string config_reference_markdown() {
  std::string out;
  const auto& schema = config_schema();
  std::string section;
  for (const auto& spec : schema) {
    if (section_of(spec.key) != section) {
      section = section_of(spec.key);
      out += (out.empty() ? "" : "\n") + fmt::format("## [{}]\n\n", section);
      out += "| key | type | default | range / choices | description |\n";
      out += "|---|---|---|---|---|\n";
    }
    // "[8, 8192]" or "auto, folds, split"; for lists "each in [0, 126]", "each one of a, t".
    std::string range = spec.choices.empty() ? range_text(spec) : join(spec.choices, ", ");
    if (!range.empty() && is_list(spec.type)) {
      const char* prefix = !spec.choices.empty() ? "each one of " : range[0] == '[' ? "each in " : "each ";
      range = prefix + range;
    }
    out += fmt::format("| `{}` | {} | `{}` | {} | {} |\n", spec.key, type_name(spec.type),
                       format_value(spec.default_value), escape_markdown(range),
                       escape_markdown(spec.doc));
  }
  return out;
}

}  // namespace hardy
