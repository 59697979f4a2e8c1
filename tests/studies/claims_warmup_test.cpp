// Study 3 claim checks on synthetic numbers: held, not held and inconclusive for each check,
// and each gate (noise floor, missing runs, divergence, chance, warmup's own gain).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "studies/claims.h"

using namespace closerlook;

namespace {

const std::vector<std::string> kLayers = {"conv1", "conv2", "fc1", "logits"};

// A run with per-layer similarities `sim`, a flat noise floor, and B bootstrap replicates with
// independent normal noise of sd `noise` around `sim`; weight changes proportional to 1 - sim.
WarmupRun run(const std::string& name, std::vector<double> sim, double noise = 0.005, double floor = 0.2,
              uint32_t seed = 1) {
  WarmupRun r;
  r.name = name;
  r.layers = kLayers;
  r.similarity = sim;
  r.floor.assign(sim.size(), floor);
  r.floor_sd.assign(sim.size(), 0.01);
  std::mt19937 g(seed);
  std::normal_distribution<double> n(0.0, noise);
  for (int b = 0; b < 200; ++b) {
    std::vector<double> rep;
    for (double s : sim) rep.push_back(s + n(g));
    r.replicates.push_back(rep);
  }
  r.weights = {"features.0.weight", "features.3.weight", "classifier.0.weight", "classifier.2.weight"};
  for (double s : sim) r.weight_change.push_back(0.5 * (1 - s));
  return r;
}

WarmupCheckOptions opts(int deep = 2) {
  WarmupCheckOptions o;
  o.deep_layers = deep;
  o.margin = 0.05;
  return o;
}

WarmupRun acc_run(const std::string& name, double acc, double n_test = 2000, double loss = 0.5) {
  WarmupRun r;
  r.name = name;
  r.final_test_acc = acc;
  r.final_train_loss = loss;
  r.status = RunStatus::Completed;
  r.n_test = n_test;
  r.classes = 10;
  return r;
}

std::string reason(const ClaimCheck& c) { return c.numbers["decision"].value("reason", ""); }

}  // namespace

TEST(ClaimsWarmup, DeepShareAndChanges) {
  EXPECT_DOUBLE_EQ(deep_share({1, 1, 3, 3}, 2), 0.75);
  EXPECT_DOUBLE_EQ(deep_share({2, 2, 6, 6}, 2), 0.75);  // scale-free
  EXPECT_TRUE(std::isnan(deep_share({1, 1}, 2)));         // no shallow layer
  EXPECT_TRUE(std::isnan(deep_share({0, 0, 0}, 1)));      // no change at all
  EXPECT_TRUE(std::isnan(deep_share({1, NAN, 1}, 1)));
  WarmupRun r = run("x", {0.9, 0.6, 0.2, 1.0}, 0.0, 0.2);
  const auto c = warmup_changes(r, "similarity");  // (1 - S) / (1 - floor)
  EXPECT_NEAR(c[0], 0.125, 1e-12);
  EXPECT_NEAR(c[1], 0.5, 1e-12);
  EXPECT_NEAR(c[2], 1.0, 1e-12);
  EXPECT_NEAR(c[3], 0.0, 1e-12);
  EXPECT_EQ(warmup_changes(r, "weights"), r.weight_change);
}

TEST(ClaimsWarmup, DeepLayersHeldWhenLargeBatchMovesTheDeepLayers) {
  auto sb = run("small-batch", {0.95, 0.95, 0.92, 0.92}, 0.005, 0.2, 3);
  auto lb = run("large-batch", {0.9, 0.9, 0.3, 0.25}, 0.005, 0.2, 4);
  auto lbw = run("large-batch+warmup", {0.95, 0.95, 0.9, 0.9}, 0.005, 0.2, 5);
  const ClaimCheck c = check_warmup_deep_layers({sb, lb, lbw}, opts());
  EXPECT_EQ(c.verdict, Verdict::Held) << reason(c);
  EXPECT_GT(c.numbers["decision"]["effect"].get<double>(), 0.1);
  EXPECT_TRUE(std::isfinite(c.numbers["decision"]["se"].get<double>()));
  EXPECT_GT(c.numbers["vs_small_batch"]["effect"].get<double>(), 0.1);
  EXPECT_EQ(c.numbers["decided_by"], "svcca similarity");
  EXPECT_EQ(c.numbers["large-batch"]["similarity"].size(), 4u);
  EXPECT_EQ(c.numbers["large-batch"]["weight_change"].size(), 4u);
}

