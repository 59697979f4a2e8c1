// The paper's claims as explicit, numeric checks. Each check turns measured numbers into a
// verdict ("held", "not held", "inconclusive") and keeps the numbers that decided it, so the
// report can say *why*. Thresholds are parameters with documented defaults, never hidden.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "studies/verdict.h"

namespace closerlook {

struct ClaimCheck {
  std::string study;     // sgdr | resilience | warmup | distill
  std::string id;        // stable key, e.g. "sgdr.line_barrier"
  std::string text;      // the paper's claim in one sentence
  Verdict verdict = Verdict::Inconclusive;
  nlohmann::json numbers = nlohmann::json::object();  // what decided it
  std::string detail;    // one sentence: the comparison made
};
nlohmann::json to_json(const ClaimCheck& c);
// The report's claim row (report/claims.h) for this check; the id goes into the numbers.
struct Claim;
Claim to_report_claim(const ClaimCheck& c);

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
struct SgdrThresholds {
  double min_line_barrier = 0.05;    // nats of train loss counted as a barrier
  double max_curve_fraction = 0.25;  // curve barrier must be below this fraction of the line's
};
ClaimCheck check_sgdr_line_barrier(const std::vector<PairProfile>& sgdr, const SgdrThresholds& th = {});
ClaimCheck check_sgdr_curve_connects(const std::vector<PairProfile>& sgdr, const SgdrThresholds& th = {});
// Step-decay SGD snapshots: no barrier on the straight lines between consecutive snapshots.
ClaimCheck check_sgd_no_barrier(const std::vector<PairProfile>& sgd, const SgdrThresholds& th = {});
// Points on the curve reach lower train loss than the iterates but do not generalise better.
ClaimCheck check_curve_overfits(const std::vector<PairProfile>& sgdr);

// ---- Study 2: resilience -------------------------------------------------------------------
struct ModeCurve {
  std::string mode;                  // "A".."F"
  std::vector<double> t, test_err;   // along the trained curve G -> X
  std::vector<double> line_test_err; // along the straight line (for contrast)
};
// Every curve's worst test error stays within `tolerance` (absolute, fraction) of its worse endpoint.
ClaimCheck check_resilience(const std::vector<ModeCurve>& curves, double tolerance = 0.02);

// ---- Study 3: warmup -----------------------------------------------------------------------
struct WarmupRun {
  std::string name;                  // "small-batch", "large-batch", "large-batch+warmup", "large-batch+fc-freeze"
  std::vector<std::string> layers;
  std::vector<double> similarity;    // per layer: iteration 0 vs end of the warmup window
  double final_test_acc = 0;
};
// Without warmup the deep (last `deep_layers`) layers change much more over the warmup window than
// with warmup or with a small batch.
ClaimCheck check_warmup_deep_layers(const std::vector<WarmupRun>& runs, int deep_layers, double margin = 0.05);
// Freezing the FC layers over the window recovers most of warmup's benefit.
ClaimCheck check_fc_freeze(const std::vector<WarmupRun>& runs);

// ---- Study 4: distillation -----------------------------------------------------------------
// diff[i][j] = sim(S_distilled layer i, T layer j) - sim(S_indep layer i, T layer j); the diagonal
// (matching depth) gain is larger in the deeper half than in the shallow half.
ClaimCheck check_distill_deeper(const std::vector<std::string>& layers, const std::vector<double>& diag_gain);

// ---- Several seeds -------------------------------------------------------------------------
// Aggregates one claim over seeds: numbers become mean ± std, the verdict holds only if it held for
// every seed (inconclusive when seeds disagree).
ClaimCheck aggregate_seeds(const std::vector<ClaimCheck>& per_seed);

}  // namespace closerlook
