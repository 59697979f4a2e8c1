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
};
// Presets ([sgdr] barrier_threshold, curve_fraction, [claims] level) fill these; the defaults
// are only for tests.
struct SgdrThresholds {
  double min_line_barrier = 0.05;    // nats of train loss counted as a barrier (the null of the barrier claims)
  double max_curve_fraction = 0.25;  // curve barrier must be below this fraction of the line's
  double level = 0.95;               // two-sided level of every interval
};
ClaimCheck check_sgdr_line_barrier(const std::vector<PairProfile>& sgdr, const SgdrThresholds& th = {});
ClaimCheck check_sgdr_curve_connects(const std::vector<PairProfile>& sgdr, const SgdrThresholds& th = {});
// Step-decay SGD snapshots: no barrier on the straight lines between consecutive snapshots.
ClaimCheck check_sgd_no_barrier(const std::vector<PairProfile>& sgd, const SgdrThresholds& th = {});
// Points on the curve reach lower train loss than the iterates but do not generalise better.
ClaimCheck check_curve_overfits(const std::vector<PairProfile>& sgdr);

}  // namespace closerlook