TEST(ClaimsWarmup, DeepLayersNotHeldWhenWarmupOnlyScalesEveryLayer) {
  // Large batch: twice warmup's change in every layer. The plain diff-in-diff is positive (the
  // built-in "moves less"), the deep share is the same: not held (within the margin).
  auto lbw = run("large-batch+warmup", {0.95, 0.95, 0.9, 0.9}, 0.002, 0.2, 5);
  auto lb = run("large-batch", {0.9, 0.9, 0.8, 0.8}, 0.002, 0.2, 6);
  const ClaimCheck c = check_warmup_deep_layers({lb, lbw}, opts());
  EXPECT_EQ(c.verdict, Verdict::NotHeld) << reason(c);
  EXPECT_GT(c.numbers["diff_in_diff_1_minus_similarity"].get<double>(), 0.04);
  EXPECT_NEAR(c.numbers["decision"]["effect"].get<double>(), 0.0, 1e-9);
  // The opposite pattern (warmup moves the deep layers more) is not held either.
  auto lb2 = run("large-batch", {0.8, 0.8, 0.9, 0.9}, 0.002, 0.2, 7);
  EXPECT_EQ(check_warmup_deep_layers({lb2, lbw}, opts()).verdict, Verdict::NotHeld);
}

TEST(ClaimsWarmup, DeepLayersInconclusiveWhenNoisyAtTheFloorOrMissing) {
  auto lb = run("large-batch", {0.9, 0.9, 0.6, 0.6}, 0.25, 0.2, 4);
  auto lbw = run("large-batch+warmup", {0.95, 0.95, 0.9, 0.9}, 0.25, 0.2, 5);
  const ClaimCheck noisy = check_warmup_deep_layers({lb, lbw}, opts());
  EXPECT_EQ(noisy.verdict, Verdict::Inconclusive) << reason(noisy);
  // Both runs' deep layers as dissimilar to iteration 0 as permuted examples: the gate.
  auto f1 = run("large-batch", {0.9, 0.9, 0.2, 0.21}, 0.001, 0.2, 4);
  auto f2 = run("large-batch+warmup", {0.5, 0.5, 0.21, 0.2}, 0.001, 0.2, 5);
  const ClaimCheck floor = check_warmup_deep_layers({f1, f2}, opts());
  EXPECT_EQ(floor.verdict, Verdict::Inconclusive);
  EXPECT_NE(reason(floor).find("noise floor"), std::string::npos) << reason(floor);
  // Only one at the floor: decided (the large batch's deep layers moved to the floor, warmup's did not).
  auto f3 = run("large-batch+warmup", {0.95, 0.95, 0.9, 0.9}, 0.001, 0.2, 5);
  EXPECT_EQ(check_warmup_deep_layers({f1, f3}, opts()).verdict, Verdict::Held);
  const ClaimCheck missing = check_warmup_deep_layers({lbw}, opts());
  EXPECT_EQ(missing.verdict, Verdict::Inconclusive);
  EXPECT_TRUE(missing.numbers["decision"].is_object());
  // Weights decide: no within-run se, so one seed is inconclusive whatever the effect.
  auto o = opts();
  o.decide_by = "weights";
  auto h1 = run("large-batch", {0.9, 0.9, 0.3, 0.25}), h2 = run("large-batch+warmup", {0.95, 0.95, 0.9, 0.9});
  const ClaimCheck w = check_warmup_deep_layers({h1, h2}, o);
  EXPECT_EQ(w.verdict, Verdict::Inconclusive);
  EXPECT_GT(w.numbers["decision"]["effect"].get<double>(), 0.1);
  EXPECT_EQ(w.numbers["decided_by"], "relative weight change");
}

