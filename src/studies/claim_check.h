// A claim check: the paper's claim as an explicit, numeric check. Each check turns measured numbers into a
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
  // Non-empty: this check is the negative control of the claim with this id, an arm where the
  // effect is absent by construction (reproduce --controls), so it must not come out "held".
  // summary.json attaches it to that claim as "control" instead of listing it on its own.
  std::string control_of;
};
// The interval decision of a claim (studies/verdict.h's rule). Stored in numbers["decision"]
// ({effect, interval, null, side, margin, se, reason, interval_method, seeds[, gate]}) so that
// claims.json round-trips through read_claims_file, and hoisted by to_json to the top-level
// summary.json fields effect, interval ([lo, hi]), null, verdict, reason. `se` is the within-run
// standard error of the effect (NaN: unknown), used when seeds are pooled. A non-empty `gate`
// ("no barrier") means the claim's precondition failed: inconclusive whatever the interval.
void set_decision(ClaimCheck& c, const Estimate& e, double within_se, double null_value, Side side,
                  double margin = 0.0, const std::string& gate = "");
// A claim whose effect compares separately trained networks (SGDR vs SGD, warmup vs none, the
// distilled vs the independent student) varies with training randomness (initial weights, data
// order) that a within-run interval (bootstrap over examples, binomial on the test set) does not
// contain: at one seed the networks differ by training noise alone (measured here: an alpha = 0
// "distilled" student with another data order comes out with 70% of distillation's effect).
// mark_between_runs records that (numbers.decision.between_runs = what is compared);
// single_seed_gate, applied when a claim rests on one seed, makes such a claim inconclusive with
// that reason. Pooled over seeds (aggregate_seeds: t over seeds), training noise is in the
// interval and the claim is decided.
void mark_between_runs(ClaimCheck& c, const std::string& compared);
// The check `c` applied to a control arm, as that claim's control: id "<id>.control",
// control_of = the claim's id, the claim's text prefixed with "Control (<arm>): ".
ClaimCheck as_control(ClaimCheck c, const std::string& arm);
ClaimCheck single_seed_gate(const ClaimCheck& c);

// summary.json / claims.json object: study, id, claim, verdict, numbers, detail, and effect,
// interval, null, reason (nulls and reason "not decided by an interval" for a claim without one),
// and control_of for a control.
nlohmann::json to_json(const ClaimCheck& c);
ClaimCheck claim_from_json(const nlohmann::json& j);  // the inverse (claims.json)
// The claims of summary.json: every claim's to_json, with the controls (control_of) moved into
// their claim's "control" object ({id, verdict, effect, interval, null, reason, numbers, detail}).
// A control whose claim is absent stays in the list on its own, with its control_of.
nlohmann::json attach_controls(const std::vector<ClaimCheck>& checks);
// The report's claim row (report/claims.h) for one entry of attach_controls (to_json of a check,
// with its control): numbers flattened, the id among them, estimate and control carried over.
struct Claim;
Claim to_report_claim(const nlohmann::json& check);

// ---- Several seeds -------------------------------------------------------------------------
// Aggregates one claim over seeds: numbers become mean ± std. A claim with a decision in every seed
// is decided again by the interval rule on the pooled per-seed effects (seed_estimate: t over
// seeds plus the within-run error); a gate in any seed ("no barrier") keeps it inconclusive.
// A claim without decisions falls back to unanimity (held only if held for every seed).
ClaimCheck aggregate_seeds(const std::vector<ClaimCheck>& per_seed);

// ---- Small helpers the per-study checks share ----------------------------------------------
namespace claim_util {
nlohmann::json jnum(double v);                            // null for a non-finite number
double jget(const nlohmann::json& j, const char* key);    // NaN when absent or not a number
double max_of(const std::vector<double>& v);
double min_of(const std::vector<double>& v);
double mean_of(const std::vector<double>& v);             // NaN when empty
bool finite_all(const std::vector<double>& v);
}  // namespace claim_util

}  // namespace closerlook
