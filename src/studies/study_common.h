// What the four study builders share: naming, schedule overrides, claim files and the figures
// that every study draws the same way (training curves, line-vs-curve profiles).
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "studies/claims.h"
#include "studies/pipeline.h"
#include "studies/reproduce_config.h"

namespace closerlook {

struct StudyContext {
  const ReproduceConfig* cfg = nullptr;
  uint64_t seed = 0;
  std::string prefix;     // "" for one seed, "seed-<k>/" with several
  bool figures = true;    // only the first seed draws figures
  std::string root;       // the reproduce folder (figures go to <root>/figures)
  // reproduce --controls: each study also adds its negative-control arms (steps of their own, so
  // the claim's steps and their config hashes are the same with and without controls) and a
  // check per control with control_of set to the claim it controls.
  bool controls = false;
  std::string id(const std::string& s) const { return prefix + s; }
};

// Each study adds its steps and returns the id of its analysis step (which writes claims.json).
std::string add_sgdr_study(Plan& plan, const StudyContext& sc);
std::string add_resilience_study(Plan& plan, const StudyContext& sc);
std::string add_warmup_study(Plan& plan, const StudyContext& sc);
std::string add_distill_study(Plan& plan, const StudyContext& sc);

// [train] overrides that switch the schedule kind (and drop the other kinds' keys).
nlohmann::json schedule_patch(const std::string& kind, const nlohmann::json& params = nlohmann::json::object());

void write_claims_file(const std::string& step_dir, const std::vector<ClaimCheck>& claims);
std::vector<ClaimCheck> read_claims_file(const std::string& step_dir);

// metrics.jsonl of a run folder (empty when absent).
std::vector<nlohmann::json> run_metrics(const std::string& run_dir);

// Training curves of several runs (name, run folder): test accuracy, train loss, learning rate.
void figure_training_curves(const StudyContext& sc, const std::string& study, const std::string& id_prefix,
                            const std::vector<std::pair<std::string, std::string>>& runs, int order);

// Train loss and test error along a straight line and (when present) a curve between two models.
void figure_line_vs_curve(const StudyContext& sc, const std::string& study, const std::string& id,
                          const std::string& title, const std::string& line_json, const std::string& curve_json,
                          int order);

}  // namespace closerlook