TEST(ClaimsWarmup, DeepLayersUsesTheArmsItIsGiven) {
  WarmupArms arms;
  arms.large = "control:lb";
  arms.warmup = "control:lbw";
  auto lb = run("control:lb", {0.9, 0.9, 0.8, 0.8}, 0.002), lbw = run("control:lbw", {0.95, 0.95, 0.9, 0.9}, 0.002);
  auto other = run("large-batch", {0.9, 0.9, 0.1, 0.1});
  const ClaimCheck c = check_warmup_deep_layers({other, lb, lbw}, opts(), arms);
  EXPECT_EQ(c.verdict, Verdict::NotHeld) << reason(c);
}

TEST(ClaimsWarmup, FcFreezeHeldNotHeldInconclusive) {
  const auto lb = acc_run("large-batch", 0.60), lbw = acc_run("large-batch+warmup", 0.80);
  const ClaimCheck held = check_fc_freeze({lb, lbw, acc_run("large-batch+fc-freeze", 0.78)});
  EXPECT_EQ(held.verdict, Verdict::Held) << reason(held);
  EXPECT_NEAR(held.numbers["recovered_fraction"].get<double>(), 0.9, 1e-9);
  EXPECT_NEAR(held.numbers["decision"]["effect"].get<double>(), 0.18, 1e-9);
  EXPECT_EQ(held.numbers["large_batch_unstable"], false);

  const ClaimCheck not_held = check_fc_freeze({lb, lbw, acc_run("large-batch+fc-freeze", 0.55)});
  EXPECT_EQ(not_held.verdict, Verdict::NotHeld) << reason(not_held);

  // 100 test images: warmup's gain is still significant, freeze's 5 points are not.
  const ClaimCheck noisy = check_fc_freeze({acc_run("large-batch", 0.6, 100), acc_run("large-batch+warmup", 0.85, 100),
                                            acc_run("large-batch+fc-freeze", 0.65, 100)});
  EXPECT_EQ(noisy.verdict, Verdict::Inconclusive) << reason(noisy);
  EXPECT_EQ(noisy.numbers["decision"].count("gate"), 0u);
}

TEST(ClaimsWarmup, FcFreezeGates) {
  const auto lb = acc_run("large-batch", 0.60), fr = acc_run("large-batch+fc-freeze", 0.78);
  // Warmup's own gain inside the sampling error: no benefit to recover (the old ratio exploded here).
  const ClaimCheck small = check_fc_freeze({lb, acc_run("large-batch+warmup", 0.61), fr});
  EXPECT_EQ(small.verdict, Verdict::Inconclusive);
  EXPECT_NE(reason(small).find("not significant"), std::string::npos) << reason(small);
  // The warmup run diverged / the freeze run ended at chance.
  auto div = acc_run("large-batch+warmup", 0.80, 2000, NAN);
  const ClaimCheck d = check_fc_freeze({lb, div, fr});
  EXPECT_EQ(d.verdict, Verdict::Inconclusive);
  EXPECT_NE(reason(d).find("diverged"), std::string::npos) << reason(d);
  auto status = acc_run("large-batch+warmup", 0.80);
  status.status = RunStatus::Diverged;
  EXPECT_EQ(check_fc_freeze({lb, status, fr}).verdict, Verdict::Inconclusive);
  const ClaimCheck ch = check_fc_freeze({acc_run("large-batch", 0.05), acc_run("large-batch+warmup", 0.8),
                                         acc_run("large-batch+fc-freeze", 0.105)});
  EXPECT_EQ(ch.verdict, Verdict::Inconclusive);
  EXPECT_NE(reason(ch).find("chance"), std::string::npos) << reason(ch);
  // A large batch that ends at chance without warmup is the paper's premise, not a gate.
  const ClaimCheck lb_chance = check_fc_freeze({acc_run("large-batch", 0.098, 2000, NAN),
                                                acc_run("large-batch+warmup", 0.8), fr});
  EXPECT_EQ(lb_chance.verdict, Verdict::Held) << reason(lb_chance);
  EXPECT_EQ(lb_chance.numbers["large_batch_unstable"], true);
  EXPECT_EQ(check_fc_freeze({lb, fr}).verdict, Verdict::Inconclusive);  // missing run
}

