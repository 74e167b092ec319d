// Behaviour of the configuration system: defaults, TOML files, --set overrides, the
// errors users see (each naming the key and where it was set), the effective-config
// dump and the generated reference in docs/config.md.
#include "core/config.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"

// The lead's CMake defines HARDY_SOURCE_DIR; without it the test runs from the source root.
#ifdef HARDY_SOURCE_DIR
static const char* const kSourceDir = HARDY_SOURCE_DIR;
#else
static const char* const kSourceDir = ".";
#endif

namespace hardy {
namespace {

using Strings = std::vector<std::string>;
using Ints = std::vector<std::int64_t>;

testing::AssertionResult Contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return testing::AssertionSuccess();
  return testing::AssertionFailure() << "'" << part << "' not found in:\n" << text;
}

// The message of the hardy::Error that `f` throws; a test failure if it throws none.
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a hardy::Error";
  return "";
}

// parse() of `text` as "configs/x.toml", expected to fail.
std::string parse_error(const std::string& text, const Strings& overrides = {}) {
  return error_of([&] { Config::parse(text, "configs/x.toml", overrides); });
}

Config parse(const std::string& text, const Strings& overrides = {}) {
  return Config::parse(text, "configs/x.toml", overrides);
}

// ---------------------------------------------------------------------------------------
// Schema and defaults
// ---------------------------------------------------------------------------------------

TEST(ConfigSchema, EveryKeyIsSectionedDocumentedAndFindable) {
  std::set<std::string> seen;
  for (const auto& spec : config_schema()) {
    EXPECT_EQ(std::count(spec.key.begin(), spec.key.end(), '.'), 1) << spec.key;
    EXPECT_TRUE(seen.insert(spec.key).second) << "duplicate key " << spec.key;
    EXPECT_FALSE(spec.doc.empty()) << spec.key;
    EXPECT_EQ(spec.doc.find('\n'), std::string::npos) << spec.key;
    // The Value alternatives are in ValueType order.
    EXPECT_EQ(spec.default_value.index(), static_cast<std::size_t>(spec.type)) << spec.key;
    EXPECT_EQ(find_key_spec(spec.key), &spec);
  }
  EXPECT_EQ(find_key_spec("model.hiden"), nullptr);
  EXPECT_EQ(find_key_spec("model"), nullptr);
}

TEST(ConfigDefaults, EqualTheSchema) {
  const Config config = Config::defaults();
  EXPECT_EQ(config.file(), "");
  for (const auto& spec : config_schema()) {
    EXPECT_EQ(config.value(spec.key), spec.default_value) << spec.key;
    EXPECT_EQ(config.source(spec.key), "default") << spec.key;
  }
  EXPECT_EQ(config.integer("model.hidden"), 256);
  EXPECT_DOUBLE_EQ(config.real("model.dropout"), 0.5);
  EXPECT_TRUE(config.boolean("retrieval.dynamic_k"));
  EXPECT_EQ(config.string("retrieval.index"), "flat");
  EXPECT_EQ(config.integers("synth.dims"), (Ints{512, 1024, 1024}));
  // Empty = every condition of the corpus (its modalities are known only then).
  EXPECT_EQ(config.strings("data.conditions"), Strings{});
  EXPECT_EQ(config.strings("synth.modalities"), (Strings{"audio", "text", "visual"}));
}

TEST(ConfigDefaults, AnEmptyFileGivesTheDefaults) {
  const Config config = Config::parse("# nothing\n", "empty.toml");
  EXPECT_EQ(config.file(), "empty.toml");
  for (const auto& spec : config_schema()) EXPECT_EQ(config.value(spec.key), spec.default_value);
}

// ---------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------

