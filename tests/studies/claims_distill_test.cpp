#include <gtest/gtest.h>

#include <cmath>

#include "studies/claims.h"
#include "profiles.h"

using namespace closerlook;

using closerlook::testing::bump;
using closerlook::testing::linspace;

TEST(Claims, DistillDeeperComparesHalves) {
  std::vector<std::string> L = {"conv1", "conv2", "fc1", "logits"};
  auto c = check_distill_deeper(L, {0.0, 0.01, 0.05, 0.2});
  EXPECT_EQ(c.verdict, Verdict::Held);
  EXPECT_EQ(c.numbers["largest_gain_layer"], "logits");
  EXPECT_EQ(check_distill_deeper(L, {0.2, 0.1, 0.0, 0.01}).verdict, Verdict::NotHeld);
}
