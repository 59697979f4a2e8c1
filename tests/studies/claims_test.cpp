#include <gtest/gtest.h>

#include <cmath>

#include "studies/claims.h"

using namespace closerlook;

namespace {
std::vector<double> linspace(int n) {
  std::vector<double> t(n);
  for (int i = 0; i < n; ++i) t[i] = double(i) / (n - 1);
  return t;
}
// A bump of height h in the middle, on top of a straight line from a to b.
std::vector<double> bump(const std::vector<double>& t, double a, double b, double h) {
  std::vector<double> v;
  for (double x : t) v.push_back((1 - x) * a + x * b + h * 4 * x * (1 - x));
  return v;
}
}  // namespace

TEST(Claims, SgdrBarrierAndCurveVerdictsFollowTheNumbers) {
  auto t = linspace(11);
  PairProfile p{"w1-w3", t, bump(t, 0.3, 0.2, 1.0), bump(t, 0.1, 0.1, 30.0), bump(t, 0.3, 0.2, 0.01),
                bump(t, 0.1, 0.1, 1.0)};
  EXPECT_EQ(check_sgdr_line_barrier({p}).verdict, Verdict::Held);
  EXPECT_EQ(check_sgdr_curve_connects({p}).verdict, Verdict::Held);
  PairProfile flat = p;
  flat.line_train_loss = bump(t, 0.3, 0.2, 0.0);
  EXPECT_EQ(check_sgdr_line_barrier({flat}).verdict, Verdict::NotHeld);
  EXPECT_EQ(check_sgd_no_barrier({flat}).verdict, Verdict::Held);
  PairProfile blocked = p;
  blocked.curve_train_loss = bump(t, 0.3, 0.2, 0.9);
  EXPECT_EQ(check_sgdr_curve_connects({blocked}).verdict, Verdict::NotHeld);
  EXPECT_EQ(check_sgdr_curve_connects({p, blocked}).verdict, Verdict::Inconclusive);
  EXPECT_EQ(check_sgdr_line_barrier({}).verdict, Verdict::Inconclusive);
  PairProfile nan = p;
  nan.line_train_loss[3] = NAN;
  EXPECT_EQ(check_sgdr_line_barrier({nan}).verdict, Verdict::Inconclusive);
}

TEST(Claims, CurveOverfitsNeedsLowerLossAndNoBetterError) {
  auto t = linspace(11);
  PairProfile p{"a", t, {}, {}, bump(t, 0.3, 0.3, -0.1), bump(t, 0.1, 0.1, 0.02)};
  EXPECT_EQ(check_curve_overfits({p}).verdict, Verdict::Held);
  p.curve_test_err = bump(t, 0.1, 0.1, -0.02);  // generalises better: claim fails
  EXPECT_EQ(check_curve_overfits({p}).verdict, Verdict::NotHeld);
}

TEST(Claims, ResilienceUsesTheWorseEndpointAndTolerance) {
  auto t = linspace(11);
  ModeCurve good{"A", t, bump(t, 0.10, 0.12, 0.01), bump(t, 0.10, 0.12, 0.5)};
  ModeCurve bad{"B", t, bump(t, 0.10, 0.12, 0.2), {}};
  EXPECT_EQ(check_resilience({good}, 0.02).verdict, Verdict::Held);
  EXPECT_EQ(check_resilience({bad}, 0.02).verdict, Verdict::NotHeld);
  auto mixed = check_resilience({good, bad}, 0.02);
  EXPECT_EQ(mixed.verdict, Verdict::Inconclusive);
  EXPECT_TRUE(mixed.numbers["A"]["connected"].get<bool>());
  EXPECT_FALSE(mixed.numbers["B"]["connected"].get<bool>());
}

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

TEST(Claims, DistillDeeperComparesHalves) {
  std::vector<std::string> L = {"conv1", "conv2", "fc1", "logits"};
  auto c = check_distill_deeper(L, {0.0, 0.01, 0.05, 0.2});
  EXPECT_EQ(c.verdict, Verdict::Held);
  EXPECT_EQ(c.numbers["largest_gain_layer"], "logits");
  EXPECT_EQ(check_distill_deeper(L, {0.2, 0.1, 0.0, 0.01}).verdict, Verdict::NotHeld);
}

TEST(Claims, SeedAggregationRequiresEverySeed) {
  ClaimCheck a{"s", "x", "t", Verdict::Held, {{"v", 1.0}, {"pair", {{"b", 2.0}}}}, ""};
  ClaimCheck b = a;
  b.numbers = {{"v", 3.0}, {"pair", {{"b", 4.0}}}};
  auto agg = aggregate_seeds({a, b});
  EXPECT_EQ(agg.verdict, Verdict::Held);
  EXPECT_DOUBLE_EQ(agg.numbers["mean_std"]["v"]["mean"].get<double>(), 2.0);
  EXPECT_NEAR(agg.numbers["mean_std"]["v"]["std"].get<double>(), std::sqrt(2.0), 1e-12);
  EXPECT_DOUBLE_EQ(agg.numbers["mean_std"]["pair/b"]["mean"].get<double>(), 3.0);
  b.verdict = Verdict::NotHeld;
  EXPECT_EQ(aggregate_seeds({a, b}).verdict, Verdict::Inconclusive);
}
