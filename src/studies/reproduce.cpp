#include "studies/reproduce.h"

#include <ctime>
#include <map>
#include <sstream>

#include "core/atomic_file.h"
#include "core/json_io.h"
#include "core/runtime.h"
#include "report/claims.h"
#include "report/html_report.h"
#include "studies/study_common.h"

namespace closerlook {

Plan build_reproduce_plan(const ReproduceConfig& cfg, const ReproduceOptions& opts) {
  Plan plan(opts.out_dir);
  std::vector<std::string> analyses;
  for (int k = 0; k < opts.seeds; ++k) {
    StudyContext sc;
    sc.cfg = &cfg;
    sc.seed = cfg.seed + static_cast<uint64_t>(k) * 100003ULL;
    sc.prefix = opts.seeds > 1 ? "seed-" + std::to_string(k) + "/" : "";
    sc.figures = (k == 0);
    sc.root = opts.out_dir;
    sc.controls = opts.controls;
    for (const auto& s : cfg.studies) {
      if (s == "sgdr") analyses.push_back(add_sgdr_study(plan, sc));
      if (s == "resilience") analyses.push_back(add_resilience_study(plan, sc));
      if (s == "warmup") analyses.push_back(add_warmup_study(plan, sc));
      if (s == "distill") analyses.push_back(add_distill_study(plan, sc));
    }
  }
  const std::string out = opts.out_dir;
  const int seeds = opts.seeds;
  const nlohmann::json preset = cfg.tree;
  const std::string source = cfg.source;
  plan.add({"summary", "report", "gather the claim checks of every study (and seed) into summary.json", analyses,
            {{"seeds", seeds}, {"controls", opts.controls}},
            [analyses, out, seeds, preset, source](StepContext& ctx) {
              // Group the per-seed checks by id, in study order.
              std::vector<std::string> order;
              std::map<std::string, std::vector<ClaimCheck>> by_id;
              for (const auto& a : analyses)
                for (const auto& c : read_claims_file(ctx.dep(a))) {
                  if (!by_id.count(c.id)) order.push_back(c.id);
                  by_id[c.id].push_back(c);
                }
              std::vector<ClaimCheck> decided;
              // One seed: claims between separately trained networks cannot be decided (claim_check.h).
              for (const auto& id : order)
                decided.push_back(seeds > 1 ? aggregate_seeds(by_id[id]) : single_seed_gate(by_id[id].front()));
              const nlohmann::json checks = attach_controls(decided);
              std::vector<Claim> claims;
              for (const auto& c : checks) claims.push_back(to_report_claim(c));
              const nlohmann::json rt = runtime_metadata();
              char date[64];
              std::time_t now = std::time(nullptr);
              std::strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
              nlohmann::json summary = {{"metadata",
                                         {{"preset", source},
                                          {"config_hash", content_hash(preset.dump())},
                                          {"git_commit", rt.value("git_commit", "unknown")},
                                          {"machine", rt.value("hostname", "unknown")},
                                          {"date", date},
                                          {"libtorch_version", rt.value("libtorch_version", "")},
                                          {"threads", std::to_string(rt.value("threads", 0))},
                                          {"seeds", std::to_string(seeds)}}},
                                        {"preset", source},
                                        {"config_hash", content_hash(preset.dump())},
                                        {"seeds", seeds},
                                        {"runtime", runtime_metadata()},
                                        {"checks", checks}};
              write_json(out + "/summary.json", summary);
              write_claims(out, claims);
              write_json(ctx.dir + "/result.json", {{"status", "ok"}, {"claims", claims.size()}});
            }});
  if (!opts.plotly_path.empty()) {
    const std::string plotly = opts.plotly_path;
    plan.add({"report", "report", "write report.html (figures and claims, offline)", {"summary"},
              {{"report", 1}},
              [out, plotly](StepContext& ctx) {
                ReportOptions ro;
                ro.run_dir = out;
                ro.plotly_path = plotly;
                ro.title = "closerlook: A Closer Look at Deep Learning Heuristics, reproduced";
                ReportResult r = write_report(ro);
                std::fprintf(stderr, "  report: %s (%zu bytes, %d figures)\n", r.path.c_str(), r.bytes, r.figures);
                write_json(ctx.dir + "/result.json", {{"status", "ok"}, {"path", r.path}, {"figures", r.figures}});
              }});
  }
  // The keep policy keeps what the controls read too, so a later --controls run finds its inputs.
  if (!opts.controls) {
    ReproduceOptions with = opts;
    with.controls = true;
    with.plotly_path.clear();
    plan.merge_reads(build_reproduce_plan(cfg, with));
  }
  return plan;
}

std::string format_claims_table(const std::string& out_dir) {
  const std::string p = out_dir + "/summary.json";
  if (!file_exists(p)) return "(no summary.json yet)\n";
  auto s = read_json(p);
  std::ostringstream o;
  o << "Claims (" << out_dir << "/summary.json):\n";
  for (const auto& c : s.value("checks", nlohmann::json::array())) {
    char line[64];
    std::snprintf(line, sizeof(line), "  %-13s %-11s ", c.value("verdict", "").c_str(), c.value("study", "").c_str());
    o << line << c.value("claim", "") << "\n      " << c.value("detail", "") << "\n";
    // The decision in one line: effect [interval] vs null, and the control's verdict.
    auto num = [](const nlohmann::json& v, const char* open) {
      if (!v.is_number()) return std::string(open);
      char b[32];
      std::snprintf(b, sizeof(b), "%.4g", v.get<double>());
      return std::string(b);
    };
    if (c.contains("effect") && c["effect"].is_number()) {
      const auto iv = c.value("interval", nlohmann::json::array({nullptr, nullptr}));
      o << "      effect " << num(c["effect"], "?") << " [" << num(iv[0], "-inf") << ", " << num(iv[1], "inf")
        << "] vs null " << num(c.value("null", nlohmann::json()), "?");
      if (c.contains("control")) o << "; control: " << c["control"].value("verdict", "?");
      o << "\n      " << c.value("reason", "") << "\n";
    }
  }
  return o.str();
}

}  // namespace closerlook
