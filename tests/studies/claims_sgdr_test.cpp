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
  // Relative barrier: 1.0 nats over endpoints of mean train loss 0.25.
  EXPECT_NEAR(j["effect"].get<double>(), 4.0, 1e-12);
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


// The curve claims' negative control: the straight line in place of the curve must never make
// them hold, whatever the line looks like (barrier, flat, a dip below the endpoints).
TEST(Claims, CurveClaimsControlLineInPlaceOfCurveIsNeverHeld) {
  auto as_line = [](std::vector<PairProfile> v) {
    for (auto& p : v) p = line_in_place_of_curve(p);
    return v;
  };
  const auto present = as_line(seeds_of({1.0, 1.1, 0.9}, {0.01, 0.02, 0.015}));
  EXPECT_EQ(present[0].curve_train_loss, present[0].line_train_loss);
  // The claim holds on the real curves (above) but not on the line: fraction 1 > 0.25.
  const ClaimCheck cc = pooled(check_sgdr_curve_connects, present);
  EXPECT_EQ(cc.verdict, Verdict::NotHeld) << to_json(cc)["reason"];
  EXPECT_NEAR(to_json(cc)["effect"].get<double>(), 1.0, 1e-12);
  EXPECT_EQ(check_sgdr_curve_connects({present[0]}).verdict, Verdict::Inconclusive);  // one seed: no error
  // A barrier on the line: no interior point below the endpoints -> the overfit premise fails.
  EXPECT_EQ(pooled(check_curve_overfits, present).verdict, Verdict::Inconclusive);
  // Flat lines: no barrier for either claim.
  const auto flat = as_line(seeds_of({0.0, 0.0, 0.0}, {0.0, 0.0, 0.0}));
  EXPECT_EQ(pooled(check_sgdr_curve_connects, flat).verdict, Verdict::Inconclusive);
  // A dip (weight averaging lowers the loss and the test error): not "overfits".
  auto dip = as_line(seeds_of({-0.1, -0.12, -0.09}, {0.0, 0.0, 0.0}));
  for (auto& p : dip)
    for (size_t i = 1; i + 1 < p.t.size(); ++i) p.curve_test_err[i] = p.line_test_err[i] = 0.08;
  for (auto& p : dip) p.n_test = 5000;
  const ClaimCheck ov = pooled(check_curve_overfits, dip);
  EXPECT_NE(ov.verdict, Verdict::Held) << to_json(ov)["reason"];
  EXPECT_LT(to_json(ov)["effect"].get<double>(), 0.0);
}

TEST(Claims, RelativeBarrierIsScaleFree) {
  auto t = linspace(11);
  const auto v = bump(t, 0.3, 0.2, 0.05);
  std::vector<double> v10;
  for (double x : v) v10.push_back(10 * x);
  EXPECT_NEAR(relative_barrier(t, v), 0.05 / 0.25, 1e-12);
  EXPECT_NEAR(relative_barrier(t, v10), relative_barrier(t, v), 1e-12);
  EXPECT_TRUE(std::isnan(relative_barrier(t, std::vector<double>(11, 0.0))));  // no loss scale
  // The same 0.05-nat bump counts on endpoints at 0.25 nats (0.2 > 0.05) but not at 2.5 nats (0.02).
  std::vector<PairProfile> low{{"p", t, v, {}, {}, {}}}, high{{"p", t, bump(t, 3.0, 2.0, 0.05), {}, {}, {}}};
  EXPECT_GT(to_json(check_sgdr_line_barrier(low))["effect"].get<double>(), 0.05);
  EXPECT_LT(to_json(check_sgdr_line_barrier(high))["effect"].get<double>(), 0.05);
}

