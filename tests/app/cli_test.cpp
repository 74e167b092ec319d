// The hardy_dist executable as a user meets it: exit codes and messages.
#include "support/corpus_fixtures.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>

#ifndef HARDY_DIST_BIN
#error "HARDY_DIST_BIN must name the hardy_dist executable"
#endif

namespace hardy {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
namespace fx = ::hardy::testing;

struct Result {
  int code;
  std::string output;  // stdout and stderr together
};

Result run(const std::string& args) {
  std::string command = std::string(HARDY_DIST_BIN) + " " + args + " 2>&1";
  Result result{-1, ""};
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return result;
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) result.output.append(buffer.data(), n);
  int status = pclose(pipe);
  result.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string write_file(const std::string& name, const std::string& text) {
  auto path = fx::temp_path(name);
  std::ofstream(path) << text;
  return path;
}

TEST(Cli, HelpListsEveryCommand) {
  auto r = run("--help");
  EXPECT_EQ(r.code, 0);
  for (const char* c : {"synth", "validate", "inspect", "config", "version", "env"})
    EXPECT_THAT(r.output, HasSubstr(c));
  for (const char* c : {"synth", "validate", "inspect", "config", "version", "env"}) {
    auto h = run(std::string(c) + " --help");
    EXPECT_EQ(h.code, 0) << c;
    EXPECT_THAT(h.output, HasSubstr("--config")) << c;
  }
  EXPECT_THAT(run("synth --help").output, HasSubstr("synth.dims"));
}

// What `version` and `env` report is what LibTorch itself says: a current LibTorch,
// its BLAS and CPU capability, and (env) the intra-op threads training.threads set.
TEST(Cli, VersionAndEnvReportLibTorchAndItsThreads) {
  auto v = run("version");
  ASSERT_EQ(v.code, 0) << v.output;
  EXPECT_THAT(v.output, ::testing::ContainsRegex("LibTorch [2-9]\\."));
  EXPECT_THAT(v.output, HasSubstr("BLAS "));
  EXPECT_THAT(v.output, HasSubstr("CPU capability "));
  for (int threads : {1, 2}) {
    auto e = run("env --set training.threads=" + std::to_string(threads));
    ASSERT_EQ(e.code, 0) << e.output;
    EXPECT_THAT(e.output, HasSubstr("training.threads " + std::to_string(threads) + "; intra-op threads " +
                                    std::to_string(threads) + " ("));
  }
}

TEST(Cli, UnknownCommandAndFlagAreUsageErrors) {
  auto r = run("trian");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.output, HasSubstr("unknown command 'trian'"));
  auto f = run("validate --corpsu x.h5");
  EXPECT_EQ(f.code, 2);
  EXPECT_THAT(f.output, HasSubstr("validate --help"));
}

TEST(Cli, SynthValidateInspect) {
  auto corpus = fx::temp_path("cli.h5");
  auto s = run("synth --out " + corpus + " --dialogues 12 --dims 8,6,4 --log-level warn");
  ASSERT_EQ(s.code, 0) << s.output;
  auto v = run("validate --corpus " + corpus);
  EXPECT_EQ(v.code, 0) << v.output;
  EXPECT_THAT(v.output, HasSubstr("is valid"));
  auto i = run("inspect --corpus " + corpus + " --shards 3");
  EXPECT_EQ(i.code, 0) << i.output;
  EXPECT_THAT(i.output, HasSubstr("12 sequences"));
  EXPECT_THAT(i.output, HasSubstr("audio 8, text 6, visual 4"));
  EXPECT_THAT(i.output, HasSubstr("rank 2:"));
}

TEST(Cli, ValidateReportsNanRowsAndExitsOne) {
  auto corpus = fx::write_tiny_corpus(fx::temp_path("nan.h5"));
  fx::set_float(corpus, "visual", 5, 1, std::nanf(""));
  auto r = run("validate --corpus " + corpus);
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.output, HasSubstr("'visual' has rows with NaN or Inf values (1 row; rows: 5)"));
}

TEST(Cli, TruncatedAndMissingDatasetAreOneClearMessage) {
  auto truncated = fx::write_tiny_corpus(fx::temp_path("trunc.h5"));
  fx::truncate_file(truncated, 3000);
  auto r = run("validate --corpus " + truncated);
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.output, HasSubstr("1 defect:"));
  EXPECT_THAT(r.output, HasSubstr("truncated or corrupt"));
  EXPECT_THAT(r.output, Not(HasSubstr("HDF5-DIAG")));  // no raw HDF5 stack dump

  auto missing = fx::write_tiny_corpus(fx::temp_path("missing.h5"));
  fx::delete_dataset(missing, "sequence");
  auto m = run("validate --corpus " + missing);
  EXPECT_EQ(m.code, 1);
  EXPECT_THAT(m.output, HasSubstr("dataset 'sequence' is missing"));

  auto i = run("inspect --corpus " + truncated);
  EXPECT_EQ(i.code, 2);
  EXPECT_THAT(i.output, HasSubstr("truncated or corrupt"));
  EXPECT_THAT(i.output, Not(HasSubstr("HDF5-DIAG")));
}

TEST(Cli, ConfigErrorsNameKeyFileAndLine) {
  auto cfg = write_file("bad.toml", "[model]\nhidden = 128\nhiden = 3\n");
  auto r = run("config --config " + cfg);
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.output, HasSubstr("bad.toml:3"));
  EXPECT_THAT(r.output, HasSubstr("model.hiden"));
  EXPECT_THAT(r.output, HasSubstr("model.hidden"));

  auto t = run("config --set model.dropout=lots");
  EXPECT_EQ(t.code, 2);
  EXPECT_THAT(t.output, HasSubstr("model.dropout"));

  auto ok = run("config --config " + write_file("good.toml", "[model]\nhidden = 128\n") +
                " --set model.heads=4");
  EXPECT_EQ(ok.code, 0) << ok.output;
  EXPECT_THAT(ok.output, HasSubstr("hidden = 128"));
  EXPECT_THAT(ok.output, HasSubstr("heads = 4"));
}

TEST(Cli, MissingCorpusArgumentIsExplained) {
  auto r = run("validate");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.output, HasSubstr("no corpus given"));
  auto m = run("validate --corpus /nonexistent/c.h5");
  EXPECT_EQ(m.code, 1);
  EXPECT_THAT(m.output, HasSubstr("does not exist"));
}

}  // namespace
}  // namespace hardy
