#include "studies/study_common.h"

#include <cmath>
#include <filesystem>

#include "core/atomic_file.h"
#include "core/json_io.h"
#include "report/figure_spec.h"
#include "surface/profile.h"

namespace fs = std::filesystem;

namespace closerlook {

nlohmann::json schedule_patch(const std::string& kind, const nlohmann::json& params) {
  nlohmann::json p = {{"schedule", kind},     {"gamma", nullptr},   {"step_epochs", nullptr}, {"milestones", nullptr},
                      {"final_lr", nullptr},  {"eta_min", nullptr}, {"sgdr_t0", nullptr},     {"sgdr_tmult", nullptr}};
  for (auto it = params.begin(); it != params.end(); ++it) p[it.key()] = it.value();
  return p;
}

void write_claims_file(const std::string& step_dir, const std::vector<ClaimCheck>& claims) {
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& c : claims) arr.push_back(to_json(c));
  write_json(step_dir + "/claims.json", arr);
}

std::vector<ClaimCheck> read_claims_file(const std::string& step_dir) {
  std::vector<ClaimCheck> out;
  const std::string p = step_dir + "/claims.json";
  if (!file_exists(p)) return out;
  for (const auto& j : read_json(p)) out.push_back(claim_from_json(j));
  return out;
}

std::vector<nlohmann::json> run_metrics(const std::string& run_dir) {
  const std::string p = run_dir + "/metrics.jsonl";
  return file_exists(p) ? read_jsonl(p) : std::vector<nlohmann::json>{};
}

namespace {
double num(const nlohmann::json& j, const char* key) {
  return j.contains(key) && j[key].is_number() ? j[key].get<double>() : std::nan("");
}
}  // namespace

void figure_training_curves(const StudyContext& sc, const std::string& study, const std::string& id_prefix,
                            const std::vector<std::pair<std::string, std::string>>& runs, int order) {
  if (!sc.figures) return;
  std::vector<LineSeries> acc, loss, lr;
  for (const auto& [name, dir] : runs) {
    LineSeries a{name}, l{name}, r{name};
    for (const auto& m : run_metrics(dir)) {
      const double e = num(m, "epoch");
      a.x.push_back(e);
      a.y.push_back(num(m, "test_acc") * 100.0);
      l.x.push_back(e);
      l.y.push_back(num(m, "train_loss"));
      r.x.push_back(e);
      r.y.push_back(num(m, "lr"));
    }
    if (a.x.empty()) continue;
    acc.push_back(a);
    loss.push_back(l);
    lr.push_back(r);
  }
  if (acc.empty()) return;
  write_figure(sc.root, line_figure({id_prefix + "-test-acc", "Test accuracy during training", study,
                                     "Test accuracy after each epoch for every run of the study.", order, true},
                                    {"epoch"}, {"test accuracy", "%"}, acc));
  write_figure(sc.root, line_figure({id_prefix + "-train-loss", "Train loss during training", study,
                                     "Cross-entropy on the un-augmented training subset after each epoch (log scale).",
                                     order + 1, true},
                                    {"epoch"}, {"train loss", "nats", true}, loss));
  write_figure(sc.root, line_figure({id_prefix + "-lr", "Learning rate", study,
                                     "Learning rate at the end of each epoch (the schedule is applied every iteration).",
                                     order + 2, true},
                                    {"epoch"}, {"learning rate", "", true}, lr));
}

void figure_line_vs_curve(const StudyContext& sc, const std::string& study, const std::string& id,
                          const std::string& title, const std::string& line_json, const std::string& curve_json,
                          int order) {
  if (!sc.figures) return;
  std::vector<LineSeries> series;
  auto add = [&](const std::string& path, const std::string& name, const std::string& dash) {
    if (!file_exists(path)) return;
    Profile p = read_profile(path);
    LineSeries loss{name + ": train loss", p.t, p.column("tr_nll")};
    loss.dash = dash;
    loss.color = "#1f77b4";
    LineSeries err{name + ": test error", p.t, p.column("te_err")};
    for (auto& v : err.y) v *= 100.0;
    err.right_axis = true;
    err.dash = dash;
    err.color = "#d62728";
    series.push_back(loss);
    series.push_back(err);
  };
  add(line_json, "straight line", "dash");
  add(curve_json, "curve", "solid");
  if (series.empty()) return;
  write_figure(sc.root, line_figure({id, title, study,
                                     "Train loss (left axis, nats) and test error (right axis, %) along the straight "
                                     "line (dashed) and the trained curve (solid); BN statistics recomputed at every point.",
                                     order, true},
                                    {"t (position along the path)"}, {"train loss", "nats"}, series, {},
                                    {"test error", "%"}));
}

}  // namespace closerlook