TEST(ConfigParse, SetsValuesAndSources) {
  const Config config = parse(
      "# a comment\n"
      "[model]\n"
      "hidden = 512\n"
      "dropout = 0.25\n"
      "\n"
      "[data]\n"
      "conditions = [\"a\", \"atv\"]\n"
      "folds = [0, 2]\n"
      "corpus = \"corpora/iemocap4.h5\"\n"
      "[retrieval]\n"
      "dynamic_k = false\n");
  EXPECT_EQ(config.file(), "configs/x.toml");
  EXPECT_EQ(config.integer("model.hidden"), 512);
  EXPECT_EQ(config.source("model.hidden"), "configs/x.toml:3");
  EXPECT_DOUBLE_EQ(config.real("model.dropout"), 0.25);
  EXPECT_EQ(config.source("model.dropout"), "configs/x.toml:4");
  EXPECT_EQ(config.strings("data.conditions"), (Strings{"a", "atv"}));
  EXPECT_EQ(config.source("data.conditions"), "configs/x.toml:7");
  EXPECT_EQ(config.integers("data.folds"), (Ints{0, 2}));
  EXPECT_EQ(config.string("data.corpus"), "corpora/iemocap4.h5");
  EXPECT_FALSE(config.boolean("retrieval.dynamic_k"));
  EXPECT_EQ(config.source("retrieval.dynamic_k"), "configs/x.toml:11");
  EXPECT_EQ(config.integer("model.depth"), 4);
  EXPECT_EQ(config.source("model.depth"), "default");
}

TEST(ConfigParse, DottedKeysAreTheSameAsSections) {
  const Config config = parse("model.hidden = 128\n");
  EXPECT_EQ(config.integer("model.hidden"), 128);
  EXPECT_EQ(config.source("model.hidden"), "configs/x.toml:1");
}

TEST(ConfigLoad, ReadsAFileAndRejectsAMissingOne) {
  const std::string path = testing::TempDir() + "hardy_config_test.toml";
  {
    std::ofstream out(path);
    out << "[training]\nbatch_size = 8\n";
  }
  const Config config = Config::load(path, {"training.seed=7"});
  EXPECT_EQ(config.file(), path);
  EXPECT_EQ(config.integer("training.batch_size"), 8);
  EXPECT_EQ(config.source("training.batch_size"), path + ":2");
  EXPECT_EQ(config.integer("training.seed"), 7);
  std::remove(path.c_str());

  const std::string missing = testing::TempDir() + "hardy_no_such_config.toml";
  EXPECT_TRUE(Contains(error_of([&] { Config::load(missing); }), missing));
}

// ---------------------------------------------------------------------------------------
// File errors: each names the key, the file and the line
// ---------------------------------------------------------------------------------------

TEST(ConfigErrors, SyntaxErrorGivesFileLineAndColumn) {
  const std::string message = parse_error("[model]\nhidden = = 3\n");
  EXPECT_TRUE(Contains(message, "configs/x.toml:2:"));
  EXPECT_TRUE(Contains(message, "TOML syntax error"));
}

TEST(ConfigErrors, UnknownKeySuggestsTheClosestKey) {
  const std::string message = parse_error("[model]\ndepth = 2\nhiden = 3\n");
  EXPECT_TRUE(Contains(message, "configs/x.toml:3: unknown key 'model.hiden'"));
  EXPECT_TRUE(Contains(message, "(did you mean 'model.hidden'?)"));
}

TEST(ConfigErrors, TheFirstMistakeInTheFileIsReported) {
  EXPECT_TRUE(Contains(parse_error("[model]\nzzz = 1\naaa = 2\n"), "configs/x.toml:2: unknown key 'model.zzz'"));
  EXPECT_TRUE(Contains(parse_error("[retrieval]\ntop_k = \"3\"\n[data]\nfolds = 1\n"),
                       "configs/x.toml:2: retrieval.top_k"));
}

TEST(ConfigErrors, UnknownSectionIsAnUnknownKey) {
  const std::string message = parse_error("[modle]\nhidden = 3\n");
  EXPECT_TRUE(Contains(message, "configs/x.toml:2: unknown key 'modle.hidden'"));
  EXPECT_TRUE(Contains(message, "did you mean 'model.hidden'?"));
}

TEST(ConfigErrors, KeyOutsideItsSectionSuggestsTheSection) {
  EXPECT_TRUE(Contains(parse_error("hidden = 3\n"), "configs/x.toml:1: unknown key 'hidden' (did you mean 'model.hidden'?)"));
  EXPECT_TRUE(Contains(parse_error("[model]\ntop_k = 3\n"), "did you mean 'retrieval.top_k'?"));
}

