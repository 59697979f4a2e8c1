// Study 4 (distillation): depth matching and the two gain checks on synthetic numbers, each
// held / not held / inconclusive, and the control's id and link.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/error.h"
#include "studies/claims.h"

using namespace closerlook;

namespace {

// Layers with the given full-sample gains; each layer's bootstrap replicates are gain + noise
// (sd `noise`, B replicates; one shared draw per replicate plus a per-layer one).
DistillEvidence evidence(const std::vector<double>& gains, double noise, int B = 400, uint64_t seed = 1) {
  DistillEvidence e;
  e.measure = "cka-linear";
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> z(0.0, 1.0);
  std::vector<double> shared(B);
  for (auto& s : shared) s = z(rng);
  for (size_t i = 0; i < gains.size(); ++i) {
    DistillLayerGain g;
    g.student_layer = "conv" + std::to_string(i + 1);
    g.teacher_layer = "t" + std::to_string(i + 1);
    g.sim_indep = 0.5;
    g.sim_distilled = 0.5 + gains[i];
    g.gain = gains[i];
    for (int b = 0; b < B; ++b) g.replicates.push_back(gains[i] + noise * (0.5 * shared[b] + 0.866 * z(rng)));
    e.layers.push_back(g);
  }
  e.logits = {"logits", "logits", 0.4, 0.2, 0.2, std::vector<double>(B, 0.2)};
  e.acc_distilled = 0.82;
  e.acc_indep = 0.80;
  e.n_test = 2000;
  return e;
}

const DistillThresholds kT{0.95, 0.02};

}  // namespace

