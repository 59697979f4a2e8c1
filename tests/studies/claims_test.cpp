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
  // Claims without an interval decision keep reporting that they have none.
  EXPECT_TRUE(to_json(agg)["effect"].is_null());
  EXPECT_NE(to_json(agg)["reason"].get<std::string>().find("not decided"), std::string::npos);
}
