#include <gtest/gtest.h>

#include <cmath>

#include "studies/claims.h"
#include "profiles.h"

using namespace closerlook;

using closerlook::testing::bump;
using closerlook::testing::linspace;

TEST(Claims, WarmupDeepLayerVerdict) {
  std::vector<std::string> L = {"conv1", "conv2", "fc1", "fc2"};
  WarmupRun sb{"small-batch", L, {0.9, 0.9, 0.8, 0.8}, 0.9};
  WarmupRun lb{"large-batch", L, {0.9, 0.9, 0.3, 0.2}, 0.8};
  WarmupRun lbw{"large-batch+warmup", L, {0.9, 0.9, 0.85, 0.8}, 0.9};
  WarmupRun fr{"large-batch+fc-freeze", L, {0.9, 0.9, 1.0, 1.0}, 0.88};
  EXPECT_EQ(check_warmup_deep_layers({sb, lb, lbw}, 2).verdict, Verdict::Held);
  EXPECT_EQ(check_fc_freeze({sb, lb, lbw, fr}).verdict, Verdict::Held);
  WarmupRun lb_stable = lb;
  lb_stable.similarity = {0.9, 0.9, 0.9, 0.9};
  EXPECT_EQ(check_warmup_deep_layers({sb, lb_stable, lbw}, 2).verdict, Verdict::NotHeld);
  EXPECT_EQ(check_warmup_deep_layers({sb, lbw}, 2).verdict, Verdict::Inconclusive);
  fr.final_test_acc = 0.81;
  EXPECT_EQ(check_fc_freeze({sb, lb, lbw, fr}).verdict, Verdict::NotHeld);
}
