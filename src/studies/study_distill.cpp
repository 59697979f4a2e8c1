// Study 4: knowledge distillation. A teacher T, an independent student S_i and a distilled
// student S_d (same architecture and initial weights as S_i). Layer x layer similarity maps
// S_d-T and S_i-T, their difference, and the per-layer gain at matching relative depth with a
// bootstrap over the captured examples (claims_distill.h). With --controls: a student trained
// by KD with alpha = 0 (pure cross-entropy) from S_i's initial weights with another data order,
// compared with S_i by the same checks (it must not come out "held"). Line barriers between the
// networks of one architecture from different runs (the two students; the teacher too when it
// has the students' architecture), raw and aligned (issue 17), in the table distill-barriers.
#include <chrono>
#include <cmath>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_io.h"
#include "report/figure_spec.h"
#include "similarity/activations.h"
#include "similarity/bootstrap.h"
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

bool is_output(const std::string& layer) { return layer == "logits"; }

// The bootstrap's resamples: the run seed, offset so that they are not the data-order stream.
uint64_t bootstrap_seed(uint64_t run_seed) { return run_seed * 0x9E3779B97F4A7C15ULL + 0xD157ULL; }

// The gain of `distilled` over `indep` (each against the teacher layer at the same relative
// depth, the non-output layers matched among themselves and the logits to the logits), on all
// examples and on `resamples` bootstrap resamples of them.
DistillEvidence gain_evidence(const std::vector<NamedTensor>& T, const std::vector<NamedTensor>& Si,
                              const std::vector<NamedTensor>& Sd, Measure m, int64_t resamples, uint64_t seed) {
  DistillEvidence e;
  e.measure = measure_name(m);
  if (Si.size() != Sd.size()) {
    e.missing = "the two students have different probe points";
    return e;
  }
  std::vector<size_t> hs, ht;  // non-output probe points of the student and the teacher
  for (size_t i = 0; i < Sd.size(); ++i)
    if (!is_output(Sd[i].first)) hs.push_back(i);
  for (size_t j = 0; j < T.size(); ++j)
    if (!is_output(T[j].first)) ht.push_back(j);
  if (hs.empty() || ht.empty()) {
    e.missing = "no non-output probe points";
    return e;
  }
  const int64_t n = T.front().second.size(0);
  const torch::Tensor all = torch::arange(n, torch::kInt64).unsqueeze(0);
  const torch::Tensor idx = resamples > 0 ? bootstrap_indices(n, resamples, seed) : torch::empty({0, n}, torch::kInt64);
  auto one = [&](size_t i, size_t j) {
    DistillLayerGain g;
    g.student_layer = Sd[i].first;
    g.teacher_layer = T[j].first;
    const auto f = bootstrap_similarities({Sd[i].second, Si[i].second}, T[j].second, all, m)[0];
    g.sim_distilled = f[0];
    g.sim_indep = f[1];
    g.gain = f[0] - f[1];
    for (const auto& r : bootstrap_similarities({Sd[i].second, Si[i].second}, T[j].second, idx, m))
      g.replicates.push_back(r[0] - r[1]);
    return g;
  };
  const auto match = match_by_relative_depth(static_cast<int64_t>(hs.size()), static_cast<int64_t>(ht.size()));
  for (size_t k = 0; k < hs.size(); ++k) e.layers.push_back(one(hs[k], ht[static_cast<size_t>(match[k])]));
  if (is_output(Sd.back().first) && is_output(T.back().first)) e.logits = one(Sd.size() - 1, T.size() - 1);
  return e;
}

double test_acc(const std::string& train_step_dir) {
  const auto r = read_step_result(train_step_dir);
  return r.contains("test_acc") && r["test_acc"].is_number() ? r["test_acc"].get<double>() : NAN;
}

