// Spearman rank correlation: monotone, reversed, ties and degenerate inputs.
#include "model/spearman.h"

#include "core/error.h"

#include <gtest/gtest.h>

#include <cmath>

namespace hardy {
namespace {

TEST(Spearman, MonotoneReversedAndTies) {
  auto up = torch::tensor({1.0, 2.0, 3.0, 4.0});
  EXPECT_DOUBLE_EQ(spearman(up, torch::tensor({10.0, 20.0, 30.0, 100.0})), 1.0);
  EXPECT_DOUBLE_EQ(spearman(up, torch::tensor({4.f, 3.f, 2.f, -1.f})), -1.0);
  // Ranks (1, 2.5, 2.5, 4) vs (1, 3, 2, 4): centred (-1.5, 0, 0, 1.5) and
  // (-1.5, .5, -.5, 1.5); rho = 4.5 / sqrt(4.5 * 5) = 3 / sqrt(10).
  EXPECT_NEAR(spearman(torch::tensor({1.0, 2.0, 2.0, 3.0}), torch::tensor({1.0, 3.0, 2.0, 4.0})),
              3.0 / std::sqrt(10.0), 1e-12);
  EXPECT_TRUE(std::isnan(spearman(up, torch::full({4}, 2.0))));
  EXPECT_TRUE(std::isnan(spearman(torch::tensor({1.0}), torch::tensor({2.0}))));
  EXPECT_THROW(spearman(up, torch::tensor({1.0, 2.0})), Error);
}

}  // namespace
}  // namespace hardy
