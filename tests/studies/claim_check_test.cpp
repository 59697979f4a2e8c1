#include <gtest/gtest.h>

#include <cmath>

#include "report/claims.h"
#include "studies/claims.h"

using namespace closerlook;



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

// A control's verdict goes into its claim's "control" object; the claim's own fields stay.
TEST(Claims, ControlsAttachToTheirClaim) {
  ClaimCheck claim{"sgdr", "sgdr.line_barrier", "a barrier", Verdict::Held, {}, "claim detail"};
  set_decision(claim, normal_estimate(0.5, 0.1), 0.1, 0.05, Side::Greater);
  ClaimCheck control{"sgdr", "sgdr.line_barrier.control", "no restart", Verdict::Held, {}, "control detail"};
  set_decision(control, normal_estimate(0.01, 0.1), 0.1, 0.05, Side::Greater);
  control.control_of = "sgdr.line_barrier";
  ClaimCheck orphan = control;
  orphan.id = "x.control";
  orphan.control_of = "x";  // no claim "x": listed on its own
  const auto out = attach_controls({control, claim, orphan});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0]["id"], "sgdr.line_barrier");
  EXPECT_EQ(out[0]["verdict"], "held");
  ASSERT_TRUE(out[0].contains("control"));
  EXPECT_EQ(out[0]["control"]["id"], "sgdr.line_barrier.control");
  EXPECT_EQ(out[0]["control"]["verdict"], "inconclusive");  // 0.01 ± 0.196 around 0.05
  EXPECT_NEAR(out[0]["control"]["effect"].get<double>(), 0.01, 1e-12);
  EXPECT_EQ(out[1]["control_of"], "x");
  // claims.json round trip keeps control_of.
  EXPECT_EQ(claim_from_json(to_json(control)).control_of, "sgdr.line_barrier");
  EXPECT_TRUE(claim_from_json(to_json(claim)).control_of.empty());
  // The report row carries the estimate (with the side) and the control.
  const Claim r = to_report_claim(out[0]);
  EXPECT_EQ(r.estimate["side"], "greater");
  EXPECT_NEAR(r.estimate["effect"].get<double>(), 0.5, 1e-12);
  EXPECT_EQ(r.control["verdict"], "inconclusive");
  EXPECT_NO_THROW(claim_json(r));
}

// A claim between separately trained networks: held within run, inconclusive at one seed (training
// noise is not in its interval), decided again when seeds are pooled.
TEST(Claims, BetweenRunClaimsNeedSeeds) {
  auto make = [](double effect) {
    ClaimCheck c{"distill", "distill.deep_gain", "gain", Verdict::Inconclusive, {}, ""};
    set_decision(c, normal_estimate(effect, 0.01), 0.01, 0.0, Side::Greater);
    mark_between_runs(c, "the distilled and the independent student");
    return c;
  };
  const ClaimCheck one = make(0.15);
  EXPECT_EQ(one.verdict, Verdict::Held);
  const ClaimCheck gated = single_seed_gate(one);
  EXPECT_EQ(gated.verdict, Verdict::Inconclusive);
  EXPECT_NE(to_json(gated)["reason"].get<std::string>().find("one seed"), std::string::npos);
  EXPECT_EQ(gated.numbers["decision"]["verdict_within_run"], "held");
  EXPECT_NEAR(to_json(gated)["effect"].get<double>(), 0.15, 1e-12);  // the estimate is kept
  // A claim within one run (no mark) is not gated.
  ClaimCheck within{"sgdr", "sgdr.line_barrier", "barrier", Verdict::Inconclusive, {}, ""};
  set_decision(within, normal_estimate(0.5, 0.01), 0.01, 0.0, Side::Greater);
  EXPECT_EQ(single_seed_gate(within).verdict, Verdict::Held);
  // Pooled over seeds: the spread between seeds decides. Agreeing seeds: held; one seed the
  // other way: inconclusive.
  EXPECT_EQ(aggregate_seeds({make(0.15), make(0.16), make(0.14)}).verdict, Verdict::Held);
  EXPECT_EQ(aggregate_seeds({make(0.15), make(-0.10), make(0.14)}).verdict, Verdict::Inconclusive);
}
