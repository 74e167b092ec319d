// One test per defect `hardy_dist validate` must find, each checking that the
// report names the problem and the offending rows.
#include "core/error.h"
#include "data/corpus_reader.h"
#include "data/validator.h"
#include "support/corpus_fixtures.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include <fstream>

namespace hardy {
namespace {

using ::testing::HasSubstr;
namespace fx = ::hardy::testing;

std::string fresh(const std::string& name, const fx::TinyCorpus& c = {}) {
  return fx::write_tiny_corpus(fx::temp_path(name), c);
}

// The report must contain exactly one defect; returns it (a copy: reports are temporaries).
Defect single_defect(const ValidationReport& report) {
  EXPECT_EQ(report.defects.size(), 1u) << report.to_text();
  return report.defects.empty() ? Defect{} : report.defects.front();
}

TEST(Validator, CleanCorpusIsValid) {
  auto report = validate_corpus(fresh("clean.h5"));
  EXPECT_TRUE(report.ok()) << report.to_text();
  EXPECT_EQ(report.sequences, 7);
  EXPECT_THAT(report.to_text(), HasSubstr("is valid"));
}

TEST(Validator, NanAndInfRowsAreListed) {
  auto path = fresh("nan.h5");
  fx::set_float(path, "audio", 4, 2, std::nanf(""));
  fx::set_float(path, "audio", 11, 0, INFINITY);
  auto d = single_defect(validate_corpus(path));
  EXPECT_THAT(d.message, HasSubstr("'audio'"));
  EXPECT_THAT(d.message, HasSubstr("NaN or Inf"));
  EXPECT_EQ(d.rows, (std::vector<std::int64_t>{4, 11}));
  EXPECT_EQ(d.count, 2);
}

TEST(Validator, OnlyFirstTenRowsAreShownButAllCounted) {
  auto path = fresh("many_nan.h5");
  for (int r = 0; r < 14; ++r) fx::set_float(path, "visual", r, 0, std::nanf(""));
  auto d = single_defect(validate_corpus(path));
  EXPECT_EQ(d.rows.size(), 10u);
  EXPECT_EQ(d.count, 14);
  EXPECT_THAT(validate_corpus(path).to_text(), HasSubstr("14 rows; first: 0, 1, 2"));
}

TEST(Validator, MissingDataset) {
  auto path = fresh("missing.h5");
  fx::delete_dataset(path, "text");
  auto d = single_defect(validate_corpus(path));
  EXPECT_THAT(d.message, HasSubstr("dataset 'text' is missing"));
}

TEST(Validator, RowCountMismatch) {
  auto path = fresh("rows.h5");
  auto n = CorpusReader(path).meta().rows;
  fx::replace_int_dataset(path, "position", std::vector<std::int64_t>(static_cast<size_t>(n - 1), 0));
  auto d = single_defect(validate_corpus(path));
  EXPECT_THAT(d.message, HasSubstr("'position' has " + std::to_string(n - 1) + " rows"));
}

TEST(Validator, DimMismatchAgainstExpectedDims) {
  ValidateOptions options;
  options.expect_dims = {5, 4, 8};
  auto d = single_defect(validate_corpus(fresh("dims.h5"), options));
  EXPECT_THAT(d.message, HasSubstr("'visual' has dim 3, but 8 is expected"));
}

TEST(Validator, LabelOutOfRange) {
  auto path = fresh("label.h5");
  fx::set_int(path, "label", 6, 4);
  fx::set_int(path, "label", 9, -1);
  auto d = single_defect(validate_corpus(path));
  EXPECT_THAT(d.message, HasSubstr("outside [0, 4)"));
  EXPECT_EQ(d.rows, (std::vector<std::int64_t>{6, 9}));
}

TEST(Validator, SentimentScoreOutOfRange) {
  fx::TinyCorpus c;
  c.task = Task::Sentiment;
  auto path = fresh("score.h5", c);
  fx::set_float(path, "label", 2, 0, 7.5f);
  auto d = single_defect(validate_corpus(path));
  EXPECT_THAT(d.message, HasSubstr("outside [-3, 3]"));
  EXPECT_EQ(d.rows, (std::vector<std::int64_t>{2}));
}

TEST(Validator, NonContiguousSequence) {
  auto path = fresh("seq.h5");
  std::vector<std::int64_t> ids;
  SequenceRun last;
  {
    CorpusReader reader(path);  // closed before the file is edited
    auto seq = reader.read_all().sequence;
    ids.assign(seq.data_ptr<std::int64_t>(), seq.data_ptr<std::int64_t>() + seq.numel());
    last = reader.sequences().back();
  }
  // The last sequence reuses the first sequence's id.
  for (auto r = last.begin; r < last.begin + last.count; ++r) ids[static_cast<size_t>(r)] = ids[0];
  fx::replace_int_dataset(path, "sequence", ids);
  auto d = single_defect(validate_corpus(path));
  EXPECT_THAT(d.message, HasSubstr("not contiguous"));
  EXPECT_EQ(d.rows, (std::vector<std::int64_t>{last.begin}));
}

TEST(Validator, PositionsMustCountWithinSequence) {
  auto path = fresh("pos.h5");
  fx::set_int(path, "position", 3, 17);
  auto d = single_defect(validate_corpus(path));
  EXPECT_THAT(d.message, HasSubstr("'position'"));
  EXPECT_EQ(d.rows, (std::vector<std::int64_t>{3}));
}

TEST(Validator, SequenceStraddlingFolds) {
  auto path = fresh("straddle.h5");
  auto first = CorpusReader(path).sequences().front();
  ASSERT_GE(first.count, 2);
  fx::set_int(path, "fold", first.begin + 1, (first.fold + 1) % 3);
  auto d = single_defect(validate_corpus(path));
  EXPECT_THAT(d.message, HasSubstr("'fold' changes value inside a sequence"));
}

TEST(Validator, EmptyTrainSplit) {
  auto path = fresh("notrain.h5");
  auto n = CorpusReader(path).meta().rows;
  fx::replace_int_dataset(path, "split", std::vector<std::int64_t>(static_cast<size_t>(n), kTest));
  auto d = single_defect(validate_corpus(path));
  EXPECT_THAT(d.message, HasSubstr("train split is empty"));
}

TEST(Validator, EmptyFold) {
  auto path = fresh("nofold.h5");
  auto rows = CorpusReader(path).read_all();
  std::vector<std::int64_t> fold(rows.fold.data_ptr<std::int8_t>(),
                                 rows.fold.data_ptr<std::int8_t>() + rows.fold.numel());
  for (auto& f : fold)
    if (f == 1) f = 2;  // folds 0 and 2 remain: fold 1 is empty
  fx::replace_int_dataset(path, "fold", fold);
  auto d = single_defect(validate_corpus(path));
  EXPECT_THAT(d.message, HasSubstr("fold 1 is empty"));
}

TEST(Validator, UnknownFormatVersion) {
  auto path = fresh("version.h5");
  fx::set_int_attribute(path, "format_version", 7);
  auto d = single_defect(validate_corpus(path));
  EXPECT_THAT(d.message, HasSubstr("'format_version' is 7"));
  EXPECT_THROW(CorpusReader{path}, Error);
}

TEST(Validator, TruncatedFile) {
  auto path = fresh("truncated.h5");
  fx::truncate_file(path, std::filesystem::file_size(path) / 2);
  auto d = single_defect(validate_corpus(path));
  EXPECT_THAT(d.message, HasSubstr("truncated or corrupt"));
  try {
    CorpusReader reader(path);
    ADD_FAILURE() << "reader accepted a truncated file";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("truncated or corrupt"));
  }
}

TEST(Validator, NotAnHdf5File) {
  auto path = fx::temp_path("text.h5");
  std::ofstream(path) << "utterance,label\n1,2\n";
  auto d = single_defect(validate_corpus(path));
  EXPECT_THAT(d.message, HasSubstr("is not an HDF5 file"));
}

TEST(Validator, MissingFile) {
  auto d = single_defect(validate_corpus("/nonexistent/corpus.h5"));
  EXPECT_THAT(d.message, HasSubstr("does not exist"));
}

TEST(Validator, SeveralDefectsAreAllReported) {
  auto path = fresh("several.h5");
  fx::set_float(path, "text", 1, 1, std::nanf(""));
  fx::set_int(path, "label", 0, 99);
  auto report = validate_corpus(path);
  EXPECT_EQ(report.defects.size(), 2u) << report.to_text();
  EXPECT_THAT(report.to_text(), HasSubstr("2 defects"));
}

TEST(CorpusReaderErrors, MissingDatasetIsOneClearError) {
  auto path = fresh("reader_missing.h5");
  fx::delete_dataset(path, "label");
  try {
    CorpusReader reader(path);
    ADD_FAILURE() << "reader accepted a corpus without labels";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("has no dataset 'label'"));
  }
}

}  // namespace
}  // namespace hardy