// Evidence for `distilled` (an activation folder) against the independent student, or the reason
// there is none; timing of the bootstrap written to <dir>/bootstrap.json (not into the claims,
// which must not depend on the machine).
DistillEvidence distill_evidence(const ReproduceConfig& cfg, uint64_t run_seed, const std::string& teacher_dir,
                                 const std::string& indep_dir, const std::string& distilled_dir,
                                 const std::string& distilled_train_step, const std::string& indep_train_step,
                                 const std::string& teacher_train_step, const std::string& out_dir) {
  DistillEvidence e;
  e.measure = cfg.distill.measure;
  for (const auto& [what, dir] : std::vector<std::pair<std::string, std::string>>{
           {"teacher", teacher_dir}, {"independent student", indep_dir}, {"distilled student", distilled_dir}})
    if (!is_activation_dir(dir)) {
      e.missing = "no activations of the " + what + " (its run diverged or was skipped)";
      return e;
    }
  const auto t0 = std::chrono::steady_clock::now();
  try {
    e = gain_evidence(load_activations(teacher_dir).layers, load_activations(indep_dir).layers,
                      load_activations(distilled_dir).layers, parse_measure(cfg.distill.measure),
                      cfg.distill.resamples, bootstrap_seed(run_seed));
  } catch (const Error& err) {
    e.missing = std::string("similarity gains could not be computed: ") + err.what();
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "  distill: %s gains of %zu layers, %lld bootstrap resamples: %.2f s\n", e.measure.c_str(),
               e.layers.size() + (e.logits.student_layer.empty() ? 0 : 1), static_cast<long long>(cfg.distill.resamples),
               secs);
  write_json(out_dir + "/bootstrap.json", {{"seconds", secs},
                                            {"resamples", cfg.distill.resamples},
                                            {"measure", cfg.distill.measure},
                                            {"layers", e.layers.size()}});
  e.acc_distilled = test_acc(distilled_train_step);
  e.acc_indep = test_acc(indep_train_step);
  const DataSplit& data = cached_data(cfg.data_spec);
  e.n_test = static_cast<double>(data.test.size());
  e.chance = data.test.num_classes > 0 ? 1.0 / double(data.test.num_classes) : NAN;
  e.acc_teacher = test_acc(teacher_train_step);
  return e;
}