namespace {
// A large-batch run's curvature trajectory: iterations 0..n-1 at lr(t), lambda(t), between-batch
// se `se`; the top eigenvector's mass split over 4 blocks with `deep` in the last two.
WarmupRun sharp_run(const std::string& name, const std::vector<double>& lr, const std::vector<double>& lambda,
                    double se, double deep = 0.5) {
  WarmupRun r;
  r.name = name;
  r.momentum = 0.9;
  r.curvature_blocks = {"features.0", "features.3", "classifier.0", "classifier.2"};
  for (size_t t = 0; t < lr.size(); ++t) {
    WarmupRun::Sharpness p;
    p.iter = double(t);
    p.lr = lr[t];
    p.lambda = lambda[t];
    p.lambda_se = se;
    p.batches = 4;
    p.block_mass = {(1 - deep) / 2, (1 - deep) / 2, deep / 2, deep / 2};
    p.block_lambda.assign(4, std::nan(""));
    r.sharpness.push_back(p);
  }
  return r;
}
WarmupCheckOptions sharp_opts(int64_t window = 4) {
  WarmupCheckOptions o;
  o.deep_layers = 2;
  o.window = window;
  o.sharpness_margin = 0.1;
  return o;
}
const std::vector<double> kConst = {0.5, 0.5, 0.5, 0.5, 0.5, 0.5}, kRamp = {0.0, 0.125, 0.25, 0.375, 0.5, 0.5};
}  // namespace

TEST(ClaimsWarmup, MaxSharpnessInsideTheWindow) {
  // lambda eta / 2 = 0.25 * {4, 8, 6, 2, 1, 100}: the last point is outside the window of 4.
  const WarmupRun r = sharp_run("large-batch", kConst, {2, 4, 3, 1, 0.5, 50}, 0.1);
  const auto [s, at] = max_sharpness(r, 4);
  EXPECT_DOUBLE_EQ(s, 1.0);
  EXPECT_EQ(at, 1);
  EXPECT_DOUBLE_EQ(max_sharpness(r, 5).first, 12.5);
  EXPECT_EQ(max_sharpness(WarmupRun{}, 4).second, -1);
}

TEST(ClaimsWarmup, SharpnessHeldWhenOnlyTheLargeBatchCrossesTheBound) {
  // Without warmup lambda eta / 2 reaches 2 (twice the bound), with warmup it stays at 0.8.
  const auto lb = sharp_run("large-batch", kConst, {4, 8, 6, 5, 4, 4}, 0.2, 0.8);
  const auto lbw = sharp_run("large-batch+warmup", kRamp, {4, 6, 6.4, 4, 3, 3}, 0.2, 0.4);
  const ClaimCheck c = check_warmup_sharpness({lb, lbw}, sharp_opts());
  EXPECT_EQ(c.verdict, Verdict::Held) << reason(c);
  EXPECT_NEAR(c.numbers["decision"]["effect"].get<double>(), 2.0 - 0.8, 1e-12);
  EXPECT_TRUE(c.numbers["large-batch"]["exceeds_bound"].get<bool>());
  EXPECT_FALSE(c.numbers["large-batch+warmup"]["exceeds_bound"].get<bool>());
  EXPECT_NEAR(c.numbers["large-batch"]["deep_share_top_vector"].get<double>(), 0.8, 1e-12);
  EXPECT_NEAR(c.numbers["deep_share_top_vector_difference"].get<double>(), 0.4, 1e-12);
  EXPECT_EQ(c.numbers["large-batch"]["max_iter"].get<double>(), 1);
}