TEST(ConfigErrors, UnknownKeyFarFromAnyPointsToTheReference) {
  const std::string message = parse_error("[model]\nfoo_bar_baz = 1\n");
  EXPECT_TRUE(Contains(message, "configs/x.toml:2: unknown key 'model.foo_bar_baz'"));
  EXPECT_TRUE(Contains(message, "see docs/config.md"));
  EXPECT_FALSE(Contains(message, "did you mean"));
}

TEST(ConfigErrors, WrongTypeNamesExpectedAndGot) {
  EXPECT_TRUE(Contains(parse_error("[model]\nhidden = \"256\"\n"),
                       "configs/x.toml:2: model.hidden must be an integer, got a string (\"256\")"));
  EXPECT_TRUE(Contains(parse_error("[output]\n\nresume = \"yes\"\n"),
                       "configs/x.toml:3: output.resume must be a boolean"));
  EXPECT_TRUE(Contains(parse_error("[retrieval]\nindex = 3\n"),
                       "configs/x.toml:2: retrieval.index must be a string, got an integer (3)"));
}

TEST(ConfigErrors, RealIsRejectedForAnInteger) {
  const std::string message = parse_error("[training]\nbatch_size = 16.0\n");
  EXPECT_TRUE(Contains(message, "configs/x.toml:2: training.batch_size must be an integer, got a real (16.0)"));
}

TEST(ConfigParse, IntegerIsAcceptedForAReal) {
  const Config config = parse("[dist]\nbucket_mb = 50\n");
  EXPECT_DOUBLE_EQ(config.real("dist.bucket_mb"), 50.0);
  EXPECT_TRUE(std::holds_alternative<double>(config.value("dist.bucket_mb")));
}

TEST(ConfigErrors, ListElementsAreTypeChecked) {
  EXPECT_TRUE(Contains(parse_error("[data]\nfolds = [0, 1.5]\n"),
                       "configs/x.toml:2: data.folds[1] must be an integer, got a real (1.5)"));
  EXPECT_TRUE(Contains(parse_error("[data]\nconditions = [\"a\", 2]\n"),
                       "configs/x.toml:2: data.conditions[1] must be a string"));
  EXPECT_TRUE(Contains(parse_error("[data]\nfolds = 3\n"),
                       "configs/x.toml:2: data.folds must be a list of integers"));
}

TEST(ConfigErrors, ListElementErrorPointsAtTheElementsLine) {
  const std::string message = parse_error("[data]\nfolds = [\n  0,\n  1,\n  200,\n]\n");
  EXPECT_TRUE(Contains(message, "configs/x.toml:5: data.folds[2] = 200 is out of range [0, 126]"));
}

TEST(ConfigErrors, OutOfRange) {
  EXPECT_TRUE(Contains(parse_error("[model]\ndropout = 1.5\n"),
                       "configs/x.toml:2: model.dropout = 1.5 is out of range [0, 0.95]"));
  EXPECT_TRUE(Contains(parse_error("[model]\n\nhidden = 4\n"),
                       "configs/x.toml:3: model.hidden = 4 is out of range [8, 8192]"));
  EXPECT_TRUE(Contains(parse_error("[training]\nlr = nan\n"), "configs/x.toml:2: training.lr = nan"));
  EXPECT_TRUE(Contains(parse_error("[data]\nexpect_dims = [3, 0, 3]\n"),
                       "configs/x.toml:2: data.expect_dims[1] = 0 is out of range (must be >= 1)"));
}

TEST(ConfigParse, BoundsAreInclusive) {
  const Config config = parse("[model]\ndropout = 0.95\nhidden = 8\nheads = 8\n[synth]\nseed = 4611686018427387904\n");
  EXPECT_DOUBLE_EQ(config.real("model.dropout"), 0.95);
  EXPECT_EQ(config.integer("synth.seed"), std::int64_t{1} << 62);
  // One past 2^62 must not slip through a double comparison.
  EXPECT_TRUE(Contains(parse_error("[synth]\nseed = 4611686018427387905\n"), "synth.seed"));
}

TEST(ConfigErrors, NotAChoice) {
  EXPECT_TRUE(Contains(parse_error("[retrieval]\nindex = \"kd\"\n"),
                       "configs/x.toml:2: retrieval.index = \"kd\" is not one of flat, ivf, hnsw"));
  EXPECT_TRUE(Contains(parse_error("[synth]\ntask = \"ranking\"\n"),
                       "configs/x.toml:2: synth.task = \"ranking\" is not one of"));
}