DistillThresholds thresholds(const ReproduceConfig& cfg) { return {cfg.claims.level, cfg.distill.margin}; }

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
  plan.reads(tD, tT, {"final"});
  plan.add({acts, "distill", "activations of teacher and both students", {tT, tI, tD},
            {{"similarity", cfg.tree["similarity"]}},
            [c, tT, tI, tD](StepContext& ctx) {
              run_activations_step(ctx, *c,
                                   {{"teacher", step_checkpoint(ctx.dep(tT), "final")},
                                    {"indep", step_checkpoint(ctx.dep(tI), "final")},
                                    {"distilled", step_checkpoint(ctx.dep(tD), "final")}});
            }});
  for (const auto& r : {tT, tI, tD}) plan.reads(acts, r, {"final"});

  // Straight lines between the networks of one architecture (extra steps: the steps above keep
  // their hashes): the two students, and teacher-student pairs when the teacher has their model.
  struct LinePair {
    std::string pair, what;
    LinePairSteps ids;
  };
  std::vector<LinePair> lines;
  lines.push_back({"S_i-S_d", "independent vs distilled student (same init and data order, different loss)",
                   add_line_pair_steps(plan, c, "distill", "between the independent and the distilled student",
                                       sc.id("distill/line-students"), sc.id("distill/aligned-line-students"), tI,
                                       "final", tD, "final")});
  if (cfg.run_tree(0, {}, d.teacher_model)["model"] == cfg.run_tree(0, {}, d.student_model)["model"]) {
    lines.push_back({"T-S_i", "teacher vs independent student",
                     add_line_pair_steps(plan, c, "distill", "between the teacher and the independent student",
                                         sc.id("distill/line-teacher-indep"), sc.id("distill/aligned-line-teacher-indep"),
                                         tT, "final", tI, "final")});
    lines.push_back({"T-S_d", "teacher vs distilled student",
                     add_line_pair_steps(plan, c, "distill", "between the teacher and the distilled student",
                                         sc.id("distill/line-teacher-distilled"),
                                         sc.id("distill/aligned-line-teacher-distilled"), tT, "final", tD, "final")});
  }
  std::vector<std::string> analysis_deps = {tT, tI, tD, acts};
  for (const auto& l : lines) {
    analysis_deps.push_back(l.ids.raw);
    if (!l.ids.aligned.empty()) analysis_deps.push_back(l.ids.aligned);
  }
  const std::string align_method = cfg.align.method;

  const std::string analysis = sc.id("distill/analysis");
  const StudyContext scc = sc;
  const nlohmann::json claim_inputs = {{"similarity", cfg.tree["similarity"]},
                                       {"distill", cfg.tree.value("distill", nlohmann::json::object())},
                                       {"claims", cfg.tree.value("claims", nlohmann::json::object())}};
  plan.add({analysis, "distill", "distillation study: similarity maps, per-layer gains with a bootstrap, claim checks",
            analysis_deps, claim_inputs,
            [c, scc, tT, tI, tD, acts, lines, align_method](StepContext& ctx) {
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
              std::vector<BarrierPair> bp;
              for (const auto& l : lines)
                bp.push_back({l.pair, l.what, ctx.dep(l.ids.raw), l.ids.aligned.empty() ? "" : ctx.dep(l.ids.aligned)});
              write_barrier_table(ctx.dir, scc.root, scc.figures, "distill", "distill-barriers",
                                  "Line barriers between the networks, raw vs aligned", 2, align_method, bp);
              // The claims: per-layer gains at matching relative depth, bootstrap over examples.
              const DistillEvidence ev = distill_evidence(*c, scc.seed, a + "/teacher", a + "/indep", a + "/distilled",
                                                          ctx.dep(tD), ctx.dep(tI), ctx.dep(tT), ctx.dir);
              const DistillThresholds th = thresholds(*c);
              const std::vector<ClaimCheck> claims = {check_distill_deeper(ev, th), check_distill_deep_gain(ev, th)};
              if (scc.figures && !ev.layers.empty()) {
                std::vector<DistillLayerGain> all = ev.layers;
                if (!ev.logits.student_layer.empty()) all.push_back(ev.logits);
                Axis x{"student layer (teacher layer at the same relative depth)"};
                LineSeries s{"distilled - independent (vs teacher)", {}, {}}, lo{"interval, lower", {}, {}},
                    hi{"interval, upper", {}, {}};
                const double z = normal_quantile(0.5 + c->claims.level / 2);
                for (size_t q = 0; q < all.size(); ++q) {
                  x.categories.push_back(all[q].student_layer + " (" + all[q].teacher_layer + ")");
                  const double se = bootstrap_se(all[q].replicates);
                  for (auto* ser : {&s, &lo, &hi}) ser->x.push_back(double(q));
                  s.y.push_back(all[q].gain);
                  lo.y.push_back(all[q].gain - z * se);
                  hi.y.push_back(all[q].gain + z * se);
                }
                s.mode = "lines+markers";
                lo.dash = hi.dash = "dot";
                lo.group = hi.group = "interval";
                write_figure(scc.root,
                             line_figure({"distill-diagonal", "Per-layer gain from distillation", "distill",
                                          ev.measure + " similarity to the teacher layer at the same relative depth, "
                                          "distilled minus independent student; dotted: the bootstrap interval over "
                                          "examples. Positive = distillation made this layer more similar to the "
                                          "teacher's. The logits (last) are matched directly by the KD loss and are "
                                          "not part of the deep-vs-shallow contrast.",
                                          20},
                                         x, {"similarity gain"}, {s, lo, hi}));
              }
              // The layer x layer maps of every [similarity] measure (figures of the primary one).
              if (!is_activation_dir(a + "/teacher") || !is_activation_dir(a + "/indep") ||
                  !is_activation_dir(a + "/distilled")) {
                write_claims_file(ctx.dir, claims);
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
                std::fprintf(stderr, "  distill: similarity maps not computed: %s\n", e.what());
                write_json(ctx.dir + "/error.json", {{"error", e.what()}});
                write_claims_file(ctx.dir, claims);
                return;
              }
              int order = 10;
              for (size_t k = 0; k < ms.size(); ++k) {
                write_similarity_map(mi[k], ctx.dir + "/indep-vs-teacher-" + measure_name(ms[k]));
                write_similarity_map(md[k], ctx.dir + "/distilled-vs-teacher-" + measure_name(ms[k]));
                if (!scc.figures || ms[k] != primary) continue;
                Matrix mI = to_matrix(mi[k]), mD = to_matrix(md[k]), diff = mD;
                for (size_t r = 0; r < diff.size(); ++r)
                  for (size_t q = 0; q < diff[r].size(); ++q) diff[r][q] = mD[r][q] - mI[r][q];
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
              write_claims_file(ctx.dir, claims);
            }});
  if (!sc.controls) return analysis;

  // The negative control (extra steps only): a student trained by KD with alpha = 0 -- pure
  // cross-entropy, so no knowledge of the teacher reaches it -- from the independent student's
  // initial weights with another data order (seed + 13), compared with the independent student
  // by the same checks. Its "gain" is the difference between two independently trained students.
  const std::string tC = sc.id("distill/control-train-student-alpha0"), cacts = sc.id("distill/control-acts"),
                    canalysis = sc.id("distill/control-analysis");
  const nlohmann::json ctl_over = {{"epochs", d.student_epochs}, {"kd_temperature", d.temperature}, {"kd_alpha", 0.0}};
  plan.add({tC, "distill", "control: a student by KD with alpha = 0 (cross-entropy only), S_i's initial weights, another data order",
            {tT, tI}, {{"tree", cfg.run_tree(sc.seed + 13, ctl_over, d.student_model)}},
            [c, sc, ctl_over, tT, tI](StepContext& ctx) {
              nlohmann::json over = ctl_over;
              over["teacher"] = step_checkpoint(ctx.dep(tT), "final");
              over["init_from"] = step_checkpoint(ctx.dep(tI), "init");
              run_train_step(ctx, c->run_tree(sc.seed + 13, over, c->distill.student_model));
            }});
  plan.reads(tC, tT, {"final"});
  plan.reads(tC, tI, {"init"});
  plan.add({cacts, "distill", "control: activations of the alpha = 0 student", {tC},
            {{"similarity", cfg.tree["similarity"]}},
            [c, tC](StepContext& ctx) {
              run_activations_step(ctx, *c, {{"control", step_checkpoint(ctx.dep(tC), "final")}});
            }});
  plan.reads(cacts, tC, {"final"});
  plan.add({canalysis, "distill", "control: the distillation checks on the alpha = 0 student (must not be held)",
            {analysis, tT, tI, tC, acts, cacts}, claim_inputs,
            [c, scc, analysis, tT, tI, tC, acts, cacts](StepContext& ctx) {
              std::vector<ClaimCheck> claims = read_claims_file(ctx.dep(analysis));
              const std::string a = ctx.dep(acts);
              const DistillEvidence ev = distill_evidence(*c, scc.seed, a + "/teacher", a + "/indep",
                                                          ctx.dep(cacts) + "/control", ctx.dep(tC), ctx.dep(tI), ctx.dep(tT), ctx.dir);
              const DistillThresholds th = thresholds(*c);
              const std::string arm = "KD with alpha = 0, another data order, vs the independent student";
              claims.push_back(as_control(check_distill_deeper(ev, th), arm));
              claims.push_back(as_control(check_distill_deep_gain(ev, th), arm));
              write_claims_file(ctx.dir, claims);
            }});
  return canalysis;
}

}  // namespace closerlook
