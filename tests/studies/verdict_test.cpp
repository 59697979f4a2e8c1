// The one verdict rule (studies/verdict.h) and its interval helpers, on synthetic numbers with a
// known answer: an effect present, absent and noisy -> held / not held / inconclusive; t and
// normal quantiles and the Wilson interval against tabulated values.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "studies/verdict.h"

using namespace closerlook;

TEST(Verdict, Quantiles) {
  EXPECT_NEAR(normal_quantile(0.975), 1.959963985, 1e-9);
  EXPECT_NEAR(normal_quantile(0.5), 0.0, 1e-12);
  EXPECT_NEAR(normal_quantile(0.001), -3.090232306, 1e-8);
  EXPECT_NEAR(t_quantile(0.975, 1), 12.706205, 1e-5);
  EXPECT_NEAR(t_quantile(0.975, 2), 4.302653, 1e-6);
  EXPECT_NEAR(t_quantile(0.975, 4), 2.776445, 1e-6);
  EXPECT_NEAR(t_quantile(0.975, 10), 2.228139, 1e-6);
  EXPECT_NEAR(t_quantile(0.95, 30), 1.697261, 1e-6);
  EXPECT_NEAR(t_quantile(0.025, 4), -2.776445, 1e-6);
  EXPECT_NEAR(t_quantile(0.975, 100000), 1.959964, 1e-4);
  EXPECT_THROW(t_quantile(0.975, 0), Error);
  EXPECT_THROW(normal_quantile(1.0), Error);
}

TEST(Verdict, WilsonInterval) {
  const Interval w = wilson_interval(10, 100);
  EXPECT_NEAR(w.lo, 0.05523, 5e-6);
  EXPECT_NEAR(w.hi, 0.17437, 5e-6);
  // Edges stay inside [0, 1]; no errors still leaves a positive upper end.
  const Interval z = wilson_interval(0, 50);
  EXPECT_DOUBLE_EQ(z.lo, 0.0);
  EXPECT_GT(z.hi, 0.0);
  EXPECT_LT(z.hi, 0.1);
  EXPECT_DOUBLE_EQ(wilson_interval(50, 50).hi, 1.0);
  EXPECT_TRUE(std::isnan(wilson_interval(1, 0).lo));
  EXPECT_THROW(wilson_interval(11, 10), Error);
  EXPECT_NEAR(binomial_se(0.1, 100), 0.03, 1e-12);
}

TEST(Verdict, SeedEstimateIsTOverSeeds) {
  // mean 2, sd 1, k = 3: 2 ± 4.302653 / sqrt(3)
  const Estimate e = seed_estimate({1, 2, 3});
  EXPECT_DOUBLE_EQ(e.effect, 2.0);
  EXPECT_EQ(e.seeds, 3);
  EXPECT_NEAR(e.interval.lo, 2 - 4.302653 / std::sqrt(3.0), 1e-6);
  EXPECT_NEAR(e.interval.hi, 2 + 4.302653 / std::sqrt(3.0), 1e-6);
  // With a within-run error: sqrt(s^2/k + mean(se^2)/k) = sqrt(1/3 + 1/3).
  const Estimate c = seed_estimate({1, 2, 3}, {1, 1, 1});
  EXPECT_NEAR(c.interval.hi - c.effect, 4.302653 * std::sqrt(2.0 / 3.0), 1e-6);
  EXPECT_NEAR(combined_se(1.0, {1, 1, 1}, 3), std::sqrt(2.0 / 3.0), 1e-12);
  // One seed: the within-run interval, or unbounded without one.
  const Estimate one = seed_estimate({0.5}, {0.1});
  EXPECT_NEAR(one.interval.lo, 0.5 - 1.959964 * 0.1, 1e-6);
  EXPECT_NEAR(one.interval.hi, 0.5 + 1.959964 * 0.1, 1e-6);
  const Estimate bare = seed_estimate({0.5});
  EXPECT_TRUE(std::isinf(bare.interval.lo) && std::isinf(bare.interval.hi));
  EXPECT_EQ(decide(bare, 0, Side::Greater).verdict, Verdict::Inconclusive);
  // A diverged seed does not vanish from the mean: no estimate.
  const Estimate nan = seed_estimate({1, NAN, 3});
  EXPECT_TRUE(std::isnan(nan.effect));
  EXPECT_EQ(decide(nan, 0, Side::Greater).verdict, Verdict::Inconclusive);
  EXPECT_TRUE(std::isnan(seed_estimate({}).effect));
}