TEST(ConfigErrors, SectionThatIsNotATable) {
  EXPECT_TRUE(Contains(parse_error("model = 3\n"), "configs/x.toml:1: 'model' must be a table"));
}

// ---------------------------------------------------------------------------------------
// --set
// ---------------------------------------------------------------------------------------

TEST(ConfigSet, EachType) {
  Config config = Config::defaults();
  config.set("model.hidden=128");
  EXPECT_EQ(config.integer("model.hidden"), 128);
  EXPECT_EQ(config.source("model.hidden"), "--set");
  config.set(" model.depth = 3 ");  // spaces around key and value are ignored
  EXPECT_EQ(config.integer("model.depth"), 3);

  config.set("model.dropout=0.25");
  EXPECT_DOUBLE_EQ(config.real("model.dropout"), 0.25);
  config.set("training.lr=1e-3");
  EXPECT_DOUBLE_EQ(config.real("training.lr"), 1e-3);
  config.set("dist.bucket_mb=10");  // an integer for a real
  EXPECT_DOUBLE_EQ(config.real("dist.bucket_mb"), 10.0);

  config.set("retrieval.dynamic_k=false");
  EXPECT_FALSE(config.boolean("retrieval.dynamic_k"));
  config.set("retrieval.dynamic_k=true");
  EXPECT_TRUE(config.boolean("retrieval.dynamic_k"));

  config.set("output.dir=runs/x");
  EXPECT_EQ(config.string("output.dir"), "runs/x");
  config.set("output.dir=\"runs/with space\"");
  EXPECT_EQ(config.string("output.dir"), "runs/with space");
  config.set("output.dir='C:\\runs'");  // a TOML literal string keeps backslashes
  EXPECT_EQ(config.string("output.dir"), "C:\\runs");
  config.set("output.dir=a=b");  // only the first '=' separates key and value
  EXPECT_EQ(config.string("output.dir"), "a=b");
  config.set("data.corpus=");
  EXPECT_EQ(config.string("data.corpus"), "");
  config.set("retrieval.index=hnsw");
  EXPECT_EQ(config.string("retrieval.index"), "hnsw");
}

TEST(ConfigSet, Lists) {
  Config config = Config::defaults();
  config.set("data.folds=[0, 3]");
  EXPECT_EQ(config.integers("data.folds"), (Ints{0, 3}));
  config.set("data.folds=1,2,4");
  EXPECT_EQ(config.integers("data.folds"), (Ints{1, 2, 4}));
  config.set("data.folds=5");
  EXPECT_EQ(config.integers("data.folds"), (Ints{5}));
  config.set("data.folds=");
  EXPECT_EQ(config.integers("data.folds"), Ints{});
  config.set("synth.dims=[8, 16, 32]");
  EXPECT_EQ(config.integers("synth.dims"), (Ints{8, 16, 32}));
  config.set("data.folds=[]");
  EXPECT_EQ(config.integers("data.folds"), Ints{});

  config.set("data.conditions=a,at");
  EXPECT_EQ(config.strings("data.conditions"), (Strings{"a", "at"}));
  config.set("data.conditions=[t, tv]");
  EXPECT_EQ(config.strings("data.conditions"), (Strings{"t", "tv"}));
  config.set("data.conditions=[\"v\", \"atv\"]");
  EXPECT_EQ(config.strings("data.conditions"), (Strings{"v", "atv"}));
  config.set("data.conditions='a', \"t\", av");
  EXPECT_EQ(config.strings("data.conditions"), (Strings{"a", "t", "av"}));
  EXPECT_EQ(config.source("data.conditions"), "--set");
}

