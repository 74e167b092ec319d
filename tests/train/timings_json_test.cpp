// timings.json: the fields bench/train_scaling.sh reads, steps as an integer.
#include "train/timings_json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace hardy {
namespace {

TEST(TimingsJson, HasRanksAndPerStageSplit) {
  std::map<std::string, StageTimes> times;
  times["teacher"] = StageTimes{1.5, 12.25, 0.125, 0.0, 40};
  times["curriculum"] = StageTimes{0.0, 0.0, 0.0, 2.5, 0};
  const std::string text = timings_json(3, times);
  EXPECT_EQ(text.back(), '\n');
  const auto doc = nlohmann::ordered_json::parse(text);
  EXPECT_EQ(doc.at("ranks"), 3);
  ASSERT_EQ(doc.at("stages").size(), 2u);
  const auto& t = doc["stages"].at("teacher");
  std::vector<std::string> keys;
  for (const auto& item : t.items()) keys.push_back(item.key());
  EXPECT_THAT(keys, ::testing::ElementsAre("data_s", "compute_s", "grad_sync_s", "exchange_s",
                                           "steps"));
  EXPECT_EQ(t.at("data_s").get<double>(), 1.5);
  EXPECT_EQ(t.at("compute_s").get<double>(), 12.25);
  EXPECT_EQ(t.at("grad_sync_s").get<double>(), 0.125);
  EXPECT_EQ(t.at("exchange_s").get<double>(), 0.0);
  EXPECT_TRUE(t.at("steps").is_number_integer());  // the bench divides by it
  EXPECT_EQ(t.at("steps"), 40);
  EXPECT_EQ(doc["stages"].at("curriculum").at("exchange_s").get<double>(), 2.5);
  // Stage names in name order, as the map holds them.
  EXPECT_EQ(doc["stages"].begin().key(), "curriculum");
}

TEST(TimingsJson, NoStagesIsAnEmptyObject) {
  const auto doc = nlohmann::json::parse(timings_json(1, {}));
  EXPECT_EQ(doc.at("ranks"), 1);
  EXPECT_TRUE(doc.at("stages").is_object());
  EXPECT_TRUE(doc.at("stages").empty());
}

}  // namespace
}  // namespace hardy