TEST(Verdict, PresentAbsentNoisyGreater) {
  // Present: five seeds around 1.0 with small spread -> interval above 0.
  const Estimate present = seed_estimate({0.98, 1.01, 1.02, 0.99, 1.0});
  const Decision h = decide(present, 0.0, Side::Greater);
  EXPECT_EQ(h.verdict, Verdict::Held);
  EXPECT_FALSE(h.reason.empty());
  // Absent (reversed): seeds around -1 -> interval below the null: not held.
  const Estimate reversed = seed_estimate({-0.98, -1.01, -1.02, -0.99, -1.0});
  EXPECT_EQ(decide(reversed, 0.0, Side::Greater).verdict, Verdict::NotHeld);
  // Absent (zero effect, precise): straddles 0 but inside an equivalence margin -> not held;
  // without a margin the same interval is inconclusive.
  const Estimate zero = seed_estimate({-0.01, 0.01, 0.0, 0.005, -0.005});
  EXPECT_EQ(decide(zero, 0.0, Side::Greater, 0.1).verdict, Verdict::NotHeld);
  EXPECT_EQ(decide(zero, 0.0, Side::Greater).verdict, Verdict::Inconclusive);
  // Noisy: mean 1 but spread 2 over 3 seeds -> contains 0 and reaches beyond the margin.
  const Estimate noisy = seed_estimate({-1, 1, 3});
  const Decision n = decide(noisy, 0.0, Side::Greater, 0.1);
  EXPECT_EQ(n.verdict, Verdict::Inconclusive);
  EXPECT_NE(n.reason.find("contains the null"), std::string::npos);
  // Held takes precedence over the margin: a significant effect smaller than m is held.
  EXPECT_EQ(decide(Estimate{0.05, {0.04, 0.06}}, 0.0, Side::Greater, 0.1).verdict, Verdict::Held);
  // Touching the null from below excludes the claimed effect.
  EXPECT_EQ(decide(Estimate{-0.5, {-1, 0}}, 0.0, Side::Greater).verdict, Verdict::NotHeld);
}

TEST(Verdict, PresentAbsentNoisyLess) {
  // Claim "effect < tolerance" (e.g. resilience: worst curve error minus worse endpoint < 0.02).
  const double tol = 0.02;
  EXPECT_EQ(decide(Estimate{0.005, wilson_interval(0, 2000)}, tol, Side::Less).verdict, Verdict::Held);
  EXPECT_EQ(decide(Estimate{0.10, {0.08, 0.12}}, tol, Side::Less).verdict, Verdict::NotHeld);
  EXPECT_EQ(decide(Estimate{0.02, {0.0, 0.05}}, tol, Side::Less).verdict, Verdict::Inconclusive);
  // Mirror of the margin: interval just above the null but within m of it -> not held.
  EXPECT_EQ(decide(Estimate{0.0, {-0.01, 0.01}}, 0.0, Side::Less, 0.05).verdict, Verdict::NotHeld);
  EXPECT_EQ(decide(Estimate{0.0, {-0.01, 0.01}}, 0.0, Side::Less).verdict, Verdict::Inconclusive);
  EXPECT_THROW(decide(Estimate{0.0, {1, -1}}, 0.0, Side::Less), Error);
}

TEST(Verdict, JsonFields) {
  const Estimate e = seed_estimate({0.98, 1.01, 1.02});
  const Decision d = decide(e, 0.0, Side::Greater);
  const auto j = to_json(e, 0.0, Side::Greater, d);
  for (const char* k : {"effect", "interval", "null", "verdict", "reason"}) EXPECT_TRUE(j.contains(k)) << k;
  EXPECT_EQ(j["verdict"], "held");
  ASSERT_EQ(j["interval"].size(), 2u);
  EXPECT_LT(j["interval"][0].get<double>(), j["interval"][1].get<double>());
  // Unbounded intervals serialise their infinite ends as null.
  const auto u = to_json(seed_estimate({0.5}), 0.0, Side::Greater, decide(seed_estimate({0.5}), 0.0, Side::Greater));
  EXPECT_TRUE(u["interval"][0].is_null());
  EXPECT_EQ(u["verdict"], "inconclusive");
}