TEST(ConfigSet, Errors) {
  auto set_error = [](const std::string& assignment) {
    return error_of([&] { Config::defaults().set(assignment); });
  };
  EXPECT_TRUE(Contains(set_error("model.hidden=abc"), "--set model.hidden=abc: model.hidden must be an integer"));
  EXPECT_TRUE(Contains(set_error("model.hidden=2.5"), "--set model.hidden=2.5: model.hidden must be an integer, got a real (2.5)"));
  EXPECT_TRUE(Contains(set_error("model.hidden"), "--set model.hidden: expected section.key=value"));
  const std::string unknown = set_error("model.hiden=3");
  EXPECT_TRUE(Contains(unknown, "--set model.hiden=3: unknown key 'model.hiden'"));
  EXPECT_TRUE(Contains(unknown, "did you mean 'model.hidden'?"));
  EXPECT_TRUE(Contains(set_error("retrieval.dynamic_k=yes"), "--set retrieval.dynamic_k=yes: retrieval.dynamic_k must be a boolean"));
  EXPECT_TRUE(Contains(set_error("model.dropout=1.5"), "--set model.dropout=1.5: model.dropout = 1.5 is out of range [0, 0.95]"));
  EXPECT_TRUE(Contains(set_error("retrieval.index=kd"), "--set retrieval.index=kd: retrieval.index = \"kd\" is not one of flat, ivf, hnsw"));
  EXPECT_TRUE(Contains(set_error("data.folds=1,x"), "--set data.folds=1,x: data.folds must be a list of integers"));
  EXPECT_TRUE(Contains(set_error("data.folds=1,200"), "--set data.folds=1,200: data.folds[1] = 200 is out of range"));
  EXPECT_TRUE(Contains(set_error("synth.dims=1,x"), "--set synth.dims=1,x: synth.dims must be a list of integers"));
  EXPECT_TRUE(Contains(set_error("output.dir=\"unterminated"), "--set output.dir=\"unterminated: output.dir must be a string"));
}

TEST(ConfigSet, OverridesTheFileInOrder) {
  const Config config = parse("[model]\nhidden = 512\ndepth = 2\n", {"model.hidden=128", "model.hidden=64"});
  EXPECT_EQ(config.integer("model.hidden"), 64);
  EXPECT_EQ(config.source("model.hidden"), "--set");
  EXPECT_EQ(config.integer("model.depth"), 2);
  EXPECT_EQ(config.source("model.depth"), "configs/x.toml:3");
  EXPECT_EQ(config.file(), "configs/x.toml");
}

// ---------------------------------------------------------------------------------------
// Cross-key checks: run once everything is applied, naming both keys and their sources
// ---------------------------------------------------------------------------------------

TEST(ConfigCrossKeys, RunAfterAllOverridesSoTheirOrderDoesNotMatter) {
  const Config config = parse("", {"training.teacher_epochs=10", "training.teacher_stage1_epochs=5"});
  EXPECT_EQ(config.integer("training.teacher_stage1_epochs"), 5);
  // Equal is allowed.
  EXPECT_NO_THROW(parse("[training]\nteacher_epochs = 7\nteacher_stage1_epochs = 7\n"));
}

TEST(ConfigCrossKeys, TeacherStage1WithinTeacherEpochs) {
  const std::string message = parse_error("[training]\nteacher_epochs = 10\n");
  EXPECT_TRUE(Contains(message, "training.teacher_stage1_epochs = 100 (default)"));
  EXPECT_TRUE(Contains(message, "training.teacher_epochs = 10 (configs/x.toml:2)"));
}

TEST(ConfigCrossKeys, StudentStage1WithinStudentEpochs) {
  const std::string message = parse_error("[training]\nstudent_epochs = 30\n", {"training.student_stage1_epochs=40"});
  EXPECT_TRUE(Contains(message, "training.student_stage1_epochs = 40 (--set)"));
  EXPECT_TRUE(Contains(message, "training.student_epochs = 30 (configs/x.toml:2)"));
}

TEST(ConfigCrossKeys, KMinWithinTopK) {
  const std::string message = parse_error("[retrieval]\ntop_k = 2\nk_min = 3\n");
  EXPECT_TRUE(Contains(message, "retrieval.k_min = 3 (configs/x.toml:3)"));
  EXPECT_TRUE(Contains(message, "retrieval.top_k = 2 (configs/x.toml:2)"));
}

TEST(ConfigCrossKeys, AlphaPlusBetaPositive) {
  const std::string message = parse_error("[hardness]\nalpha = 0\nbeta = 0.0\n");
  EXPECT_TRUE(Contains(message, "hardness.alpha = 0.0 (configs/x.toml:2)"));
  EXPECT_TRUE(Contains(message, "hardness.beta = 0.0 (configs/x.toml:3)"));
  EXPECT_NO_THROW(parse("[hardness]\nalpha = 0\n"));
}