TEST(ClaimsWarmup, SharpnessNotHeldWhenBothStayAtTheSameLevel) {
  // Both at 1.0 (the same lambda at the same peak lr): a narrow interval inside the margin.
  const auto lb = sharp_run("large-batch", kConst, {4, 4, 4, 4, 4, 4}, 0.02);
  const auto lbw = sharp_run("large-batch+warmup", kRamp, {4, 4, 4, 4, 4, 4}, 0.02);
  const ClaimCheck c = check_warmup_sharpness({lb, lbw}, sharp_opts());
  EXPECT_EQ(c.verdict, Verdict::NotHeld) << reason(c);
  // And the other side: warmup sharper than none.
  const auto lbw2 = sharp_run("large-batch+warmup", kRamp, {4, 4, 4, 4, 12, 4}, 0.02);
  EXPECT_EQ(check_warmup_sharpness({lb, lbw2}, sharp_opts()).verdict, Verdict::NotHeld);
}

TEST(ClaimsWarmup, SharpnessInconclusiveWhenNoisyOrUnmeasured) {
  const auto lb = sharp_run("large-batch", kConst, {4, 5, 4, 4, 4, 4}, 2.0);
  const auto lbw = sharp_run("large-batch+warmup", kRamp, {4, 4, 4, 4, 4, 4}, 2.0);
  EXPECT_EQ(check_warmup_sharpness({lb, lbw}, sharp_opts()).verdict, Verdict::Inconclusive);
  // One batch: no between-batch se, no interval.
  const auto lb1 = sharp_run("large-batch", kConst, {4, 8, 6, 5, 4, 4}, std::nan(""));
  EXPECT_EQ(check_warmup_sharpness({lb1, lbw}, sharp_opts()).verdict, Verdict::Inconclusive);
  // No curvature rows in the warmup run: gated.
  WarmupRun none;
  none.name = "large-batch+warmup";
  const ClaimCheck g = check_warmup_sharpness({lb, none}, sharp_opts());
  EXPECT_EQ(g.verdict, Verdict::Inconclusive);
  EXPECT_NE(reason(g).find("no finite curvature"), std::string::npos) << reason(g);
  EXPECT_EQ(check_warmup_sharpness({lb}, sharp_opts()).verdict, Verdict::Inconclusive);
}

TEST(ClaimsWarmup, SharpnessIntervalIsTWithTheBatchesDegreesOfFreedom) {
  // Effect 1.2 (as above) with se 0.2 * eta/2 = 0.05 per arm, combined ~0.0707: with 4 batches the
  // half-width is t(0.975, 3) * se = 3.182 * se; with 2 batches t(0.975, 1) = 12.71 makes it ~0.9,
  // and with se 0.4 per arm (combined ~0.141) the interval [1.2 - 1.80, ...] straddles the null:
  // held under a normal quantile (1.96 * 0.141 = 0.28), inconclusive under t with 1 df.
  auto lb = sharp_run("large-batch", kConst, {4, 8, 6, 5, 4, 4}, 0.4, 0.8);
  auto lbw = sharp_run("large-batch+warmup", kRamp, {4, 6, 6.4, 4, 3, 3}, 0.4, 0.4);
  const ClaimCheck four = check_warmup_sharpness({lb, lbw}, sharp_opts());
  EXPECT_EQ(four.verdict, Verdict::Held) << reason(four);
  const double se = four.numbers["decision"]["se"].get<double>();
  const auto& iv = four.numbers["decision"]["interval"];
  EXPECT_NEAR(iv[1].get<double>() - iv[0].get<double>(), 2 * t_quantile(0.975, 3) * se, 1e-9);
  EXPECT_EQ(four.numbers["df"].get<int>(), 3);
  for (auto* r : {&lb, &lbw})
    for (auto& p : r->sharpness) p.batches = 2;
  const ClaimCheck two = check_warmup_sharpness({lb, lbw}, sharp_opts());
  EXPECT_EQ(two.verdict, Verdict::Inconclusive) << reason(two);
  EXPECT_EQ(two.numbers["df"].get<int>(), 1);
  // Unknown batch counts (0): no interval at all, never a decision.
  for (auto* r : {&lb, &lbw})
    for (auto& p : r->sharpness) p.batches = 0;
  EXPECT_EQ(check_warmup_sharpness({lb, lbw}, sharp_opts()).verdict, Verdict::Inconclusive);
}