TEST(Claims, TestErrBarrierHasABinomialError) {
  auto t = linspace(11);
  const ErrBarrier b = test_err_barrier(t, bump(t, 0.1, 0.1, 0.2), 10000);
  EXPECT_NEAR(b.barrier, 0.2, 1e-12);
  // At t = 0.5: [0.3*0.7 + 0.25*0.09 + 0.25*0.09] / 10000.
  EXPECT_NEAR(b.se, std::sqrt((0.21 + 0.045) / 10000), 1e-12);
  EXPECT_TRUE(std::isnan(test_err_barrier(t, bump(t, 0.1, 0.1, 0.2), NAN).se));
  EXPECT_TRUE(std::isnan(test_err_barrier({0, 1}, {0.1, 0.2}, 100).barrier));
}

// K snapshot pairs named p0.. with SGDR line bumps hs[k] and SGD line bumps hq[k] (train loss on
// endpoints 0.3 -> 0.2, i.e. relative barrier 4 h; test error bumps es[k], eq[k] on 0.1 -> 0.1).
static std::pair<std::vector<PairProfile>, std::vector<PairProfile>> runs(const std::vector<double>& hs,
                                                                        const std::vector<double>& hq,
                                                                        const std::vector<double>& es,
                                                                        const std::vector<double>& eq, double n) {
  auto t = linspace(11);
  std::vector<PairProfile> a, b;
  for (size_t k = 0; k < hs.size(); ++k) {
    const std::string name = "p" + std::to_string(k);
    a.push_back({name, t, bump(t, 0.3, 0.2, hs[k]), bump(t, 0.1, 0.1, es[k]), {}, {}, n});
    b.push_back({name, t, bump(t, 0.3, 0.2, hq[k]), bump(t, 0.1, 0.1, eq[k]), {}, {}, n});
  }
  return {a, b};
}

TEST(Claims, SgdrVsSgdContrastInTrainLoss) {
  const std::vector<double> z3 = {0, 0, 0};
  // Present: SGDR barriers, SGD flat -> d = 4 h ~ 4, 4.8, 3.2: the t interval over 3 pairs lies above 0.
  auto [s1, q1] = runs({1.0, 1.2, 0.8}, z3, z3, z3, 10000);
  const ClaimCheck held = check_sgdr_vs_sgd_barrier(s1, q1);
  EXPECT_EQ(held.verdict, Verdict::Held);
  EXPECT_NEAR(to_json(held)["effect"].get<double>(), 4.0, 1e-9);
  for (const char* k : {"effect", "interval", "null", "verdict", "reason"}) EXPECT_TRUE(to_json(held).contains(k)) << k;
  // Absent: both runs have the same small barriers -> d ~ 0 within the margin: not held.
  auto [s2, q2] = runs({0.002, 0.001, 0.0015}, {0.0015, 0.0012, 0.001}, z3, z3, 10000);
  EXPECT_EQ(check_sgdr_vs_sgd_barrier(s2, q2).verdict, Verdict::NotHeld);
  // Both runs with the same large barrier: the contrast is absent even though SGDR has a barrier.
  auto [s3, q3] = runs({1.0, 1.2, 0.8}, {1.0, 1.2, 0.8}, z3, z3, 10000);
  EXPECT_EQ(check_sgdr_vs_sgd_barrier(s3, q3).verdict, Verdict::NotHeld);
  // Noisy: pair differences of both signs -> inconclusive.
  auto [s4, q4] = runs({0.3, 0.0, 0.1}, {0.0, 0.2, 0.0}, z3, z3, 10000);
  EXPECT_EQ(check_sgdr_vs_sgd_barrier(s4, q4).verdict, Verdict::Inconclusive);
  // One pair: no replicate, no within-run error -> inconclusive, decided only over seeds.
  auto [s5, q5] = runs({1.0}, {0.0}, {0}, {0}, 10000);
  const ClaimCheck one = check_sgdr_vs_sgd_barrier(s5, q5);
  EXPECT_EQ(one.verdict, Verdict::Inconclusive);
  EXPECT_EQ(aggregate_seeds({one, one, check_sgdr_vs_sgd_barrier(runs({1.1}, {0.0}, {0}, {0}, 1e4).first,
                                                                 runs({1.1}, {0.0}, {0}, {0}, 1e4).second)})
                .verdict,
            Verdict::Held);
  // Pairs are matched by name: an SGD run without the pair gives no estimate.
  EXPECT_EQ(check_sgdr_vs_sgd_barrier(s1, {}).verdict, Verdict::Inconclusive);
}