TEST(ConfigCrossKeys, SynthLengths) {
  const std::string message = parse_error("[synth]\nmin_length = 50\n");
  EXPECT_TRUE(Contains(message, "synth.min_length = 50 (configs/x.toml:2)"));
  EXPECT_TRUE(Contains(message, "synth.max_length = 40 (default)"));
}

TEST(ConfigCrossKeys, SynthRatesAtMostOne) {
  const std::string message = parse_error("[synth]\nconflict_rate = 0.7\nnoise_rate = 0.4\n");
  EXPECT_TRUE(Contains(message, "synth.conflict_rate = 0.7 (configs/x.toml:2)"));
  EXPECT_TRUE(Contains(message, "synth.noise_rate = 0.4 (configs/x.toml:3)"));
  // 0.7 + 0.3 is 1.0000000000000002 in binary and must still pass.
  EXPECT_NO_THROW(parse("[synth]\nconflict_rate = 0.7\nnoise_rate = 0.3\n"));
}

TEST(ConfigCrossKeys, HiddenDivisibleByHeads) {
  const std::string message = parse_error("[model]\nhidden = 250\n", {"model.heads=4"});
  EXPECT_TRUE(Contains(message, "model.hidden = 250 (configs/x.toml:2)"));
  EXPECT_TRUE(Contains(message, "model.heads = 4 (--set)"));
}

TEST(ConfigCrossKeys, SynthDimsHaveOneElementPerModality) {
  EXPECT_TRUE(Contains(parse_error("", {"synth.dims=1,2,3,4"}), "synth.dims = [1, 2, 3, 4] (--set)"));
  EXPECT_TRUE(Contains(parse_error("[synth]\nmodalities = [\"audio\", \"text\"]\n"), "synth.modalities"));
  EXPECT_NO_THROW(parse("[synth]\nmodalities = [\"audio\", \"text\"]\ndims = [4, 5]\n"));
  // data.expect_dims is checked against the corpus's modalities (validate), any length here.
  EXPECT_NO_THROW(parse("[data]\nexpect_dims = [1, 2]\n"));
}

TEST(ConfigCrossKeys, ConditionsWithoutDuplicates) {
  EXPECT_NO_THROW(parse("[data]\nconditions = []\n"));  // every condition of the corpus
  const std::string message = parse_error("[data]\nconditions = [\"a\", \"t\", \"a\"]\n");
  EXPECT_TRUE(Contains(message, "data.conditions"));
  EXPECT_TRUE(Contains(message, "configs/x.toml:2"));
  EXPECT_TRUE(Contains(message, "\"a\" twice"));
}

// ---------------------------------------------------------------------------------------
// Accessors
// ---------------------------------------------------------------------------------------

TEST(ConfigAccessors, UnknownKeyAndTypeMismatchAreErrors) {
  const Config config = Config::defaults();
  EXPECT_TRUE(Contains(error_of([&] { config.integer("model.hiden"); }), "model.hiden"));
  EXPECT_TRUE(Contains(error_of([&] { config.source("nope.nothing"); }), "nope.nothing"));
  EXPECT_TRUE(Contains(error_of([&] { config.integer("model.dropout"); }), "model.dropout"));
  EXPECT_TRUE(Contains(error_of([&] { config.boolean("model.hidden"); }), "model.hidden"));
  EXPECT_TRUE(Contains(error_of([&] { config.string("data.conditions"); }), "data.conditions"));
  EXPECT_TRUE(Contains(error_of([&] { config.integers("data.conditions"); }), "data.conditions"));
  EXPECT_TRUE(Contains(error_of([&] { config.strings("data.protocol"); }), "data.protocol"));
}

TEST(ConfigAccessors, RealsAcceptIntegers) {
  const Config config = Config::defaults();
  EXPECT_DOUBLE_EQ(config.real("model.hidden"), 256.0);
  EXPECT_EQ(config.reals("synth.dims"), (std::vector<double>{512, 1024, 1024}));
}

// ---------------------------------------------------------------------------------------
// Effective-config dump and reference
// ---------------------------------------------------------------------------------------