TEST(ClaimsWarmup, SharpnessUsesTheArmsItIsGiven) {
  // The control: two no-warmup runs that differ in data order, compared by the same check.
  const auto a = sharp_run("large-batch", kConst, {4, 8, 6, 5, 4, 4}, 0.2);
  const auto b = sharp_run("control:large-batch@order", kConst, {4, 7.9, 6, 5, 4, 4}, 0.2);
  WarmupArms arms;
  arms.warmup = "control:large-batch@order";
  const ClaimCheck c = check_warmup_sharpness({a, b}, sharp_opts(), arms);
  EXPECT_NE(c.verdict, Verdict::Held) << reason(c);
  EXPECT_NEAR(c.numbers["decision"]["effect"].get<double>(), 0.025, 1e-12);
}

namespace {
// warmup.deep_curvature: a run whose tracked points have lambda eta / 2 = sharpness[t] (lr 0.5,
// iterations 0, 1, ...) and, per point and curvature batch, the deep blocks' (the last two of
// four) share of the top eigenvector deep[t][k], split evenly over the two deep and the two
// shallow blocks. Block sizes 150, 150, 50, 50: the deep share of the parameters is 0.25.
WarmupRun deep_run(const std::string& name, const std::vector<double>& sharpness,
                   const std::vector<std::vector<double>>& deep) {
  WarmupRun r;
  r.name = name;
  r.momentum = 0.9;
  r.curvature_blocks = {"features.0", "features.3", "classifier.0", "classifier.2"};
  r.curvature_numel = {150, 150, 50, 50};
  for (size_t t = 0; t < sharpness.size(); ++t) {
    WarmupRun::Sharpness p;
    p.iter = double(t);
    p.lr = 0.5;
    p.lambda = 4 * sharpness[t];
    p.lambda_se = 0.1;
    const auto& d = deep[std::min(t, deep.size() - 1)];
    p.batches = static_cast<int>(d.size());
    p.block_mass_batches.assign(4, {});
    for (double dk : d)
      for (int b = 0; b < 4; ++b) p.block_mass_batches[b].push_back(b < 2 ? (1 - dk) / 2 : dk / 2);
    for (int b = 0; b < 4; ++b) {
      double m = 0;
      for (double x : p.block_mass_batches[b]) m += x / double(d.size());
      p.block_mass.push_back(m);
      p.block_mass_se.push_back(std::nan(""));
    }
    p.block_lambda.assign(4, std::nan(""));
    r.sharpness.push_back(p);
  }
  return r;
}
WarmupCheckOptions deep_opts() {
  WarmupCheckOptions o;
  o.deep_layers = 2;
  o.window = 4;
  o.deep_curvature_margin = 0.05;
  return o;
}
// Crosses the bound at iterations 1-3 of the window (the last point, 5.0, is outside it).
const std::vector<double> kCrosses = {0.5, 1.5, 3.0, 2.0, 0.8, 5.0}, kStable = {0.2, 0.4, 0.6, 0.5, 0.4, 0.3};
double effect(const ClaimCheck& c) { return c.numbers["decision"]["effect"].get<double>(); }
}  // namespace

