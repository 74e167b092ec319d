// Atomic writes and whole-file reads.
#include "train/file_io.h"

#include "support/corpus_fixtures.h"
#include "support/error_of.h"
#include "support/list_dir.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace hardy {
namespace {

using ::testing::HasSubstr;
using testing::error_of;
using testing::list_dir;

TEST(AtomicWrite, CreatesParentsReplacesContentAndLeavesNoTempFiles) {
  const std::string dir = testing::temp_path("atomic");
  const std::string path = dir + "/sub/out.txt";
  write_file_atomic(path, "first");
  EXPECT_EQ(read_file(path), "first");
  std::string binary("a\0b\n", 4);
  write_file_atomic(path, binary);
  EXPECT_EQ(read_file(path), binary);
  EXPECT_THAT(list_dir(dir + "/sub"), ::testing::ElementsAre("out.txt"));
}

TEST(AtomicWrite, UnreadableFileNamesThePath) {
  const std::string missing = testing::temp_path("missing.txt");
  EXPECT_THAT(error_of([&] { read_file(missing); }), HasSubstr(missing));
}

}  // namespace
}  // namespace hardy