TEST(DistillDepth, MatchesByRelativeDepth) {
  // VGG-11 student (11 probe points) vs VGG-16 teacher (16): j = round(1.5 i), halves up.
  EXPECT_EQ(match_by_relative_depth(11, 16), (std::vector<int64_t>{0, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15}));
  // The paper preset's non-output points: VGG-11 (8 conv + 2 FC) vs VGG-16 (13 conv + 2 FC).
  EXPECT_EQ(match_by_relative_depth(10, 15), (std::vector<int64_t>{0, 2, 3, 5, 6, 8, 9, 11, 12, 14}));
  EXPECT_EQ(match_by_relative_depth(5, 5), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(match_by_relative_depth(3, 7), (std::vector<int64_t>{0, 3, 6}));
  // A deeper student than teacher: several student layers share a teacher layer, ends to ends.
  EXPECT_EQ(match_by_relative_depth(7, 3), (std::vector<int64_t>{0, 0, 1, 1, 1, 2, 2}));
  EXPECT_EQ(match_by_relative_depth(1, 4), (std::vector<int64_t>{3}));
  // Every match is monotone and within range, for many sizes.
  for (int64_t s = 1; s <= 20; ++s)
    for (int64_t t = 1; t <= 20; ++t) {
      const auto j = match_by_relative_depth(s, t);
      ASSERT_EQ(j.size(), size_t(s));
      EXPECT_EQ(j.back(), t - 1);
      if (s > 1) EXPECT_EQ(j.front(), 0);
      for (size_t i = 1; i < j.size(); ++i) EXPECT_LE(j[i - 1], j[i]);
    }
  EXPECT_THROW(match_by_relative_depth(0, 3), Error);
}

TEST(DistillDepth, HalvesLeaveTheOddMiddleOut) {
  EXPECT_EQ(depth_half(0, 4), "shallow");
  EXPECT_EQ(depth_half(1, 4), "shallow");
  EXPECT_EQ(depth_half(2, 4), "deep");
  EXPECT_EQ(depth_half(2, 5), "middle");
  EXPECT_EQ(depth_half(3, 5), "deep");
}

TEST(ClaimsDistill, DeeperHeldNotHeldInconclusive) {
  // Present: gains grow with depth, small bootstrap noise.
  auto held = check_distill_deeper(evidence({0.0, 0.01, 0.05, 0.08, 0.12}, 0.005), kT);
  EXPECT_EQ(held.verdict, Verdict::Held) << held.numbers.dump();
  EXPECT_NEAR(held.numbers["decision"]["effect"].get<double>(), (0.08 + 0.12) / 2 - (0.0 + 0.01) / 2, 1e-12);
  EXPECT_EQ(held.numbers["layers"]["conv3"]["half"], "middle");
  EXPECT_EQ(held.numbers["largest_gain_layer"], "conv5");
  // The logits are reported, never in the contrast: a huge logit gain changes nothing.
  auto e = evidence({0.0, 0.01, 0.05, 0.08, 0.12}, 0.005);
  e.logits.gain = 5.0;
  EXPECT_EQ(check_distill_deeper(e, kT).numbers["decision"]["effect"], held.numbers["decision"]["effect"]);
  EXPECT_DOUBLE_EQ(check_distill_deeper(e, kT).numbers["logits"]["gain"].get<double>(), 5.0);
  // Absent, other side: the shallow layers gain more.
  EXPECT_EQ(check_distill_deeper(evidence({0.12, 0.08, 0.05, 0.01, 0.0}, 0.005), kT).verdict, Verdict::NotHeld);
  // Absent, within the margin: flat gains, narrow interval around 0.
  auto flat = check_distill_deeper(evidence({0.05, 0.05, 0.05, 0.05}, 0.002), kT);
  EXPECT_EQ(flat.verdict, Verdict::NotHeld) << flat.numbers["decision"]["reason"];
  // Noisy: the same growing gains, but the bootstrap spread covers 0 and the margin.
  auto noisy = check_distill_deeper(evidence({0.0, 0.01, 0.05, 0.08, 0.12}, 0.3), kT);
  EXPECT_EQ(noisy.verdict, Verdict::Inconclusive) << noisy.numbers["decision"]["reason"];
}

TEST(ClaimsDistill, DeepGainHeldNotHeldInconclusive) {
  EXPECT_EQ(check_distill_deep_gain(evidence({0.0, 0.01, 0.08, 0.12}, 0.005), kT).verdict, Verdict::Held);
  // The deep half lost similarity: not held, even though the contrast's shallow half lost more.
  EXPECT_EQ(check_distill_deep_gain(evidence({-0.2, -0.2, -0.05, -0.05}, 0.005), kT).verdict, Verdict::NotHeld);
  EXPECT_EQ(check_distill_deeper(evidence({-0.2, -0.2, -0.05, -0.05}, 0.005), kT).verdict, Verdict::Held);
  EXPECT_EQ(check_distill_deep_gain(evidence({0.0, 0.01, 0.08, 0.12}, 0.5), kT).verdict, Verdict::Inconclusive);
  auto c = check_distill_deep_gain(evidence({0.0, 0.01, 0.08, 0.12}, 0.005), kT);
  EXPECT_NEAR(c.numbers["decision"]["effect"].get<double>(), 0.10, 1e-12);
  EXPECT_EQ(c.numbers["deep_layers"], (nlohmann::json{"conv3", "conv4"}));
}

TEST(ClaimsDistill, IntervalIsTheBootstrapSpread) {
  // se of the contrast = sd of its replicates: 4x the noise, 4x the half-width.
  auto a = check_distill_deeper(evidence({0.0, 0.0, 0.1, 0.1}, 0.01), kT);
  auto b = check_distill_deeper(evidence({0.0, 0.0, 0.1, 0.1}, 0.04), kT);
  auto width = [](const ClaimCheck& c) {
    return c.numbers["decision"]["interval"][1].get<double>() - c.numbers["decision"]["interval"][0].get<double>();
  };
  EXPECT_NEAR(width(b) / width(a), 4.0, 1e-9);
  EXPECT_TRUE(a.numbers["decision"]["se"].is_number());
  EXPECT_EQ(a.numbers["resamples"], 400);
}

TEST(ClaimsDistill, AccuracyDifferenceWithBinomialInterval) {
  auto c = check_distill_deeper(evidence({0.0, 0.01, 0.08, 0.12}, 0.005), kT);
  const auto& a = c.numbers["accuracy"];
  EXPECT_NEAR(a["difference"].get<double>(), 0.02, 1e-12);
  const double se = std::hypot(std::sqrt(0.82 * 0.18 / 2000), std::sqrt(0.8 * 0.2 / 2000));
  EXPECT_NEAR(a["difference_se"].get<double>(), se, 1e-12);
  EXPECT_NEAR(a["difference_interval"][0].get<double>(), 0.02 - 1.959963985 * se, 1e-7);
  EXPECT_LT(a["distilled_wilson"][0].get<double>(), 0.82);
  EXPECT_GT(a["distilled_wilson"][1].get<double>(), 0.82);
}

TEST(ClaimsDistill, MissingEvidenceIsInconclusive) {
  DistillEvidence none;
  none.missing = "the distilled student diverged";
  for (const auto& c : {check_distill_deeper(none, kT), check_distill_deep_gain(none, kT)}) {
    EXPECT_EQ(c.verdict, Verdict::Inconclusive);
    EXPECT_NE(c.detail.find("diverged"), std::string::npos);
  }
  auto one = evidence({0.1}, 0.01);
  EXPECT_EQ(check_distill_deeper(one, kT).verdict, Verdict::Inconclusive);
  auto nan = evidence({0.1, NAN, 0.2}, 0.01);
  EXPECT_EQ(check_distill_deeper(nan, kT).verdict, Verdict::Inconclusive);
  // No replicates: no within-run error, an unbounded interval.
  auto no_boot = evidence({0.0, 0.0, 0.1, 0.1}, 0.01, 0);
  EXPECT_EQ(check_distill_deeper(no_boot, kT).verdict, Verdict::Inconclusive);
}

TEST(ClaimsDistill, NetworksThatHaveNotLearnedGateTheVerdict) {
  // The same clear effect, but the networks sit at chance (4 classes, 25% on 128 test images).
  auto e = evidence({0.0, 0.01, 0.05, 0.08, 0.12}, 0.005);
  e.chance = 0.25;
  e.acc_teacher = 0.9;
  e.n_test = 128;
  EXPECT_EQ(check_distill_deeper(e, kT).verdict, Verdict::Held);  // 80-82% is far above chance
  e.acc_indep = 0.27;  // within the binomial interval of chance on 128 images
  for (const auto& c : {check_distill_deeper(e, kT), check_distill_deep_gain(e, kT)}) {
    EXPECT_EQ(c.verdict, Verdict::Inconclusive);
    EXPECT_NE(c.numbers["decision"]["reason"].get<std::string>().find("independent student has not learned"),
              std::string::npos)
        << c.numbers["decision"]["reason"];
    EXPECT_TRUE(c.numbers["decision"]["effect"].is_number());  // the numbers are still reported
  }
  e.acc_indep = 0.8;
  e.acc_teacher = NAN;
  EXPECT_NE(distill_not_learned(e, 0.95).find("teacher"), std::string::npos);
  e.acc_teacher = 0.9;
  EXPECT_EQ(distill_not_learned(e, 0.95), "");
}

TEST(ClaimsDistill, ControlIsLinkedToItsClaim) {
  auto c = as_control(check_distill_deeper(evidence({0.05, 0.05, 0.05, 0.05}, 0.002), kT), "KD alpha = 0");
  EXPECT_EQ(c.id, "distill.deeper_layers.control");
  EXPECT_EQ(c.control_of, "distill.deeper_layers");
  EXPECT_NE(c.verdict, Verdict::Held);
  const auto j = attach_controls({check_distill_deeper(evidence({0.0, 0.01, 0.08, 0.12}, 0.005), kT), c});
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["control"]["verdict"], "not held");
}

TEST(ClaimsDistill, SeedsPoolTheBootstrapSe) {
  // Two seeds that agree, each decided alone: the pooled interval includes their bootstrap se.
  std::vector<ClaimCheck> seeds = {check_distill_deeper(evidence({0.0, 0.01, 0.08, 0.12}, 0.005, 400, 1), kT),
                                   check_distill_deeper(evidence({0.0, 0.02, 0.08, 0.11}, 0.005, 400, 2), kT)};
  auto pooled = aggregate_seeds(seeds);
  EXPECT_TRUE(pooled.numbers["decision"]["interval"][0].is_number());
  EXPECT_NE(pooled.numbers["decision"]["interval_method"].get<std::string>().find("seeds"), std::string::npos);
}