TEST(Claims, SgdrVsSgdContrastInTestError) {
  const std::vector<double> z3 = {0, 0, 0};
  // Present: 20-point test-error barriers for SGDR only, 10,000 test images.
  auto [s1, q1] = runs(z3, z3, {0.2, 0.15, 0.25}, z3, 10000);
  const ClaimCheck held = check_sgdr_vs_sgd_barrier_err(s1, q1);
  EXPECT_EQ(held.verdict, Verdict::Held);
  EXPECT_NEAR(to_json(held)["effect"].get<double>(), 0.2, 1e-9);
  EXPECT_TRUE(std::isfinite(held.numbers["decision"]["se"].get<double>()));
  // Absent: no barrier in either run; the binomial interval lies within the 1-point margin.
  auto [s2, q2] = runs(z3, z3, z3, z3, 10000);
  EXPECT_EQ(check_sgdr_vs_sgd_barrier_err(s2, q2).verdict, Verdict::NotHeld);
  // Noisy: a 5-point contrast on 200 test images.
  auto [s3, q3] = runs({0}, {0}, {0.05}, {0}, 200);
  EXPECT_EQ(check_sgdr_vs_sgd_barrier_err(s3, q3).verdict, Verdict::Inconclusive);
  // Unknown test-set size: no interval.
  auto [s4, q4] = runs(z3, z3, {0.2, 0.15, 0.25}, z3, NAN);
  EXPECT_EQ(check_sgdr_vs_sgd_barrier_err(s4, q4).verdict, Verdict::Inconclusive);
}

TEST(Claims, CurveOverfitsNeedsLowerLossAndWorseErrorBeyondTheBinomialError) {
  auto t = linspace(11);
  // Train loss dips 0.1 below the endpoints; test error 5 points above the better endpoint.
  PairProfile p{"a", t, {}, {}, bump(t, 0.3, 0.3, -0.1), bump(t, 0.1, 0.1, 0.05), 10000};
  const ClaimCheck held = check_curve_overfits({p});
  EXPECT_EQ(held.verdict, Verdict::Held);
  EXPECT_NEAR(to_json(held)["effect"].get<double>(), 0.05, 1e-9);
  // Generalises better: claim fails.
  p.curve_test_err = bump(t, 0.1, 0.1, -0.02);
  EXPECT_EQ(check_curve_overfits({p}).verdict, Verdict::NotHeld);
  // Noisy: 2 points worse on 200 test images is inside the binomial error.
  p.curve_test_err = bump(t, 0.1, 0.1, 0.02);
  p.n_test = 200;
  EXPECT_EQ(check_curve_overfits({p}).verdict, Verdict::Inconclusive);
  // The same 2 points on 100,000 test images decide it.
  p.n_test = 100000;
  EXPECT_EQ(check_curve_overfits({p}).verdict, Verdict::Held);
  // Premise fails (the curve rises in train loss): inconclusive with the reason.
  p.curve_train_loss = bump(t, 0.3, 0.3, 0.1);
  const ClaimCheck np = check_curve_overfits({p});
  EXPECT_EQ(np.verdict, Verdict::Inconclusive);
  EXPECT_NE(to_json(np)["reason"].get<std::string>().find("premise"), std::string::npos);
}

TEST(Claims, BilinearIsExactOnABilinearFunction) {
  const std::vector<double> xs = {0, 0.5, 2}, ys = {-1, 0, 1, 3};
  std::vector<std::vector<double>> g(3, std::vector<double>(4));
  auto f = [](double a, double b) { return 1 + 2 * a - b + 0.5 * a * b; };
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 4; ++j) g[i][j] = f(xs[i], ys[j]);
  EXPECT_NEAR(bilinear(xs, ys, g, 0.25, 0.5), f(0.25, 0.5), 1e-12);
  EXPECT_NEAR(bilinear(xs, ys, g, 1.7, 2.2), f(1.7, 2.2), 1e-12);
  EXPECT_NEAR(bilinear(xs, ys, g, 5.0, 9.0), f(2.0, 3.0), 1e-12);  // clamped
}