TEST(ClaimsWarmup, DeepCurvatureHeldWhenTheCrossingDirectionSitsInTheDeepBlocks) {
  const auto lb = deep_run("large-batch", kCrosses, {{0.78, 0.82, 0.80, 0.80}});
  const auto lbw = deep_run("large-batch+warmup", kStable, {{0.3, 0.3, 0.3, 0.3}});
  const ClaimCheck c = check_warmup_deep_curvature({lb, lbw}, deep_opts());
  EXPECT_EQ(c.id, "warmup.deep_curvature");
  EXPECT_EQ(c.verdict, Verdict::Held) << reason(c);
  EXPECT_NEAR(c.numbers["deep_parameter_share"].get<double>(), 0.25, 1e-12);
  EXPECT_NEAR(effect(c), 0.80 - 0.25, 1e-12);
  // se over the 4 batches: sd {0.78, 0.82, 0.80, 0.80} / 2.
  EXPECT_NEAR(c.numbers["decision"]["se"].get<double>(), std::sqrt(0.0008 / 3) / 2, 1e-12);
  EXPECT_EQ(c.numbers["crossing_points"].size(), 3u);
  EXPECT_EQ(c.numbers["large-batch"]["max_iter"].get<double>(), 2);
  EXPECT_NEAR(c.numbers["large-batch"]["deep_part_of_sharpness"].get<double>(), 3.0 * 0.8, 1e-12);
  EXPECT_TRUE(c.numbers["large-batch"]["deep_block_exceeds_bound"].is_null());  // no per-layer curvature
  // The warmup arm, reported at its own max: below the bound, its deep share 0.3.
  EXPECT_FALSE(c.numbers["large-batch+warmup"]["exceeds_bound"].get<bool>());
  EXPECT_NEAR(c.numbers["large-batch+warmup"]["deep_share_excess"].get<double>(), 0.3 - 0.25, 1e-12);
  // A statement about one run: one seed decides (not gated as a between-runs contrast).
  EXPECT_EQ(single_seed_gate(c).verdict, Verdict::Held);
}

TEST(ClaimsWarmup, DeepCurvatureAveragesEachBatchOverTheCrossingPointsFirst) {
  // Points 1 and 2 cross; per batch the mean over them is 0.79 and 0.81: se = 0.01, although
  // each point alone has a between-batch sd of 0.1 or more.
  const auto lb = deep_run("large-batch", {0.5, 2.0, 2.0, 0.5, 0.5}, {{0.5, 0.5}, {0.7, 0.9}, {0.88, 0.72}, {0.5, 0.5}});
  const ClaimCheck c = check_warmup_deep_curvature({lb}, deep_opts());
  EXPECT_NEAR(effect(c), 0.80 - 0.25, 1e-12);
  EXPECT_NEAR(c.numbers["decision"]["se"].get<double>(), 0.01, 1e-12);
  EXPECT_NEAR(c.numbers["crossing_points"][0]["deep_share_top_vector_se"].get<double>(), 0.1, 1e-12);
  EXPECT_EQ(c.verdict, Verdict::Held) << reason(c);
}

TEST(ClaimsWarmup, DeepCurvatureNotHeldAtOrBelowTheParameterShare) {
  // Well below the parameter share: the interval excludes the claimed effect.
  const auto below = deep_run("large-batch", kCrosses, {{0.10, 0.12, 0.11, 0.11}});
  const ClaimCheck c = check_warmup_deep_curvature({below}, deep_opts());
  EXPECT_EQ(c.verdict, Verdict::NotHeld) << reason(c);
  EXPECT_LT(effect(c), 0.0);
  // At the parameter share: the interval holds 0 and stays inside the margin 0.05.
  const auto level = deep_run("large-batch", kCrosses, {{0.24, 0.27, 0.25, 0.26}});
  const ClaimCheck e = check_warmup_deep_curvature({level}, deep_opts());
  EXPECT_EQ(e.verdict, Verdict::NotHeld) << reason(e);
  EXPECT_NE(reason(e).find("equivalence margin"), std::string::npos) << reason(e);
}

