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
// The interval decision of a claim (studies/verdict.h's rule). Stored in numbers["decision"]
// ({effect, interval, null, side, margin, se, reason, interval_method, seeds[, gate]}) so that
// claims.json round-trips through read_claims_file, and hoisted by to_json to the top-level
// summary.json fields effect, interval ([lo, hi]), null, verdict, reason. `se` is the within-run
// standard error of the effect (NaN: unknown), used when seeds are pooled. A non-empty `gate`
// ("no barrier") means the claim's precondition failed: inconclusive whatever the interval.
void set_decision(ClaimCheck& c, const Estimate& e, double within_se, double null_value, Side side,
                  double margin = 0.0, const std::string& gate = "");
// summary.json / claims.json object: study, id, claim, verdict, numbers, detail, and effect,
// interval, null, reason (nulls and reason "not decided by an interval" for a claim without one).
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

// ---- Study 2: resilience -------------------------------------------------------------------
struct ModeCurve {
  std::string mode;                  // "A".."F"
  std::vector<double> t, test_err;   // along the trained curve G -> X
  std::vector<double> line_test_err; // along the straight line (for contrast)
  double n_test = std::numeric_limits<double>::quiet_NaN();  // test examples behind test_err (NaN: unknown)
};
// Effect: the largest, over curves, of (worst test error on the curve - the worse endpoint's),
// with a binomial interval (normal, both error rates' binomial standard errors on n_test);
// held when the upper end is below `tolerance`, not held when the lower end is at or above it.
// Unknown n_test (one seed): no within-run interval, so inconclusive unless seeds are pooled.
ClaimCheck check_resilience(const std::vector<ModeCurve>& curves, double tolerance = 0.02, double level = 0.95);

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
// Aggregates one claim over seeds: numbers become mean ± std. A claim with a decision in every seed
// is decided again by the interval rule on the pooled per-seed effects (seed_estimate: t over
// seeds plus the within-run error); a gate in any seed ("no barrier") keeps it inconclusive.
// A claim without decisions falls back to unanimity (held only if held for every seed).
ClaimCheck aggregate_seeds(const std::vector<ClaimCheck>& per_seed);

}  // namespace closerlook