// A plane with a loss bump of height h around (0.5, 0) on a floor of 0.1; the trajectory goes
// w_a (0,0) -> (0.5, beta_mid) -> w_b (1,0) with off-plane distance `off` (x dx = 1) at the middle.
static PlaneTrajectory plane(double h, double beta_mid, double off, double curve_max) {
  PlaneTrajectory p;
  p.name = "w1-w3";
  for (int i = 0; i < 15; ++i) p.alphas.push_back(-0.2 + 1.4 * i / 14);
  for (int j = 0; j < 15; ++j) p.betas.push_back(-0.4 + 1.8 * j / 14);
  for (double a : p.alphas) {
    p.tr_nll.emplace_back();
    for (double b : p.betas) p.tr_nll.back().push_back(0.1 + h * std::exp(-((a - 0.5) * (a - 0.5) + b * b) / 0.02));
  }
  p.traj_alpha = {0, 0.5, 1};
  p.traj_beta = {0, beta_mid, 0};
  p.traj_off = {0, off, 0};
  p.traj_names = {"epoch 1", "epoch 2", "epoch 3"};
  p.dx = 1.0;
  p.curve_train_loss = bump(linspace(5), 0.1, 0.1, curve_max - 0.1);
  return p;
}

TEST(Claims, PlaneTrajectoryAgainstTheCurveWithTheOffPlaneGate) {
  // One seed: no within-run error of a grid of train losses -> inconclusive, numbers recorded.
  const ClaimCheck one = check_plane_trajectory(plane(1.0, 0.0, 0.1, 0.1));
  EXPECT_EQ(one.verdict, Verdict::Inconclusive);
  EXPECT_NEAR(one.numbers["trajectory_max_train_loss"].get<double>(), 1.1, 0.1);  // the grid misses the peak a little
  EXPECT_NEAR(one.numbers["max_off_plane_rel"].get<double>(), 0.1, 1e-12);
  // Present over three seeds: the trajectory crosses the bump (~10x the snapshots' loss), the curve stays low.
  std::vector<ClaimCheck> present, absent, far;
  for (double h : {1.0, 0.9, 1.1}) {
    present.push_back(check_plane_trajectory(plane(h, 0.0, 0.1, 0.1)));
    // Absent: the trajectory goes around the bump (beta 1) and the curve rises above what it crosses.
    absent.push_back(check_plane_trajectory(plane(h, 1.0, 0.1, 0.15 + 0.01 * h)));
    // Far off-plane: the middle iterate is 0.8 x ||w_b - w_a|| from the plane -> weak evidence.
    far.push_back(check_plane_trajectory(plane(h, 0.0, 0.8, 0.1)));
  }
  EXPECT_EQ(aggregate_seeds(present).verdict, Verdict::Held);
  EXPECT_EQ(aggregate_seeds(absent).verdict, Verdict::NotHeld);
  const ClaimCheck f = aggregate_seeds(far);
  EXPECT_EQ(f.verdict, Verdict::Inconclusive);
  EXPECT_NE(to_json(f)["reason"].get<std::string>().find("off-plane"), std::string::npos);
  // Noisy over seeds: effects of both signs.
  std::vector<ClaimCheck> noisy = {check_plane_trajectory(plane(0.1, 0.0, 0.1, 0.1)),
                                   check_plane_trajectory(plane(0.0, 0.0, 0.1, 0.2)),
                                   check_plane_trajectory(plane(0.3, 0.0, 0.1, 0.1))};
  EXPECT_EQ(aggregate_seeds(noisy).verdict, Verdict::Inconclusive);
  // No plane: no estimate.
  EXPECT_EQ(check_plane_trajectory(PlaneTrajectory{}).verdict, Verdict::Inconclusive);
}
