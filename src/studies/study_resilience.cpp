// Study 2: mode-connectivity resilience. A reference mode G and six variants that each change
// one thing (A larger batch, B Adam, C linear LR decay, D smaller weight decay, E larger init
// variance, F no augmentation), each trained from its own seed; a curve G -> X for each, with
// the straight line for contrast, raw and with X's hidden units first permuted to match G's
// (issue 17: the aligned line barrier is the part of the raw barrier that is not permutation).
#include <cmath>

#include "core/atomic_file.h"
#include "core/json_io.h"
#include "report/figure_spec.h"
#include "studies/steps.h"
#include "studies/study_common.h"
#include "surface/profile.h"

namespace closerlook {
namespace {

struct ModeDef {
  std::string key, description;
  nlohmann::json train_over, model_over, data_over;
};

std::vector<ModeDef> mode_defs(const ReproduceConfig& cfg) {
  const ResiliencePreset& r = cfg.resilience;
  std::vector<ModeDef> all = {
      {"A", "larger batch (" + std::to_string(r.large_batch) + ")", {{"batch_size", r.large_batch}}, {}, {}},
      {"B", "Adam instead of SGD", {{"optimizer", "adam"}, {"lr", r.adam_lr}, {"momentum", nullptr}, {"nesterov", nullptr}}, {}, {}},
      {"C", "linearly decaying LR", schedule_patch("linear", {{"final_lr", 0.0}}), {}, {}},
      {"D", "smaller weight decay", {{"weight_decay", r.small_weight_decay}}, {}, {}},
      {"E", "larger init variance (x" + std::to_string(r.init_scale) + " std)", {}, {{"init_scale", r.init_scale}}, {}},
      {"F", "no data augmentation", {}, {}, {{"augment", false}}},
  };
  std::vector<ModeDef> out;
  for (const auto& m : r.modes)
    for (const auto& d : all)
      if (d.key == m) out.push_back(d);
  return out;
}

// The line barriers of each mode (write_barrier_table's pairs, G-X) into the claim's numbers,
// next to the curve's: raw and aligned test-error barriers (fractions, as the claim's other
// numbers). The decision is unchanged; they say how much of the line's barrier is permutation.
void add_line_barriers(ClaimCheck& k, const nlohmann::json& barriers) {
  for (const auto& q : barriers.value("pairs", nlohmann::json::array())) {
    const std::string pair = q.value("pair", ""), mode = pair.size() > 2 ? pair.substr(2) : pair;
    if (!k.numbers.contains(mode) || !k.numbers[mode].is_object()) continue;
    auto frac = [](const nlohmann::json& b) -> nlohmann::json {
      if (!b.is_object() || !b.contains("test_err_points") || !b["test_err_points"].is_number()) return nullptr;
      return b["test_err_points"].get<double>() / 100.0;
    };
    k.numbers[mode]["line_barrier_test_err"] = frac(q["raw"]);
    k.numbers[mode]["aligned_line_barrier_test_err"] = frac(q["aligned"]);
  }
}

}  // namespace

std::string add_resilience_study(Plan& plan, const StudyContext& sc) {
  const ReproduceConfig& cfg = *sc.cfg;
  const ReproduceConfig* c = &cfg;
  const std::string tG = sc.id("resilience/train-G");
  const nlohmann::json g_tree = cfg.run_tree(sc.seed, nlohmann::json::object(), cfg.resilience.model);
  plan.add({tG, "resilience", "train the reference mode G", {}, g_tree,
            [g_tree](StepContext& ctx) { run_train_step(ctx, g_tree); }});

  struct Ids {
    std::string key, description, train, line, curve, aligned;  // aligned: "" with [align] method = none
  };
  std::vector<Ids> ids;
  std::vector<std::string> deps = {tG};
  uint64_t k = 0;
  for (const auto& m : mode_defs(cfg)) {
    ++k;
    Ids i{m.key, m.description, sc.id("resilience/train-" + m.key), sc.id("resilience/line-G-" + m.key),
          sc.id("resilience/curve-G-" + m.key)};
    // Each mode is an independent run: its own seed, so G and X differ by more than the one factor.
    nlohmann::json model_over = cfg.resilience.model;  // the study's network, then the mode's change to it
    model_over.merge_patch(m.model_over.is_object() ? m.model_over : nlohmann::json::object());
    nlohmann::json t = cfg.run_tree(sc.seed + 1000 * k, m.train_over, model_over, m.data_over);
    plan.add({i.train, "resilience", "train mode " + m.key + ": " + m.description, {}, t,
              [t](StepContext& ctx) { run_train_step(ctx, t); }});
    plan.add({i.line, "resilience", "straight line G -> " + m.key, {tG, i.train}, {{"eval", cfg.tree["eval"]}},
              [c, tG, i](StepContext& ctx) {
                run_line_step(ctx, *c, step_checkpoint(ctx.dep(tG), "final"), step_checkpoint(ctx.dep(i.train), "final"));
              }});
    plan.reads(i.line, tG, {"final"});
    plan.reads(i.line, i.train, {"final"});
    const uint64_t seed = sc.seed + k;
    plan.add({i.curve, "resilience", "train + evaluate the curve G -> " + m.key, {tG, i.train},
              {{"eval", cfg.tree["eval"]}, {"curve", cfg.tree["curve"]}, {"seed", seed}},
              [c, tG, i, seed](StepContext& ctx) {
                run_curve_step(ctx, *c, step_checkpoint(ctx.dep(tG), "final"), step_checkpoint(ctx.dep(i.train), "final"),
                               seed);
              }});
    plan.reads(i.curve, tG, {"final"});
    plan.reads(i.curve, i.train, {"final"});
    deps.insert(deps.end(), {i.train, i.line, i.curve});
    // The straight line with X aligned to G: an extra step (the steps above keep their hashes).
    i.aligned = add_line_pair_steps(plan, c, "resilience", "G -> " + m.key, "", sc.id("resilience/aligned-line-G-" + m.key),
                                    tG, "final", i.train, "final")
                    .aligned;
    if (!i.aligned.empty()) deps.push_back(i.aligned);
    ids.push_back(i);
  }

  const std::string analysis = sc.id("resilience/analysis");
  const StudyContext scc = sc;
  const double tol = cfg.resilience.tolerance, level = cfg.claims.level;
  const std::string align_method = cfg.align.method;
  plan.add({analysis, "resilience", "resilience study: figures and claim check", deps,
            {{"tolerance", tol}, {"level", level}},
            [scc, tG, ids, tol, level, align_method](StepContext& ctx) {
              std::vector<ModeCurve> curves;
              std::vector<BarrierPair> pairs;
              std::vector<LineSeries> along, lines;
              std::vector<std::vector<nlohmann::json>> rows;
              std::vector<std::pair<std::string, std::string>> runs = {{"G", step_run_dir(ctx.dep(tG))}};
              const auto g = read_step_result(ctx.dep(tG));
              for (const auto& i : ids) {
                runs.emplace_back(i.key, step_run_dir(ctx.dep(i.train)));
                ModeCurve mc;
                mc.mode = i.key;
                const std::string cj = ctx.dep(i.curve) + "/curve.json", lj = ctx.dep(i.line) + "/line.json";
                if (file_exists(cj)) {
                  Profile p = read_profile(cj);
                  mc.t = p.t;
                  mc.test_err = p.column("te_err");
                  mc.n_test = p.test_examples();
                  LineSeries s{"G-" + i.key, p.t, {}};
                  for (double e : mc.test_err) s.y.push_back(100.0 * (1.0 - e));
                  s.group = i.key;
                  along.push_back(s);
                }
                if (file_exists(lj)) {
                  Profile p = read_profile(lj);
                  mc.line_test_err = p.column("te_err");
                  LineSeries s{"G-" + i.key + " (straight line)", p.t, {}};
                  for (double e : mc.line_test_err) s.y.push_back(100.0 * (1.0 - e));
                  s.dash = "dot";
                  s.group = i.key;
                  lines.push_back(s);
                }
                curves.push_back(mc);
                const auto r = read_step_result(ctx.dep(i.train));
                auto acc = [](const nlohmann::json& res) -> nlohmann::json {
                  if (res.contains("test_acc") && res["test_acc"].is_number()) return 100.0 * res["test_acc"].get<double>();
                  return nullptr;
                };
                nlohmann::json worst = nullptr;
                if (!mc.test_err.empty()) worst = 100.0 * (1.0 - *std::max_element(mc.test_err.begin(), mc.test_err.end()));
                nlohmann::json worst_line = nullptr;
                if (!mc.line_test_err.empty())
                  worst_line = 100.0 * (1.0 - *std::max_element(mc.line_test_err.begin(), mc.line_test_err.end()));
                const BarrierPair bp{"G-" + i.key, i.description, ctx.dep(i.line),
                                     i.aligned.empty() ? "" : ctx.dep(i.aligned)};
                pairs.push_back(bp);
                const nlohmann::json raw_b = line_barriers(bp.raw_dir), al_b = line_barriers(bp.aligned_dir);
                const bool aligned = !i.aligned.empty();
                auto cell = [](const nlohmann::json& b, const char* k, bool applies) {
                  if (!applies) return nlohmann::json("not aligned");
                  return b.is_object() && b.contains(k) ? b[k] : nlohmann::json();
                };
                rows.push_back({i.key, i.description, r.value("status", "missing"), acc(g), acc(r), worst, worst_line,
                                cell(raw_b, "test_err_points", true), cell(raw_b, "train_loss", true),
                                cell(al_b, "test_err_points", aligned), cell(al_b, "train_loss", aligned)});
              }
              const nlohmann::json barriers =
                  write_barrier_table(ctx.dir, scc.root, scc.figures, "resilience", "resilience-barriers",
                                      "Line barriers G -> X, raw vs aligned", 4, align_method, pairs);
              if (scc.figures) {
                std::vector<LineSeries> all = along;
                all.insert(all.end(), lines.begin(), lines.end());
                if (!all.empty())
                  write_figure(scc.root, line_figure({"resilience-curves", "Test accuracy along the curves G -> X",
                                                      "resilience",
                                                      "Test accuracy at 'points' positions along each trained curve from "
                                                      "mode G (t = 0) to mode X (t = 1), solid; dotted: the straight line "
                                                      "between the same two modes. BN statistics recomputed at every point.",
                                                      1},
                                                     {"t (G = 0, X = 1)"}, {"test accuracy", "%"}, all));
                write_figure(scc.root, table_figure({"resilience-modes", "Modes and their connections", "resilience",
                                                     "Test accuracy (%) of G and of each variant, the worst test "
                                                     "accuracy along the trained curve and along the straight line, and "
                                                     "the straight line's barrier (test error in points, train loss in "
                                                     "nats; surface/profile.h barrier_height) raw and with X's units "
                                                     "first permuted to match G's (aligned).",
                                                     2},
                                                    {"mode", "difference from G", "status", "G acc %", "X acc %",
                                                     "worst on curve %", "worst on line %", "raw line barrier: test err (points)",
                                                     "raw line barrier: train loss", "aligned line barrier: test err (points)",
                                                     "aligned line barrier: train loss"},
                                                    rows));
                figure_training_curves(scc, "resilience", "resilience-training", runs, 3);
              }
              ClaimCheck k = check_resilience(curves, tol, level);
              add_line_barriers(k, barriers);
              write_claims_file(ctx.dir, {k});
            }});
  if (!sc.controls) return analysis;

  // Negative control (reproduce --controls): the straight line G -> X in place of the trained
  // curve, checked exactly as the curve is. Independently trained modes are separated by a
  // barrier on the straight line, so "curves connect" must not hold for it; a held control says
  // that the line itself has no barrier at this size, i.e. the claim is vacuous here. It reuses
  // the line steps the study already has; the controls step is an extra step, the claim's steps
  // (and their hashes) are the same with and without controls.
  const std::string controls = sc.id("resilience/controls");
  std::vector<std::string> cdeps = {analysis};
  for (const auto& i : ids) cdeps.push_back(i.line);
  plan.add({controls, "resilience", "resilience study: the claim check and its negative control", cdeps,
            {{"tolerance", tol}, {"level", level}},
            [analysis, ids, tol, level](StepContext& ctx) {
              std::vector<ModeCurve> lines;
              for (const auto& i : ids) {
                ModeCurve mc;
                mc.mode = i.key;
                const std::string lj = ctx.dep(i.line) + "/line.json";
                if (file_exists(lj)) {
                  Profile p = read_profile(lj);
                  mc.t = p.t;
                  mc.test_err = p.column("te_err");
                  mc.n_test = p.test_examples();
                }
                lines.push_back(mc);
              }
              ClaimCheck k = check_resilience(lines, tol, level);
              const auto bj = ctx.dep(analysis) + "/barriers.json";
              if (file_exists(bj)) add_line_barriers(k, read_json(bj));
              k.control_of = k.id;
              k.id += ".control";
              k.text = "Control (the straight line G -> X in place of the trained curve): " + k.text;
              std::vector<ClaimCheck> all = read_claims_file(ctx.dep(analysis));
              all.push_back(k);
              write_claims_file(ctx.dir, all);
            }});
  return controls;
}

}  // namespace closerlook
