// Study 1 (SGDR): the barrier and curve claims between SGDR and step-decay SGD snapshots.
#pragma once
#include <limits>
#include <string>
#include <vector>

#include "studies/claim_check.h"

namespace closerlook {

// Barrier heights: surface/profile.h barrier_height (the one definition, clamped at 0, NaN for
// a non-finite value), over the whole pair profile (t.front() to t.back()).

// ---- Study 1: SGDR -------------------------------------------------------------------------
// Straight lines between consecutive SGDR snapshots rise above the endpoints (a barrier), while
// the trained curve between the same snapshots does not.
struct PairProfile {
  std::string name;                  // "w3-w7"
  std::vector<double> t;
  std::vector<double> line_train_loss, line_test_err;
  std::vector<double> curve_train_loss, curve_test_err;  // empty when no curve was trained
  // Test examples behind the test errors (the profile's settings.test_examples; NaN: unknown,
  // e.g. a profile written before that field existed). Gives the binomial standard errors.
  double n_test = std::numeric_limits<double>::quiet_NaN();
};

// The negative control of the curve claims (sgdr.curve_connects, sgdr.curve_overfits): the pair
// with its straight line in place of the trained curve. The line removes none of its own barrier
// and a low interior point on it is weight averaging, not a curve that overfits.
PairProfile line_in_place_of_curve(PairProfile p);

// The relative barrier of a path: barrier_height(t, v) / mean(v.front(), v.back()), the barrier
// in units of the endpoints' own (train) loss. NaN when the barrier is NaN or the endpoint mean
// is not positive. Every train-loss threshold of the SGDR claims is on this scale.
double relative_barrier(const std::vector<double>& t, const std::vector<double>& v);

// Test-error barrier of a path and its binomial standard error on n test examples: B = max(0,
// max_i (e_i - chord_i)) over the interior points (the surface/profile.h definition), se from the
// point i* where the maximum of e_i - chord_i is reached:
//   se^2 = [e_i*(1-e_i*) + (1-s)^2 e_a(1-e_a) + s^2 e_b(1-e_b)] / n,   s = (t_i* - t_a)/(t_b - t_a)
// (the three error rates treated as independent: conservative on one test set). NaN se when n
// is unknown; {NaN, NaN} with fewer than 3 points or a non-finite value.
struct ErrBarrier {
  double barrier = std::numeric_limits<double>::quiet_NaN();
  double se = std::numeric_limits<double>::quiet_NaN();
};
ErrBarrier test_err_barrier(const std::vector<double>& t, const std::vector<double>& e, double n_test);

// Presets ([sgdr] barrier_rel, curve_fraction, contrast_margin, contrast_margin_err,
// overfit_margin, plane_max_off, [claims] level) fill these; the defaults are only for tests.
struct SgdrThresholds {
  double min_line_barrier = 0.05;    // relative barrier (relative_barrier) that counts: the null of the barrier claims
  double max_curve_fraction = 0.25;  // curve barrier must be below this fraction of the line's
  double contrast_margin = 0.05;     // sgdr.sgdr_vs_sgd_barrier: equivalence margin (relative barrier)
  double contrast_margin_err = 0.01; // sgdr.sgdr_vs_sgd_barrier_err: equivalence margin (test-error fraction)
  double overfit_margin = 0.005;     // sgdr.curve_overfits: equivalence margin (test-error fraction)
  double plane_max_off = 0.5;        // sgdr.plane_trajectory: off-plane distance / ||w_b - w_a|| beyond which
                                     // the projected trajectory is weak evidence (inconclusive)
  double level = 0.95;               // two-sided level of every interval
};
ClaimCheck check_sgdr_line_barrier(const std::vector<PairProfile>& sgdr, const SgdrThresholds& th = {});
ClaimCheck check_sgdr_curve_connects(const std::vector<PairProfile>& sgdr, const SgdrThresholds& th = {});
// Step-decay SGD snapshots: no barrier on the straight lines between consecutive snapshots.
ClaimCheck check_sgd_no_barrier(const std::vector<PairProfile>& sgd, const SgdrThresholds& th = {});
// The paired contrast (sgdr.sgdr_vs_sgd_barrier): pairs of the same name (same epochs) in both
// runs; d_k = relative_barrier(SGDR line k) - relative_barrier(SGD line k); effect = mean d_k,
// claimed > 0; within-run se = sd(d_k)/sqrt(K) with the pairs as replicates (K >= 2; interval
// mean ± t_{K-1} se), none with one pair.
ClaimCheck check_sgdr_vs_sgd_barrier(const std::vector<PairProfile>& sgdr, const std::vector<PairProfile>& sgd,
                                     const SgdrThresholds& th = {});
// The same contrast in test-error points (sgdr.sgdr_vs_sgd_barrier_err): d_k = B_err(SGDR) -
// B_err(SGD) (test_err_barrier), effect = mean d_k, se = sqrt(sum_k se_k^2) / K with se_k^2 the sum
// of both lines' binomial variances; normal interval.
ClaimCheck check_sgdr_vs_sgd_barrier_err(const std::vector<PairProfile>& sgdr, const std::vector<PairProfile>& sgd,
                                         const SgdrThresholds& th = {});
// Points on the curve reach lower train loss than the iterates but do not generalise better.
// Per curve: i* = the interior point of lowest train loss; premise: its train loss is below the
// lower endpoint train loss; d = e_i* - min(endpoint test errors), se^2 = [e_i*(1-e_i*) +
// e_end(1-e_end)]/n_test. Effect = mean d over the curves meeting the premise, se = sqrt(sum se^2)/K,
// claimed > 0 (margin overfit_margin); no curve meeting the premise: inconclusive.
ClaimCheck check_curve_overfits(const std::vector<PairProfile>& sgdr, const SgdrThresholds& th = {});

// The plane through w_a, the curve's bend and w_b (surface/plane.h) with the SGDR iterates of the
// epochs from w_a to w_b projected onto it.
struct PlaneTrajectory {
  std::string name;                          // the pair, "w3-w7"
  std::vector<double> alphas, betas;         // grid axes (alpha/beta units: w_a = (0,0), w_b = (1,0))
  std::vector<std::vector<double>> tr_nll;   // [i = alpha][j = beta] train loss on the grid
  std::vector<double> traj_alpha, traj_beta; // projected iterates, in epoch order, w_a's epoch to w_b's
  std::vector<double> traj_off;              // their off-plane distances (weight-space units)
  std::vector<std::string> traj_names;       // "epoch 4", ...
  double dx = std::numeric_limits<double>::quiet_NaN();  // ||w_b - w_a||
  std::vector<double> curve_train_loss;      // the curve's own profile (exact, not from the grid)
};
// Bilinear interpolation of a [i][j] grid at (a, b) (clamped to the grid's range).
double bilinear(const std::vector<double>& xs, const std::vector<double>& ys,
                const std::vector<std::vector<double>>& grid, double a, double b);
// sgdr.plane_trajectory: T = max of the grid's train loss (bilinear) along the polyline through
// the projected iterates (each segment sampled at half-cell steps), C = max train loss along the
// curve, L = mean of the curve's endpoint train losses. Effect = (T - C) / L, claimed > 0 (the
// trajectory crosses higher loss than the curve). No within-run error (one seed: inconclusive).
// Off-plane gate: when max(traj_off) / dx over the iterates strictly between the snapshots
// exceeds plane_max_off, the projection is weak evidence: inconclusive, said so.
ClaimCheck check_plane_trajectory(const PlaneTrajectory& p, const SgdrThresholds& th = {});

}  // namespace closerlook
