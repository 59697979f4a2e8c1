// Study 1: SGDR (cosine annealing with warm restarts) vs step-decay SGD. Are the SGDR iterates
// at the ends of cycles separate minima? Straight lines between consecutive snapshots of both
// runs, curves between the SGDR snapshot pairs, and the plane through the last pair and the
// curve's bend with every epoch's iterate projected onto it. An independent-runs baseline (issue
// 17): a second step-decay SGD run from another seed and the straight line between the two SGD
// runs' final weights, raw and aligned, next to the SGDR snapshots' line barriers: are the
// snapshots as different as independently trained solutions?
#include <cmath>
#include <filesystem>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_io.h"
#include "core/npy.h"
#include "report/figure_spec.h"
#include "studies/steps.h"
#include "studies/study_common.h"
#include "surface/plane.h"
#include "surface/profile.h"

namespace closerlook {
namespace {

std::vector<int64_t> cycle_ends(int64_t t0, int64_t tmult, int64_t epochs) {
  std::vector<int64_t> ends;
  int64_t e = 0, T = t0;
  while (e + T <= epochs) {
    e += T;
    ends.push_back(e);
    T *= tmult;
  }
  return ends;
}

// The plane evidence of the last pair: grid, the projected iterates of epochs e_a..e_b, the curve.
PlaneTrajectory plane_trajectory(const std::string& name, const std::string& plane_dir, const std::string& curve_dir,
                                 int64_t e_a, int64_t e_b) {
  PlaneTrajectory p;
  p.name = name;
  if (!file_exists(plane_dir + "/plane.json")) return p;
  const auto meta = read_json(plane_dir + "/plane.json");
  p.dx = meta.value("dx", NAN);
  p.alphas = meta.value("alphas", std::vector<double>{});
  p.betas = meta.value("betas", std::vector<double>{});
  const auto metrics = read_plane_metrics(plane_dir);
  if (metrics.count("tr_nll")) {
    auto g = metrics.at("tr_nll").to(torch::kFloat64).contiguous();
    for (int64_t i = 0; i < g.size(0); ++i) {
      p.tr_nll.emplace_back();
      for (int64_t j = 0; j < g.size(1); ++j) p.tr_nll.back().push_back(g[i][j].item<double>());
    }
  }
  for (int64_t e = e_a; e <= e_b; ++e)
    for (const auto& q : meta.value("projections", nlohmann::json::array()))
      if (q.value("name", "") == "epoch " + std::to_string(e)) {
        p.traj_alpha.push_back(q.value("alpha", NAN));
        p.traj_beta.push_back(q.value("beta", NAN));
        p.traj_off.push_back(q.value("off_plane", NAN));
        p.traj_names.push_back(q.value("name", ""));
      }
  if (file_exists(curve_dir + "/curve.json")) p.curve_train_loss = read_profile(curve_dir + "/curve.json").column("tr_nll");
  return p;
}

PairProfile pair_profile(const std::string& name, const std::string& line_dir, const std::string& curve_dir) {
  PairProfile p;
  p.name = name;
  const std::string lj = line_dir + "/line.json";
  if (file_exists(lj)) {
    Profile l = read_profile(lj);
    p.t = l.t;
    p.line_train_loss = l.column("tr_nll");
    p.line_test_err = l.column("te_err");
    p.n_test = l.test_examples();
  }
  const std::string cj = curve_dir.empty() ? "" : curve_dir + "/curve.json";
  if (!cj.empty() && file_exists(cj)) {
    Profile c = read_profile(cj);
    if (p.t.empty()) p.t = c.t;
    p.curve_train_loss = c.column("tr_nll");
    p.curve_test_err = c.column("te_err");
    if (!std::isfinite(p.n_test)) p.n_test = c.test_examples();
  }
  return p;
}

void plane_figures(const StudyContext& sc, const std::string& plane_dir) {
  if (!sc.figures || !file_exists(plane_dir + "/plane.json")) return;
  auto meta = read_json(plane_dir + "/plane.json");
  auto metrics = read_plane_metrics(plane_dir);
  auto to_vec = [](const torch::Tensor& t) {
    auto c = t.to(torch::kFloat64).contiguous();
    return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
  };
  // Axes in weight-space units: x = alpha * dx, y = beta * dy.
  const double dx = meta.value("dx", 1.0), dy = meta.value("dy", 1.0);
  std::vector<double> xs = to_vec(read_npy(plane_dir + "/alphas.npy")), ys = to_vec(read_npy(plane_dir + "/betas.npy"));
  for (auto& v : xs) v *= dx;
  for (auto& v : ys) v *= dy;
  Axis ax{"x", "weight-space distance"}, ay{"y", "weight-space distance"};
  ax.values = xs;
  ay.values = ys;
  Overlays ov;
  auto bends = read_npy(plane_dir + "/bend_coordinates.npy").to(torch::kFloat64);
  PointMarkers bm{"snapshots and bend"};
  const std::vector<std::string> names = {"w_a", "bend", "w_b"};
  for (int i = 0; i < 3; ++i) {
    bm.x.push_back(bends[i][0].item<double>());
    bm.y.push_back(bends[i][1].item<double>());
    bm.labels.push_back(names[i]);
  }
  bm.symbol = "diamond";
  bm.color = "black";
  ov.points.push_back(bm);
  if (file_exists(plane_dir + "/curve_coordinates.npy")) {
    auto cc = read_npy(plane_dir + "/curve_coordinates.npy").to(torch::kFloat64);
    CurveOverlay co{"curve"};
    for (int64_t i = 0; i < cc.size(0); ++i) {
      co.x.push_back(cc[i][0].item<double>());
      co.y.push_back(cc[i][1].item<double>());
    }
    co.color = "white";
    ov.curves.push_back(co);
  }
  if (meta.contains("projections")) {
    PointMarkers it{"SGDR iterates (projected)"};
    it.connect = true;
    it.show_labels = false;
    it.symbol = "circle";
    it.color = "magenta";
    for (const auto& p : meta["projections"]) {
      it.x.push_back(p.value("x", 0.0));
      it.y.push_back(p.value("y", 0.0));
      it.labels.push_back(p.value("name", "") + " (off-plane " + std::to_string(p.value("off_plane", 0.0)) + ")");
    }
    if (!it.x.empty()) ov.points.push_back(it);
  }
  // Matrices: plane arrays are [i = alpha][j = beta]; figures want m[row = y][col = x].
  auto matrix = [&](const std::string& key, double scale) {
    auto t = metrics.at(key).to(torch::kFloat64);
    Matrix m(t.size(1), std::vector<double>(t.size(0)));
    for (int64_t i = 0; i < t.size(0); ++i)
      for (int64_t j = 0; j < t.size(1); ++j) m[j][i] = t[i][j].item<double>() * scale;
    return m;
  };
  write_figure(sc.root, contour_figure({"sgdr-plane-train-loss", "Train loss on the plane through two SGDR snapshots and "
                                        "their curve's bend", "sgdr",
                                        "log-scale train loss (nats) on the plane spanned by the last two SGDR snapshots "
                                        "and the bend of the curve connecting them; markers: the SGDR iterate of every "
                                        "epoch projected onto the plane (hover: distance off the plane).",
                                        20, true, 0, false},
                                       ax, ay, {"train loss", "nats", true}, matrix("tr_nll", 1.0), ov));
  write_figure(sc.root, contour_figure({"sgdr-plane-test-err", "Test error on the same plane", "sgdr",
                                        "Test error (%) on the same plane, with the same markers.", 21, true, 0, false},
                                       ax, ay, {"test error", "%"}, matrix("te_err", 100.0), ov));
}

}  // namespace

std::string add_sgdr_study(Plan& plan, const StudyContext& sc) {
  const ReproduceConfig& cfg = *sc.cfg;
  const SgdrPreset& s = cfg.sgdr;
  const auto ends = cycle_ends(s.t0, s.tmult, s.epochs);
  if (ends.size() < 2)
    throw_bad_input(cfg.source + ": [sgdr] epochs=" + std::to_string(s.epochs) + " with t0=" + std::to_string(s.t0) +
                    ", tmult=" + std::to_string(s.tmult) + " completes fewer than two SGDR cycles");

  const std::string t_sgdr = sc.id("sgdr/train-sgdr"), t_sgd = sc.id("sgdr/train-sgd");
  nlohmann::json sgdr_over = schedule_patch("sgdr", {{"sgdr_t0", s.t0}, {"sgdr_tmult", s.tmult}, {"eta_min", s.eta_min}});
  sgdr_over.update({{"epochs", s.epochs}, {"lr", s.lr}, {"checkpoint_sgdr_cycles", true}, {"checkpoint_every", 1}});
  const nlohmann::json sgdr_tree = cfg.run_tree(sc.seed, sgdr_over);
  plan.add({t_sgdr, "sgdr", "train with SGDR (warm restarts), snapshots at cycle ends", {}, sgdr_tree,
            [sgdr_tree](StepContext& ctx) { run_train_step(ctx, sgdr_tree); }});
  nlohmann::json sgd_over = schedule_patch("multistep", {{"milestones", s.sgd_milestones}, {"gamma", 0.1}});
  sgd_over.update({{"epochs", s.epochs}, {"lr", s.lr}, {"checkpoint_epochs", ends}, {"checkpoint_every", 1}});
  const nlohmann::json sgd_tree = cfg.run_tree(sc.seed, sgd_over);
  plan.add({t_sgd, "sgdr", "train with step-decay SGD, snapshots at the same epochs", {}, sgd_tree,
            [sgd_tree](StepContext& ctx) { run_train_step(ctx, sgd_tree); }});

  const ReproduceConfig* c = &cfg;
  std::vector<std::string> analysis_deps = {t_sgdr, t_sgd};
  struct PairIds {
    std::string name, line, curve, sgd_line;
  };
  std::vector<PairIds> pairs;
  for (size_t k = 0; k + 1 < ends.size(); ++k) {
    const std::string a = "sgdr-cycle-" + std::to_string(k + 1), b = "sgdr-cycle-" + std::to_string(k + 2);
    const std::string name = "w" + std::to_string(ends[k]) + "-w" + std::to_string(ends[k + 1]);
    PairIds ids{name, sc.id("sgdr/line-" + name), sc.id("sgdr/curve-" + name), sc.id("sgdr/sgd-line-" + name)};
    nlohmann::json in = {{"a", a}, {"b", b}, {"eval", cfg.tree["eval"]}};
    plan.add({ids.line, "sgdr", "straight line between SGDR snapshots " + name, {t_sgdr}, in,
              [c, t_sgdr, a, b](StepContext& ctx) {
                run_line_step(ctx, *c, step_checkpoint(ctx.dep(t_sgdr), a), step_checkpoint(ctx.dep(t_sgdr), b));
              }});
    plan.reads(ids.line, t_sgdr, {a, b});
    nlohmann::json cin = {{"a", a}, {"b", b}, {"eval", cfg.tree["eval"]}, {"curve", cfg.tree["curve"]}, {"seed", sc.seed}};
    const uint64_t seed = sc.seed;
    plan.add({ids.curve, "sgdr", "train + evaluate a curve between SGDR snapshots " + name, {t_sgdr}, cin,
              [c, t_sgdr, a, b, seed](StepContext& ctx) {
                run_curve_step(ctx, *c, step_checkpoint(ctx.dep(t_sgdr), a), step_checkpoint(ctx.dep(t_sgdr), b), seed);
              }});
    plan.reads(ids.curve, t_sgdr, {a, b});
    const std::string ea = "epoch-" + std::to_string(ends[k]), eb = "epoch-" + std::to_string(ends[k + 1]);
    nlohmann::json sin = {{"a", ea}, {"b", eb}, {"eval", cfg.tree["eval"]}};
    plan.add({ids.sgd_line, "sgdr", "straight line between SGD snapshots " + name, {t_sgd}, sin,
              [c, t_sgd, ea, eb](StepContext& ctx) {
                run_line_step(ctx, *c, step_checkpoint(ctx.dep(t_sgd), ea), step_checkpoint(ctx.dep(t_sgd), eb));
              }});
    plan.reads(ids.sgd_line, t_sgd, {ea, eb});
    analysis_deps.insert(analysis_deps.end(), {ids.line, ids.curve, ids.sgd_line});
    pairs.push_back(ids);
  }

  // The plane through the last pair and its curve's bend, with every SGDR epoch projected.
  const PairIds last = pairs.back();
  const std::string plane_id = sc.id("sgdr/plane");
  const std::string la = "sgdr-cycle-" + std::to_string(ends.size() - 1), lb = "sgdr-cycle-" + std::to_string(ends.size());
  const int64_t epochs = s.epochs;
  plan.add({plane_id, "sgdr", "plane through the last two SGDR snapshots and their curve's bend",
            {t_sgdr, last.curve}, {{"a", la}, {"b", lb}, {"eval", cfg.tree["eval"]}},
            [c, t_sgdr, last, la, lb, epochs](StepContext& ctx) {
              std::vector<std::pair<std::string, std::string>> extra;
              for (int64_t e = 1; e <= epochs; ++e)
                extra.emplace_back("epoch " + std::to_string(e),
                                   step_checkpoint(ctx.dep(t_sgdr), "epoch-" + std::to_string(e)));
              run_plane_step(ctx, *c, step_checkpoint(ctx.dep(t_sgdr), la), ctx.dep(last.curve) + "/curve",
                             step_checkpoint(ctx.dep(t_sgdr), lb), extra);
            }});
  {
    std::vector<std::string> projected = {la, lb};  // the plane's basis and every projected epoch
    for (int64_t e = 1; e <= epochs; ++e) projected.push_back("epoch-" + std::to_string(e));
    plan.reads(plane_id, t_sgdr, projected);
  }
  analysis_deps.push_back(plane_id);

  // The independent-runs baseline: extra steps (the steps above keep their ids and hashes).
  const std::string t_indep = sc.id("sgdr/train-sgd-indep");
  const nlohmann::json indep_tree = cfg.run_tree(sc.seed + 1, sgd_over);
  plan.add({t_indep, "sgdr", "baseline: step-decay SGD again from another seed (another init and data order)", {},
            indep_tree, [indep_tree](StepContext& ctx) { run_train_step(ctx, indep_tree); }});
  const LinePairSteps indep = add_line_pair_steps(plan, c, "sgdr", "between two independent SGD runs (final weights)",
                                                  sc.id("sgdr/indep-line"), sc.id("sgdr/indep-aligned-line"), t_sgd,
                                                  "final", t_indep, "final");
  analysis_deps.insert(analysis_deps.end(), {t_indep, indep.raw});
  if (!indep.aligned.empty()) analysis_deps.push_back(indep.aligned);

  const std::string analysis = sc.id("sgdr/analysis");
  const StudyContext scc = sc;
  SgdrThresholds th;
  th.min_line_barrier = s.barrier_rel;
  th.max_curve_fraction = s.curve_fraction;
  th.contrast_margin = s.contrast_margin;
  th.contrast_margin_err = s.contrast_margin_err;
  th.overfit_margin = s.overfit_margin;
  th.plane_max_off = s.plane_max_off;
  th.level = cfg.claims.level;
  const nlohmann::json th_json = {{"barrier_rel", th.min_line_barrier},       {"curve_fraction", th.max_curve_fraction},
                                  {"contrast_margin", th.contrast_margin},    {"contrast_margin_err", th.contrast_margin_err},
                                  {"overfit_margin", th.overfit_margin},      {"plane_max_off", th.plane_max_off},
                                  {"level", th.level}};
  const int64_t e_a = ends[ends.size() - 2], e_b = ends.back();
  const std::string align_method = cfg.align.method;
  plan.add({analysis, "sgdr", "SGDR study: figures and claim checks", analysis_deps, th_json,
            [scc, t_sgdr, t_sgd, pairs, plane_id, th, last, e_a, e_b, indep, align_method](StepContext& ctx) {
              std::vector<PairProfile> sgdr, sgd;
              int order = 10;
              for (const auto& p : pairs) {
                sgdr.push_back(pair_profile(p.name, ctx.dep(p.line), ctx.dep(p.curve)));
                sgd.push_back(pair_profile(p.name, ctx.dep(p.sgd_line), ""));
                figure_line_vs_curve(scc, "sgdr", "sgdr-path-" + p.name, "SGDR snapshots " + p.name + ": line vs curve",
                                     ctx.dep(p.line) + "/line.json", ctx.dep(p.curve) + "/curve.json", order++);
                figure_line_vs_curve(scc, "sgdr", "sgd-path-" + p.name, "Step-decay SGD snapshots " + p.name +
                                     ": straight line", ctx.dep(p.sgd_line) + "/line.json", "", order++);
              }
              figure_training_curves(scc, "sgdr", "sgdr-training",
                                     {{"SGDR", step_run_dir(ctx.dep(t_sgdr))}, {"step-decay SGD", step_run_dir(ctx.dep(t_sgd))}},
                                     1);
              plane_figures(scc, ctx.dep(plane_id) + "/plane");
              // Barriers raw vs aligned: the snapshots (one run each: not aligned) and the baseline.
              std::vector<BarrierPair> bp;
              for (const auto& p : pairs) bp.push_back({"SGDR " + p.name, "SGDR snapshots (one run)", ctx.dep(p.line), ""});
              for (const auto& p : pairs)
                bp.push_back({"SGD " + p.name, "step-decay SGD snapshots (one run)", ctx.dep(p.sgd_line), ""});
              bp.push_back({"SGD vs SGD (independent)", "two step-decay SGD runs from different seeds, final weights",
                            ctx.dep(indep.raw), indep.aligned.empty() ? "" : ctx.dep(indep.aligned)});
              write_barrier_table(ctx.dir, scc.root, scc.figures, "sgdr", "sgdr-barriers",
                                  "Line barriers: SGDR snapshots vs independent runs, raw and aligned", 3, align_method, bp);
              const PlaneTrajectory pt =
                  plane_trajectory(last.name, ctx.dep(plane_id) + "/plane", ctx.dep(last.curve), e_a, e_b);
              write_claims_file(ctx.dir, {check_sgdr_line_barrier(sgdr, th), check_sgdr_curve_connects(sgdr, th),
                                          check_sgd_no_barrier(sgd, th), check_sgdr_vs_sgd_barrier(sgdr, sgd, th),
                                          check_sgdr_vs_sgd_barrier_err(sgdr, sgd, th), check_curve_overfits(sgdr, th),
                                          check_plane_trajectory(pt, th)});
            }});
  if (!sc.controls) return analysis;

  // Negative control (reproduce --controls): SGDR with a single cycle, i.e. cosine annealing over
  // the whole run without a restart (T0 = epochs), snapshots at the same epochs as the SGDR cycle
  // ends. Without a restart there is nothing to carry the iterate over a barrier, so its lines
  // must show no barrier and no contrast with step-decay SGD. Extra steps only: the claim's steps
  // above (and their hashes) are the same with and without controls.
  const std::string t_cos = sc.id("sgdr/control-train-cosine");
  nlohmann::json cos_over = schedule_patch("sgdr", {{"sgdr_t0", s.epochs}, {"sgdr_tmult", 1}, {"eta_min", s.eta_min}});
  cos_over.update({{"epochs", s.epochs}, {"lr", s.lr}, {"checkpoint_epochs", ends}, {"checkpoint_every", 1}});
  const nlohmann::json cos_tree = cfg.run_tree(sc.seed, cos_over);
  plan.add({t_cos, "sgdr", "control: cosine annealing without restart (one SGDR cycle), snapshots at the same epochs",
            {}, cos_tree, [cos_tree](StepContext& ctx) { run_train_step(ctx, cos_tree); }});
  std::vector<std::string> control_deps = {analysis, t_cos};
  std::vector<std::pair<std::string, std::string>> cos_lines;  // pair name, step id
  for (size_t k = 0; k + 1 < ends.size(); ++k) {
    const std::string name = pairs[k].name, id = sc.id("sgdr/control-line-" + name);
    const std::string ea = "epoch-" + std::to_string(ends[k]), eb = "epoch-" + std::to_string(ends[k + 1]);
    plan.add({id, "sgdr", "control: straight line between single-cycle cosine snapshots " + name, {t_cos},
              {{"a", ea}, {"b", eb}, {"eval", cfg.tree["eval"]}}, [c, t_cos, ea, eb](StepContext& ctx) {
                run_line_step(ctx, *c, step_checkpoint(ctx.dep(t_cos), ea), step_checkpoint(ctx.dep(t_cos), eb));
              }});
    plan.reads(id, t_cos, {ea, eb});
    control_deps.insert(control_deps.end(), {id, pairs[k].sgd_line});
    cos_lines.emplace_back(name, id);
  }
  // The curve claims' and the SGD claim's controls reuse steps the claims already have.
  for (const auto& p : pairs) control_deps.push_back(p.line);
  control_deps.push_back(indep.raw);
  const std::string controls = sc.id("sgdr/controls");
  plan.add({controls, "sgdr", "SGDR study: the claim checks and their negative controls", control_deps, th_json,
            [analysis, pairs, cos_lines, th, indep](StepContext& ctx) {
              std::vector<PairProfile> cosine, sgd;
              for (const auto& [name, id] : cos_lines) cosine.push_back(pair_profile(name, ctx.dep(id), ""));
              for (const auto& p : pairs) sgd.push_back(pair_profile(p.name, ctx.dep(p.sgd_line), ""));
              const std::string arm = "cosine annealing without restart in place of SGDR";
              std::vector<ClaimCheck> all = read_claims_file(ctx.dep(analysis));
              all.push_back(as_control(check_sgdr_line_barrier(cosine, th), arm));
              all.push_back(as_control(check_sgdr_vs_sgd_barrier(cosine, sgd, th), arm));
              all.push_back(as_control(check_sgdr_vs_sgd_barrier_err(cosine, sgd, th), arm));
              // The curve claims: the straight line between the same SGDR snapshots in place of the
              // trained curve. A "curve" that is the line itself removes no barrier (fraction 1 >
              // max_curve_fraction) and has no interior point below its endpoints unless the line
              // has none either, so neither claim may hold on it.
              std::vector<PairProfile> line_as_curve;
              for (const auto& p : pairs) line_as_curve.push_back(line_in_place_of_curve(pair_profile(p.name, ctx.dep(p.line), "")));
              const std::string line_arm = "the straight line between the SGDR snapshots in place of the curve";
              all.push_back(as_control(check_sgdr_curve_connects(line_as_curve, th), line_arm));
              all.push_back(as_control(check_curve_overfits(line_as_curve, th), line_arm));
              // sgdr.sgd_no_barrier: the line between two independently trained SGD runs (the
              // baseline pair), which has a barrier, in place of the consecutive SGD snapshots.
              all.push_back(as_control(check_sgd_no_barrier({pair_profile("indep", ctx.dep(indep.raw), "")}, th),
                                       "the line between two independent SGD runs in place of consecutive snapshots"));
              write_claims_file(ctx.dir, all);
            }});
  return controls;
}

}  // namespace closerlook
