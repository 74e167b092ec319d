// Stage manifests: round trip, the file's layout, corrupt files, matching.
#include "train/manifest.h"

#include "core/fingerprint.h"
#include "support/corpus_fixtures.h"
#include "support/error_of.h"
#include "train/file_io.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace hardy {
namespace {

using ::testing::HasSubstr;
using testing::error_of;

TEST(Manifest, RoundTripsWithEscapes) {
  const std::string path = testing::temp_path("run") + "/teacher/manifest.json";
  Manifest m;
  m.stage = "teacher \"v2\"";
  m.key = fingerprint("config");
  m.complete = true;
  m.info["checkpoint"] = "C:\\runs\\teacher.pt";
  m.info["note"] = "line one\nline \"two\"\ttabbed\x01 caf\xc3\xa9";
  m.info["empty"] = "";
  save_manifest(path, m);
  auto back = load_manifest(path);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->stage, m.stage);
  EXPECT_EQ(back->key, m.key);
  EXPECT_TRUE(back->complete);
  EXPECT_EQ(back->info, m.info);

  Manifest bare{"index", "k", false, {}};
  save_manifest(path, bare);
  back = load_manifest(path);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->stage, "index");
  EXPECT_FALSE(back->complete);
  EXPECT_TRUE(back->info.empty());
}

TEST(Manifest, MissingIsNulloptCorruptNamesTheFile) {
  EXPECT_FALSE(load_manifest(testing::temp_path("none.json")).has_value());
  const std::string path = testing::temp_path("corrupt.json");
  for (const char* text : {"{\"stage\": \"teacher\", \"key\": \"ab", "not json",
                           "{\"stage\": \"t\", \"key\": \"k\"}",  // no "complete"
                           "{\"stage\": \"t\", \"key\": \"k\", \"complete\": true} x"}) {
    write_file_atomic(path, text);
    std::string message = error_of([&] { load_manifest(path); });
    EXPECT_THAT(message, HasSubstr(path)) << text;
    EXPECT_THAT(message, HasSubstr("delete it")) << text;
  }
}

// The layout earlier runs wrote (and docs/pipeline.md shows): a run directory from
// before the switch to nlohmann-json is read, and rewritten, byte for byte.
TEST(Manifest, FileLayoutIsStable) {
  const std::string path = testing::temp_path("layout.json");
  save_manifest(path, Manifest{"teacher", "0123abcd", true,
                               {{"checkpoint", "fold0/teacher.pt"}, {"note", "a \"b\"\n\x01"}}});
  EXPECT_EQ(read_file(path),
            "{\n"
            "  \"stage\": \"teacher\",\n"
            "  \"key\": \"0123abcd\",\n"
            "  \"complete\": true,\n"
            "  \"info\": {\n"
            "    \"checkpoint\": \"fold0/teacher.pt\",\n"
            "    \"note\": \"a \\\"b\\\"\\n\\u0001\"\n"
            "  }\n"
            "}\n");
  save_manifest(path, Manifest{"index", "k", false, {}});
  EXPECT_EQ(read_file(path),
            "{\n  \"stage\": \"index\",\n  \"key\": \"k\",\n  \"complete\": false,\n"
            "  \"info\": {}\n}\n");
}

// Hand-edited or foreign files: escapes JSON allows are read; anything that is not
// a manifest is an error naming the file, never a silent re-run or skip.
TEST(Manifest, ReadsAnyValidJsonAndRejectsWrongFields) {
  const std::string path = testing::temp_path("foreign.json");
  write_file_atomic(path, R"({"complete":true,"key":"k\/1","stage":"caf\u00e9 \ud83d\ude00"})");
  auto m = load_manifest(path);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->stage, "caf\xc3\xa9 \xf0\x9f\x98\x80");
  EXPECT_EQ(m->key, "k/1");
  EXPECT_TRUE(m->complete);
  EXPECT_TRUE(m->info.empty());

  for (const char* text :
       {"[1, 2]", "{\"stage\": \"t\", \"key\": \"k\", \"complete\": \"yes\"}",
        "{\"stage\": 1, \"key\": \"k\", \"complete\": true}",
        "{\"stage\": \"t\", \"key\": \"k\", \"complete\": true, \"extra\": 1}",
        "{\"stage\": \"t\", \"key\": \"k\", \"complete\": true, \"info\": {\"n\": 3}}",
        "{\"stage\": \"t\", \"key\": \"k\", \"complete\": true, \"info\": []}", ""}) {
    write_file_atomic(path, text);
    std::string message = error_of([&] { load_manifest(path); });
    EXPECT_THAT(message, HasSubstr(path)) << text;
    EXPECT_THAT(message, HasSubstr("delete it")) << text;
  }
}

TEST(Manifest, MatchesOnlyCompleteWithSameKey) {
  const std::string path = testing::temp_path("match.json");
  EXPECT_FALSE(manifest_matches(path, "k1"));
  save_manifest(path, Manifest{"student", "k1", true, {}});
  EXPECT_TRUE(manifest_matches(path, "k1"));
  EXPECT_FALSE(manifest_matches(path, "k2"));
  save_manifest(path, Manifest{"student", "k1", false, {}});
  EXPECT_FALSE(manifest_matches(path, "k1"));
}

}  // namespace
}  // namespace hardy
