// Study 4: knowledge distillation. A teacher T, an independent student S_i and a distilled
// student S_d (same architecture and initial weights as S_i). Layer x layer similarity maps
// S_d-T and S_i-T, their difference, and the per-layer (matching depth) gain.
#include <cmath>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_io.h"
#include "report/figure_spec.h"
#include "similarity/activations.h"
#include "similarity/similarity_map.h"
#include "studies/steps.h"
#include "studies/study_common.h"

namespace closerlook {
namespace {

Matrix to_matrix(const SimilarityMap& m) {
  Matrix mat(m.values.size(0), std::vector<double>(m.values.size(1)));
  for (int64_t a = 0; a < m.values.size(0); ++a)
    for (int64_t b = 0; b < m.values.size(1); ++b) mat[a][b] = m.at(a, b);
  return mat;
}

// The teacher layer at the same relative depth as student layer i (same name when both have it).
int64_t matching_column(const std::vector<std::string>& rows, const std::vector<std::string>& cols, size_t i) {
  for (size_t j = 0; j < cols.size(); ++j)
    if (cols[j] == rows[i]) return static_cast<int64_t>(j);
  if (rows.size() < 2) return static_cast<int64_t>(cols.size()) - 1;
  return std::lround(double(i) * double(cols.size() - 1) / double(rows.size() - 1));
}

}  // namespace

std::string add_distill_study(Plan& plan, const StudyContext& sc) {
  const ReproduceConfig& cfg = *sc.cfg;
  const ReproduceConfig* c = &cfg;
  const DistillPreset& d = cfg.distill;
  const std::string tT = sc.id("distill/train-teacher"), tI = sc.id("distill/train-student-indep"),
                    tD = sc.id("distill/train-student-distilled"), acts = sc.id("distill/acts");
  const nlohmann::json teacher_tree =
      cfg.run_tree(sc.seed + 7, {{"epochs", d.teacher_epochs}}, d.teacher_model);
  plan.add({tT, "distill", "train the teacher", {}, teacher_tree,
            [teacher_tree](StepContext& ctx) { run_train_step(ctx, teacher_tree); }});
  const nlohmann::json indep_tree = cfg.run_tree(sc.seed + 11, {{"epochs", d.student_epochs}}, d.student_model);
  plan.add({tI, "distill", "train the independent student (cross-entropy only)", {}, indep_tree,
            [indep_tree](StepContext& ctx) { run_train_step(ctx, indep_tree); }});
  // Same seed as the independent student: the same initial weights and batch order.
  const nlohmann::json kd_over = {{"epochs", d.student_epochs}, {"kd_temperature", d.temperature}, {"kd_alpha", d.alpha}};
  plan.add({tD, "distill", "train the distilled student (KD from the teacher)", {tT},
            {{"tree", cfg.run_tree(sc.seed + 11, kd_over, d.student_model)}},
            [c, sc, kd_over, tT](StepContext& ctx) {
              nlohmann::json over = kd_over;
              over["teacher"] = step_checkpoint(ctx.dep(tT), "final");
              run_train_step(ctx, c->run_tree(sc.seed + 11, over, c->distill.student_model));
            }});
  plan.add({acts, "distill", "activations of teacher and both students", {tT, tI, tD},
            {{"similarity", cfg.tree["similarity"]}},
            [c, tT, tI, tD](StepContext& ctx) {
              run_activations_step(ctx, *c,
                                   {{"teacher", step_checkpoint(ctx.dep(tT), "final")},
                                    {"indep", step_checkpoint(ctx.dep(tI), "final")},
                                    {"distilled", step_checkpoint(ctx.dep(tD), "final")}});
            }});

  const std::string analysis = sc.id("distill/analysis");
  const StudyContext scc = sc;
  plan.add({analysis, "distill", "distillation study: similarity maps, figures and claim check", {tT, tI, tD, acts},
            {{"similarity", cfg.tree["similarity"]}},
            [c, scc, tT, tI, tD, acts](StepContext& ctx) {
              const std::string a = ctx.dep(acts);
              std::vector<std::vector<nlohmann::json>> rows;
              for (const auto& [name, id] : std::vector<std::pair<std::string, std::string>>{
                       {"teacher", tT}, {"independent student", tI}, {"distilled student", tD}}) {
                auto r = read_step_result(ctx.dep(id));
                rows.push_back({name, r.value("status", "missing"),
                                r.contains("test_acc") ? nlohmann::json(100.0 * r["test_acc"].get<double>()) : nlohmann::json()});
              }
              if (scc.figures)
                write_figure(scc.root, table_figure({"distill-accuracy", "Teacher and students", "distill",
                                                     "Final test accuracy (%) of the three networks.", 1},
                                                    {"network", "status", "test accuracy %"}, rows));
              if (!is_activation_dir(a + "/teacher") || !is_activation_dir(a + "/indep") ||
                  !is_activation_dir(a + "/distilled")) {
                write_claims_file(ctx.dir, {check_distill_deeper({}, {})});
                return;
              }
              auto T = load_activations(a + "/teacher").layers;
              auto Si = load_activations(a + "/indep").layers;
              auto Sd = load_activations(a + "/distilled").layers;
              const Measure primary = parse_measure(c->similarity.primary);
              std::vector<Measure> ms;
              for (const auto& n : c->similarity.measures) ms.push_back(parse_measure(n));
              std::vector<SimilarityMap> mi, md;
              try {
                mi = layer_by_layer(Si, T, ms);
                md = layer_by_layer(Sd, T, ms);
              } catch (const Error& e) {
                std::fprintf(stderr, "  distill: similarity not computed: %s\n", e.what());
                write_json(ctx.dir + "/error.json", {{"error", e.what()}});
                ClaimCheck cc = check_distill_deeper({}, {});
                cc.detail = std::string("similarity maps could not be computed: ") + e.what();
                write_claims_file(ctx.dir, {cc});
                return;
              }
              std::vector<std::string> layers;
              std::vector<double> gain;
              int order = 10;
              for (size_t k = 0; k < ms.size(); ++k) {
                write_similarity_map(mi[k], ctx.dir + "/indep-vs-teacher-" + measure_name(ms[k]));
                write_similarity_map(md[k], ctx.dir + "/distilled-vs-teacher-" + measure_name(ms[k]));
                Matrix mI = to_matrix(mi[k]), mD = to_matrix(md[k]), diff = mD;
                for (size_t r = 0; r < diff.size(); ++r)
                  for (size_t q = 0; q < diff[r].size(); ++q) diff[r][q] = mD[r][q] - mI[r][q];
                if (ms[k] == primary) {
                  for (size_t r = 0; r < diff.size(); ++r) {
                    layers.push_back(md[k].row_names[r]);
                    gain.push_back(diff[r][matching_column(md[k].row_names, md[k].col_names, r)]);
                  }
                }
                if (!scc.figures || ms[k] != primary) continue;
                Axis x{"teacher layer"};
                x.categories = md[k].col_names;
                Axis y{"student layer"};
                y.categories = md[k].row_names;
                y.reversed = true;
                const std::string mn = measure_name(ms[k]) + " similarity";
                ValueScale z{mn};
                z.min = 0.0;
                z.max = 1.0;
                write_figure(scc.root, heatmap_figure({"distill-distilled-vs-teacher", "Distilled student vs teacher",
                                                       "distill", "Cell (i, j): " + mn +
                                                           " between layer i of the distilled student and layer j of the teacher.",
                                                       order++, true},
                                                      x, y, z, mD));
                write_figure(scc.root, heatmap_figure({"distill-indep-vs-teacher", "Independent student vs teacher",
                                                       "distill", "Cell (i, j): " + mn +
                                                           " between layer i of the independent student and layer j of the teacher.",
                                                       order++, true},
                                                      x, y, z, mI));
                ValueScale zd{"difference in " + mn};
                zd.diverging = true;
                write_figure(scc.root, heatmap_figure({"distill-difference", "Distilled minus independent",
                                                       "distill", "Similarity to the teacher gained through distillation: "
                                                       "(distilled vs teacher) - (independent vs teacher). Red: the "
                                                       "distilled student is closer to the teacher.",
                                                       order++, false},
                                                      x, y, zd, diff));
              }
              if (scc.figures && !layers.empty()) {
                Axis x{"student layer"};
                x.categories = layers;
                LineSeries s{"distilled - independent (vs teacher, matching depth)", {}, gain};
                for (size_t q = 0; q < gain.size(); ++q) s.x.push_back(double(q));
                s.mode = "lines+markers";
                write_figure(scc.root, line_figure({"distill-diagonal", "Per-layer gain from distillation", "distill",
                                                    "Difference map at matching depth: positive = distillation made this "
                                                    "layer more similar to the teacher's.", order++},
                                                   x, {"similarity gain"}, {s}));
              }
              write_claims_file(ctx.dir, {check_distill_deeper(layers, gain)});
            }});
  return analysis;
}

}  // namespace closerlook
