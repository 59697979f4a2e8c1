// Claims: one line per paper claim a study tested, with its verdict and the numbers behind it.
// They live in RUN_DIR/summary.json under "claims" (docs/artifacts.md) and head the report.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace closerlook {

struct Claim {
  std::string study;    // the study key, as in the figures ("sgdr", "warmup", ...)
  std::string claim;    // the paper's claim in one sentence
  std::string verdict;  // "held" | "not held" | "inconclusive"
  nlohmann::json numbers = nlohmann::json::object();  // name -> number | string | bool | null
  std::string detail;   // how the verdict was reached (thresholds, seeds, caveats)
  // The interval decision, when the claim has one: {effect, interval: [lo, hi], null, side
  // ("greater" | "less"), reason}; null otherwise. Bounds may be null (unbounded / unknown).
  nlohmann::json estimate;
  // The negative control's own decision (reproduce --controls): {id, verdict, effect, interval,
  // null, reason}; null when the run had no control for this claim.
  nlohmann::json control;
};

nlohmann::json claim_json(const Claim& c);  // validated

// Checks summary["claims"] (absent is fine: no claims). `where` prefixes every message.
void validate_claims(const nlohmann::json& summary, const std::string& where);

// Replaces the "claims" array of RUN_DIR/summary.json (creating the file if needed), keeping every
// other key, and writes it atomically.
void write_claims(const std::string& run_dir, const std::vector<Claim>& claims);

}  // namespace closerlook