TEST(ClaimsWarmup, DeepCurvatureInconclusiveWhenNoisyNeverCrossingOrWithoutPerBatchMasses) {
  // Noisy: the batches disagree, the interval straddles 0 and reaches past the margin.
  const auto noisy = deep_run("large-batch", kCrosses, {{0.1, 0.9, 0.2, 0.8}});
  const ClaimCheck n = check_warmup_deep_curvature({noisy}, deep_opts());
  EXPECT_EQ(n.verdict, Verdict::Inconclusive) << reason(n);
  EXPECT_FALSE(n.numbers["decision"].contains("gate"));
  // The gate: the large batch never crosses 2/eta in the window (the premise), numbers reported.
  const auto stable = deep_run("large-batch", kStable, {{0.78, 0.82, 0.80, 0.80}});
  const ClaimCheck g = check_warmup_deep_curvature({stable}, deep_opts());
  EXPECT_EQ(g.verdict, Verdict::Inconclusive);
  EXPECT_NE(reason(g).find("never crosses 2/eta"), std::string::npos) << reason(g);
  EXPECT_NEAR(g.numbers["large-batch"]["deep_share_top_vector"].get<double>(), 0.8, 1e-12);
  // Rows written before the per-batch masses were recorded: no se, inconclusive with that reason.
  auto old = deep_run("large-batch", kCrosses, {{0.78, 0.82, 0.80, 0.80}});
  for (auto& p : old.sharpness) p.block_mass_batches.clear();
  const ClaimCheck o = check_warmup_deep_curvature({old}, deep_opts());
  EXPECT_EQ(o.verdict, Verdict::Inconclusive) << reason(o);
  EXPECT_NEAR(effect(o), 0.55, 1e-12);  // the effect from the mean masses is still there
  EXPECT_NE(reason(o).find("no between-batch se"), std::string::npos) << reason(o);
  // One curvature batch: the same.
  const auto one = deep_run("large-batch", kCrosses, {{0.8}});
  EXPECT_EQ(check_warmup_deep_curvature({one}, deep_opts()).verdict, Verdict::Inconclusive);
  // No large-batch run, or no block sizes: gated.
  EXPECT_EQ(check_warmup_deep_curvature({}, deep_opts()).verdict, Verdict::Inconclusive);
  auto no_numel = deep_run("large-batch", kCrosses, {{0.78, 0.82, 0.80, 0.80}});
  no_numel.curvature_numel.clear();
  const ClaimCheck u = check_warmup_deep_curvature({no_numel}, deep_opts());
  EXPECT_EQ(u.verdict, Verdict::Inconclusive);
  EXPECT_TRUE(u.numbers["decision"].contains("gate"));
}

TEST(ClaimsWarmup, DeepCurvatureControlIsNeverHeld) {
  // The control arm: the large batch at a stable LR. It does not cross: gated, even with the
  // sharp direction in the deep blocks; crossing at the parameter share: not held.
  WarmupArms arms;
  arms.large = "control:large-batch@control-lr";
  arms.warmup = "control:large-batch@control-lr+warmup";
  arms.small = "";
  const auto stable = deep_run(arms.large, kStable, {{0.78, 0.82, 0.80, 0.80}});
  const ClaimCheck c = as_control(check_warmup_deep_curvature({stable}, deep_opts(), arms), "stable LR");
  EXPECT_EQ(c.id, "warmup.deep_curvature.control");
  EXPECT_EQ(c.control_of, "warmup.deep_curvature");
  EXPECT_EQ(c.verdict, Verdict::Inconclusive) << reason(c);
  const auto level = deep_run(arms.large, kCrosses, {{0.24, 0.27, 0.25, 0.26}});
  EXPECT_EQ(check_warmup_deep_curvature({level}, deep_opts(), arms).verdict, Verdict::NotHeld);
  // The arm named by `arms` is the one read: the default name is absent here.
  EXPECT_TRUE(check_warmup_deep_curvature({level}, deep_opts()).numbers["decision"].contains("gate"));
}
