#include <gtest/gtest.h>

#include <cmath>

#include "studies/claims.h"
#include "profiles.h"

using namespace closerlook;

using closerlook::testing::bump;
using closerlook::testing::linspace;


// Three seeds of a pair profile: line bump heights hl[k], curve bump heights hc[k].
static std::vector<PairProfile> seeds_of(const std::vector<double>& hl, const std::vector<double>& hc) {
  auto t = linspace(11);
  std::vector<PairProfile> out;
  for (size_t k = 0; k < hl.size(); ++k)
    out.push_back({"w1-w3", t, bump(t, 0.3, 0.2, hl[k]), bump(t, 0.1, 0.1, 30.0), bump(t, 0.3, 0.2, hc[k]),
                   bump(t, 0.1, 0.1, 1.0)});
  return out;
}
template <class F>
static ClaimCheck pooled(F check, const std::vector<PairProfile>& seeds) {
  std::vector<ClaimCheck> per;
  for (const auto& p : seeds) per.push_back(check({p}, SgdrThresholds{}));
  return aggregate_seeds(per);
}

TEST(Claims, SgdrBarrierAndCurveVerdictsFollowTheIntervals) {
  // One seed: a train-loss barrier has no within-run error, so even a large one is inconclusive.
  const auto one = seeds_of({1.0}, {0.01});
  const ClaimCheck single = check_sgdr_line_barrier(one);
  EXPECT_EQ(single.verdict, Verdict::Inconclusive);
  EXPECT_NE(single.numbers["decision"]["reason"].get<std::string>().find("no within-run error"), std::string::npos);
  const auto j = to_json(single);
  for (const char* k : {"effect", "interval", "null", "verdict", "reason"}) EXPECT_TRUE(j.contains(k)) << k;
  EXPECT_NEAR(j["effect"].get<double>(), 1.0, 1e-12);
  EXPECT_DOUBLE_EQ(j["null"].get<double>(), 0.05);
  // Present: barriers 0.9..1.1 over three seeds -> the t interval lies above the threshold.
  const auto present = seeds_of({1.0, 1.1, 0.9}, {0.01, 0.02, 0.015});
  EXPECT_EQ(pooled(check_sgdr_line_barrier, present).verdict, Verdict::Held);
  EXPECT_EQ(pooled(check_sgdr_curve_connects, present).verdict, Verdict::Held);
  EXPECT_EQ(pooled(check_sgd_no_barrier, present).verdict, Verdict::NotHeld);
  // Absent: flat lines -> no barrier (line claim not held, SGD claim held) ...
  const auto flat = seeds_of({0.0, 0.001, 0.002}, {0.0, 0.0, 0.0});
  EXPECT_EQ(pooled(check_sgdr_line_barrier, flat).verdict, Verdict::NotHeld);
  EXPECT_EQ(pooled(check_sgd_no_barrier, flat).verdict, Verdict::Held);
  // ... and a curve between snapshots with no line barrier says nothing: "inconclusive: no barrier",
  // not the vacuous "held" of the old check, in one seed and pooled.
  const ClaimCheck nb = check_sgdr_curve_connects({flat[0]});
  EXPECT_EQ(nb.verdict, Verdict::Inconclusive);
  EXPECT_NE(to_json(nb)["reason"].get<std::string>().find("no barrier"), std::string::npos);
  const ClaimCheck nbp = pooled(check_sgdr_curve_connects, flat);
  EXPECT_EQ(nbp.verdict, Verdict::Inconclusive);
  EXPECT_NE(to_json(nbp)["reason"].get<std::string>().find("no barrier"), std::string::npos);
  // A curve that keeps most of the barrier: fraction ~0.9 > 0.25 -> not held.
  const auto blocked = seeds_of({1.0, 1.1, 0.9}, {0.9, 0.9, 0.9});
  EXPECT_EQ(pooled(check_sgdr_curve_connects, blocked).verdict, Verdict::NotHeld);
  // Noisy: barriers 0, 0.05, 0.3 -> the interval contains the threshold.
  const auto noisy = seeds_of({0.0, 0.05, 0.3}, {0.0, 0.0, 0.0});
  EXPECT_EQ(pooled(check_sgdr_line_barrier, noisy).verdict, Verdict::Inconclusive);
  EXPECT_EQ(pooled(check_sgd_no_barrier, noisy).verdict, Verdict::Inconclusive);
  // No profiles, or a NaN in the only one: no estimate.
  EXPECT_EQ(check_sgdr_line_barrier({}).verdict, Verdict::Inconclusive);
  PairProfile nan = present[0];
  nan.line_train_loss[3] = NAN;
  EXPECT_EQ(check_sgdr_line_barrier({nan}).verdict, Verdict::Inconclusive);
  EXPECT_EQ(aggregate_seeds({check_sgdr_line_barrier({nan}), check_sgdr_line_barrier({present[1]})}).verdict,
            Verdict::Inconclusive);
}

TEST(Claims, CurveOverfitsNeedsLowerLossAndNoBetterError) {
  auto t = linspace(11);
  PairProfile p{"a", t, {}, {}, bump(t, 0.3, 0.3, -0.1), bump(t, 0.1, 0.1, 0.02)};
  EXPECT_EQ(check_curve_overfits({p}).verdict, Verdict::Held);
  p.curve_test_err = bump(t, 0.1, 0.1, -0.02);  // generalises better: claim fails
  EXPECT_EQ(check_curve_overfits({p}).verdict, Verdict::NotHeld);
}
