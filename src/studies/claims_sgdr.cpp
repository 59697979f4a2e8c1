#include "studies/claims_sgdr.h"

#include <algorithm>
#include <cmath>

#include "surface/profile.h"

namespace closerlook {

using namespace claim_util;

ClaimCheck check_sgdr_line_barrier(const std::vector<PairProfile>& sgdr, const SgdrThresholds& th) {
  ClaimCheck c{"sgdr", "sgdr.line_barrier",
          "SGDR moves over barriers: the straight line between consecutive SGDR snapshots has a train-loss barrier."};
  int with_barrier = 0, valid = 0;
  double smallest = INFINITY;
  for (const auto& p : sgdr) {
    if (p.line_train_loss.size() < 2 || !finite_all(p.line_train_loss)) continue;
    ++valid;
    const double b = barrier_height(p.t, p.line_train_loss);
    c.numbers[p.name] = {{"line_barrier_train_loss", b},
                         {"line_barrier_test_err", barrier_height(p.t, p.line_test_err)}};
    if (b > th.min_line_barrier) ++with_barrier;
    smallest = std::min(smallest, b);
  }
  c.numbers["threshold_nats"] = th.min_line_barrier;
  if (valid == 0) {
    c.detail = "no finite straight-line profiles between SGDR snapshots";
    return c;
  }
  // Effect: the smallest line barrier over the pairs (every pair must have one), against the
  // threshold. No within-run error of a train-loss barrier is known: one seed is inconclusive.
  set_decision(c, normal_estimate(smallest, NAN, th.level), NAN, th.min_line_barrier, Side::Greater);
  c.detail = std::to_string(with_barrier) + " of " + std::to_string(valid) +
             " snapshot pairs have a straight-line train-loss barrier above the threshold; effect = the smallest";
  return c;
}

ClaimCheck check_sgdr_curve_connects(const std::vector<PairProfile>& sgdr, const SgdrThresholds& th) {
  ClaimCheck c{"sgdr", "sgdr.curve_connects",
          "SGDR snapshots are not separate minima: a low-loss curve connects them (no barrier along the curve), "
          "so 'converging to and escaping from multiple local minima' is not substantiated."};
  int connected = 0, valid = 0, barriers = 0;
  double worst_fraction = -INFINITY;
  for (const auto& p : sgdr) {
    if (p.curve_train_loss.size() < 2 || !finite_all(p.curve_train_loss) || !finite_all(p.line_train_loss)) continue;
    ++valid;
    const double bl = barrier_height(p.t, p.line_train_loss);
    const double bc = barrier_height(p.t, p.curve_train_loss);
    const bool has_barrier = bl > th.min_line_barrier;
    const double fraction = has_barrier ? bc / bl : NAN;
    const bool ok = has_barrier && fraction <= th.max_curve_fraction;
    c.numbers[p.name] = {{"line_barrier_train_loss", bl}, {"curve_barrier_train_loss", bc},
                         {"line_has_barrier", has_barrier}, {"curve_fraction", jnum(fraction)}, {"connected", ok}};
    if (!has_barrier) continue;  // nothing to get around: this pair says nothing about the claim
    ++barriers;
    if (ok) ++connected;
    worst_fraction = std::max(worst_fraction, fraction);
  }
  c.numbers["threshold_nats"] = th.min_line_barrier;
  c.numbers["max_curve_fraction"] = th.max_curve_fraction;
  if (valid == 0) {
    c.detail = "no trained curves between SGDR snapshots";
    return c;
  }
  // Effect: the largest curve barrier as a fraction of its line's, over the pairs whose line has a
  // barrier; decided only where there is one (else "inconclusive: no barrier").
  set_decision(c, normal_estimate(barriers ? worst_fraction : NAN, NAN, th.level), NAN, th.max_curve_fraction,
               Side::Less, 0.0, barriers ? "" : "no barrier (no straight line between SGDR snapshots rises above the threshold)");
  c.detail = std::to_string(connected) + " of " + std::to_string(barriers) + " pairs with a line barrier (of " +
             std::to_string(valid) + ") are joined by a curve whose barrier is at most " +
             std::to_string(th.max_curve_fraction) + " x the straight line's";
  return c;
}

ClaimCheck check_sgd_no_barrier(const std::vector<PairProfile>& sgd, const SgdrThresholds& th) {
  ClaimCheck c{"sgdr", "sgdr.sgd_no_barrier",
          "For step-decay SGD, none of the consecutive snapshot pairs shows a train-loss barrier on the straight line."};
  int clean = 0, valid = 0;
  double largest = -INFINITY;
  for (const auto& p : sgd) {
    if (p.line_train_loss.size() < 2 || !finite_all(p.line_train_loss)) continue;
    ++valid;
    const double b = barrier_height(p.t, p.line_train_loss);
    c.numbers[p.name] = {{"line_barrier_train_loss", b}};
    if (b <= th.min_line_barrier) ++clean;
    largest = std::max(largest, b);
  }
  c.numbers["threshold_nats"] = th.min_line_barrier;
  if (valid == 0) {
    c.detail = "no straight-line profiles between SGD snapshots";
    return c;
  }
  // Effect: the largest SGD line barrier, claimed below the threshold.
  set_decision(c, normal_estimate(largest, NAN, th.level), NAN, th.min_line_barrier, Side::Less);
  c.detail = std::to_string(clean) + " of " + std::to_string(valid) + " SGD snapshot pairs have no barrier; effect = the largest";
  return c;
}

ClaimCheck check_curve_overfits(const std::vector<PairProfile>& sgdr) {
  ClaimCheck c{"sgdr", "sgdr.curve_overfits",
          "Points on the connecting curve reach lower train loss than the SGDR iterates but do not generalise as well."};
  int held = 0, valid = 0;
  for (const auto& p : sgdr) {
    if (p.curve_train_loss.size() < 3 || !finite_all(p.curve_train_loss) || !finite_all(p.curve_test_err)) continue;
    ++valid;
    const double end_loss = std::min(p.curve_train_loss.front(), p.curve_train_loss.back());
    const double end_err = std::min(p.curve_test_err.front(), p.curve_test_err.back());
    // The point of lowest train loss on the curve (interior only).
    size_t best = 1;
    for (size_t i = 1; i + 1 < p.curve_train_loss.size(); ++i)
      if (p.curve_train_loss[i] < p.curve_train_loss[best]) best = i;
    const bool lower_loss = p.curve_train_loss[best] < end_loss;
    const bool worse_err = p.curve_test_err[best] >= end_err;
    c.numbers[p.name] = {{"endpoint_min_train_loss", end_loss}, {"curve_min_train_loss", p.curve_train_loss[best]},
                         {"endpoint_min_test_err", end_err},    {"test_err_at_curve_min", p.curve_test_err[best]},
                         {"t_at_curve_min", p.t[best]}};
    if (lower_loss && worse_err) ++held;
  }
  if (valid == 0) {
    c.detail = "no trained curves";
    return c;
  }
  c.verdict = held == valid ? Verdict::Held : (held == 0 ? Verdict::NotHeld : Verdict::Inconclusive);
  c.detail = std::to_string(held) + " of " + std::to_string(valid) +
             " curves have an interior point with lower train loss and no better test error than the best iterate";
  return c;
}

}  // namespace closerlook