TEST(ConfigToToml, RoundTripsThroughParse) {
  const Config original = parse(
      "[training]\nlr = 0.000123456789\nweight_decay = 1e-7\n",
      {"output.dir=\"tab\\there \\\"quoted\\\" back\\\\slash ü\"", "data.corpus='x\\y.h5'",
       "data.folds=0,4", "data.expect_dims=[1, 2, 3]", "data.conditions=atv,a",
       "retrieval.dynamic_k=false", "model.hidden=96", "model.heads=3", "dist.bucket_mb=3",
       "synth.seed=4611686018427387904", "hardness.gamma=0.1"});
  ASSERT_EQ(original.string("output.dir"), "tab\there \"quoted\" back\\slash ü");
  const std::string dumped = original.to_toml();
  const Config reread = Config::parse(dumped, "dump.toml");
  for (const auto& spec : config_schema())
    EXPECT_EQ(reread.value(spec.key), original.value(spec.key)) << spec.key << "\n" << dumped;
  EXPECT_EQ(reread.source("model.hidden").rfind("dump.toml:", 0), 0u);

  const Config defaults = Config::parse(Config::defaults().to_toml(), "dump.toml");
  for (const auto& spec : config_schema()) EXPECT_EQ(defaults.value(spec.key), spec.default_value);
}

TEST(ConfigToToml, GroupsBySectionWithDocComments) {
  const std::string dumped = parse("[model]\nhidden = 128\n").to_toml();
  for (const auto& spec : config_schema()) {
    const std::string section = spec.key.substr(0, spec.key.find('.'));
    EXPECT_TRUE(Contains(dumped, "[" + section + "]\n"));
    EXPECT_TRUE(Contains(dumped, "# " + spec.doc + "\n"));
  }
  EXPECT_TRUE(Contains(dumped, "hidden = 128  # from configs/x.toml:2\n"));
}

TEST(ConfigReference, HasOneTablePerSectionListingEveryKey) {
  const std::string reference = config_reference_markdown();
  std::set<std::string> sections;
  for (const auto& spec : config_schema()) {
    sections.insert(spec.key.substr(0, spec.key.find('.')));
    EXPECT_TRUE(Contains(reference, "| `" + spec.key + "` |"));
  }
  for (const auto& section : sections) EXPECT_TRUE(Contains(reference, "## [" + section + "]\n"));
  EXPECT_TRUE(Contains(reference, "| `model.dropout` | real | `0.5` | [0, 0.95] |"));
  EXPECT_TRUE(Contains(reference, "| `retrieval.index` | string | `\"flat\"` | flat, ivf, hnsw |"));
}

TEST(ConfigReference, DocsConfigMdIsInSync) {
  const std::string path = std::string(kSourceDir) + "/docs/config.md";
  std::ifstream in(path);
  ASSERT_TRUE(in.good()) << "cannot read " << path;
  std::stringstream text;
  text << in.rdbuf();
  const std::string reference = config_reference_markdown();
  if (text.str().find(reference) == std::string::npos) {
    // Leave the expected text where the developer can copy it from.
    const std::string fresh = testing::TempDir() + "config_reference.md";
    std::ofstream(fresh) << reference;
    ADD_FAILURE() << path << " is out of date with the schema in src/core/config.cpp: "
                  << "replace its tables with the content of " << fresh;
  }
}

}  // namespace
}  // namespace hardy

namespace hardy {
namespace {

// dist.group_size is "auto" or a count, written either way.
TEST(ConfigParse, GroupSizeTakesAutoOrACount) {
  EXPECT_EQ(Config::defaults().string("dist.group_size"), "auto");
  EXPECT_EQ(Config::parse("[dist]\ngroup_size = 2\n", "x.toml").string("dist.group_size"), "2");
  EXPECT_EQ(Config::parse("[dist]\ngroup_size = \"4\"\n", "x.toml").string("dist.group_size"), "4");
  EXPECT_EQ(Config::parse("", "x.toml", {"dist.group_size=3"}).string("dist.group_size"), "3");
  for (const char* bad : {"group_size = 0", "group_size = \"two\"", "group_size = -1", "group_size = 1.5"})
    EXPECT_NE(parse_error(std::string("[dist]\n") + bad + "\n").find("dist.group_size"),
              std::string::npos)
        << bad;
}

}  // namespace
}  // namespace hardy
