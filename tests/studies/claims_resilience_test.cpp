#include <gtest/gtest.h>

#include <cmath>

#include "studies/claims.h"
#include "profiles.h"

using namespace closerlook;

using closerlook::testing::bump;
using closerlook::testing::linspace;

TEST(Claims, ResilienceUsesTheWorseEndpointAndABinomialInterval) {
  auto t = linspace(11);
  // Rise of the worst curve point over the worse endpoint: ~0.0024 (good), ~0.19 (bad).
  ModeCurve good{"A", t, bump(t, 0.10, 0.12, 0.01), bump(t, 0.10, 0.12, 0.5), 10000};
  ModeCurve bad{"B", t, bump(t, 0.10, 0.12, 0.2), {}, 10000};
  const ClaimCheck g = check_resilience({good}, 0.02);
  EXPECT_EQ(g.verdict, Verdict::Held);  // upper end ~0.012 < 0.02 on 10,000 test images
  EXPECT_NEAR(to_json(g)["effect"].get<double>(), 0.0024, 1e-4);
  EXPECT_LT(to_json(g)["interval"][1].get<double>(), 0.02);
  EXPECT_EQ(check_resilience({bad}, 0.02).verdict, Verdict::NotHeld);
  // The claim is for every curve: one clearly failing curve decides it.
  auto mixed = check_resilience({good, bad}, 0.02);
  EXPECT_EQ(mixed.verdict, Verdict::NotHeld);
  EXPECT_TRUE(mixed.numbers["A"]["connected"].get<bool>());
  EXPECT_FALSE(mixed.numbers["B"]["connected"].get<bool>());
  // Noisy: the same curve on 200 test images -> the interval reaches past the tolerance.
  ModeCurve small = good;
  small.n_test = 200;
  EXPECT_EQ(check_resilience({small}, 0.02).verdict, Verdict::Inconclusive);
  // Unknown test-set size: no interval from one seed.
  ModeCurve unknown = good;
  unknown.n_test = NAN;
  EXPECT_EQ(check_resilience({unknown}, 0.02).verdict, Verdict::Inconclusive);
  // A missing curve: inconclusive whatever the others say.
  ModeCurve missing{"C", {}, {}, {}, 10000};
  const ClaimCheck m = check_resilience({good, missing}, 0.02);
  EXPECT_EQ(m.verdict, Verdict::Inconclusive);
  EXPECT_NE(to_json(m)["reason"].get<std::string>().find("missing"), std::string::npos);
  // Seeds pool the per-seed rises with their binomial errors (t with 2 degrees of freedom).
  const ClaimCheck gs = check_resilience({good}, 0.02);
  EXPECT_EQ(aggregate_seeds({gs, gs, gs}).verdict, Verdict::Held);
}

TEST(Claims, ResilienceStraightLineControlMustNotHold) {
  // The control arm: the straight line G -> X checked as if it were the curve.
  auto t = linspace(11);
  // A line with a 30-point barrier on 10,000 test images: not held.
  ModeCurve line{"A", t, bump(t, 0.10, 0.12, 0.3), {}, 10000};
  EXPECT_EQ(check_resilience({line}, 0.02).verdict, Verdict::NotHeld);
  // Networks at chance (smoke size: 4 classes, 128 test images), flat line: the binomial interval
  // reaches past the tolerance, so the control is inconclusive, not held.
  ModeCurve chance{"A", t, std::vector<double>(11, 0.75), {}, 128};
  EXPECT_EQ(check_resilience({chance}, 0.02).verdict, Verdict::Inconclusive);
  // A flat line on a large test set *is* held: the control then says that the straight line has no
  // barrier here, i.e. the claim is vacuous at this size (docs/studies.md).
  chance.n_test = 1e6;
  EXPECT_EQ(check_resilience({chance}, 0.02).verdict, Verdict::Held);
}
