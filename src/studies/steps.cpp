#include "studies/steps.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <mutex>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_io.h"
#include "data/load.h"
#include "report/figure_spec.h"
#include "similarity/jobs.h"
#include "studies/claims_sgdr.h"
#include "surface/aligned_endpoints.h"
#include "surface/jobs.h"
#include "train/run_dir.h"
#include "train/run_status.h"
#include "train/run_training.h"
#include "train/schedule.h"
#include "train/train_config.h"

namespace fs = std::filesystem;

namespace closerlook {

const DataSplit& cached_data(const DataSpec& spec) {
  static std::map<std::string, DataSplit> cache;
  static std::mutex mu;
  const std::string key = nlohmann::json{{"dataset", spec.dataset},     {"dir", spec.dir},
                                         {"train", spec.train_subset},  {"test", spec.test_subset},
                                         {"pad", spec.pad_to},          {"syn", spec.synthetic_train},
                                         {"synt", spec.synthetic_test}, {"sync", spec.synthetic_channels},
                                         {"syns", spec.synthetic_size}, {"synk", spec.synthetic_classes},
                                         {"synseed", spec.synthetic_seed}}
                              .dump();
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, load_data(spec)).first;
  return it->second;
}

std::string step_run_dir(const std::string& step_dir) { return (fs::path(step_dir) / "run").string(); }
std::string step_checkpoint(const std::string& step_dir, const std::string& tag) {
  return checkpoint_path(step_run_dir(step_dir), tag);
}

nlohmann::json read_step_result(const std::string& step_dir) {
  const std::string p = (fs::path(step_dir) / "result.json").string();
  if (!file_exists(p)) return {{"status", "missing"}};
  return read_json(p);
}

namespace {

void write_result(const StepContext& ctx, nlohmann::json r) { write_json(ctx.dir + "/result.json", r); }

// Returns false (and records the step as skipped) when an input checkpoint is missing.
bool require_inputs(const StepContext& ctx, const std::vector<std::string>& paths) {
  for (const auto& p : paths) {
    if (!file_exists(p)) {
      write_result(ctx, {{"status", "skipped"}, {"reason", "input checkpoint missing (diverged run?): " + p}});
      std::fprintf(stderr, "  skipped: %s is missing\n", p.c_str());
      return false;
    }
  }
  return true;
}

// What every surface job of a study shares: the preset's evaluation settings, and the curve's
// weight decay in *_loss (lines, curves and planes are compared on one objective).
SurfaceCommon surface_common(const StepContext& ctx, const ReproduceConfig& cfg, bool quiet) {
  SurfaceCommon c;
  c.eval = cfg.eval.settings;
  c.weight_decay = cfg.curve.weight_decay;
  c.device = ctx.device;
  c.quiet = quiet;
  return c;
}

}  // namespace

std::vector<std::string> written_checkpoint_tags(const TrainSpec& t) {
  std::vector<std::string> tags = {"init"};
  for (int64_t i : t.checkpoint_iters) tags.push_back("iter-" + std::to_string(i));
  std::vector<int64_t> cycles;
  if (t.checkpoint_sgdr_cycles && t.schedule == "sgdr") cycles = sgdr_cycle_end_epochs(t.sgdr_t0, t.sgdr_tmult, t.epochs);
  for (int64_t e = 1; e <= t.epochs; ++e) {
    if (std::count(t.checkpoint_epochs.begin(), t.checkpoint_epochs.end(), e) ||
        (t.checkpoint_every > 0 && e % t.checkpoint_every == 0))
      tags.push_back("epoch-" + std::to_string(e));
    auto it = std::find(cycles.begin(), cycles.end(), e);
    if (it != cycles.end()) tags.push_back("sgdr-cycle-" + std::to_string(it - cycles.begin() + 1));
  }
  tags.push_back("final");
  std::sort(tags.begin(), tags.end());
  tags.erase(std::unique(tags.begin(), tags.end()), tags.end());
  return tags;
}

void apply_keep(TrainSpec& t, const std::set<std::string>& keep) {
  auto kept = [&](const std::string& tag) { return keep.count(tag) > 0; };
  std::vector<int64_t> epochs, iters;
  for (int64_t e = 1; e <= t.epochs; ++e)
    if ((std::count(t.checkpoint_epochs.begin(), t.checkpoint_epochs.end(), e) ||
         (t.checkpoint_every > 0 && e % t.checkpoint_every == 0)) &&
        kept("epoch-" + std::to_string(e)))
      epochs.push_back(e);
  for (int64_t i : t.checkpoint_iters)
    if (kept("iter-" + std::to_string(i))) iters.push_back(i);
  t.checkpoint_epochs = epochs;
  t.checkpoint_every = 0;
  t.checkpoint_iters = iters;
  bool cycles = false;
  for (const auto& tag : keep) cycles |= tag.rfind("sgdr-cycle-", 0) == 0;
  t.checkpoint_sgdr_cycles = t.checkpoint_sgdr_cycles && cycles;
}

void run_train_step(StepContext& ctx, const nlohmann::json& tree) {
  TrainConfig cfg = read_train_config(tree, ctx.step->id);
  // The keep policy (pipeline.h): of the checkpoints the config asks for, write only those a
  // later step reads (and "final"). The tree, and so the run's config hash, is unchanged.
  if (ctx.keep) apply_keep(cfg.train, *ctx.keep);
  RunOptions opts;
  opts.device = ctx.device;
  opts.tag_states = ctx.keep == nullptr;
  TrainSummary s = run_training(cfg, step_run_dir(ctx.dir), opts);
  nlohmann::json r = s.to_json();
  r["status"] = s.status;
  write_result(ctx, r);
  const RunStatus status = s.status;
  if (status == RunStatus::Interrupted) throw Error(ExitCode::Interrupted, "interrupted during " + ctx.step->id);
  if (status == RunStatus::Diverged)
    std::fprintf(stderr, "  %s diverged at iteration %lld; recorded, continuing with the other steps\n",
                 ctx.step->id.c_str(), static_cast<long long>(s.diverged_iter));
}

// The surface and similarity steps are the CLI's jobs (surface/jobs.h, similarity/jobs.h) with
// the preset's settings, so a step folder holds what `closerlook interpolate/connect/curve-eval/
// plane/activations` writes for the same inputs (tests/studies/step_cli_equality_test.cpp).

void run_line_step(StepContext& ctx, const ReproduceConfig& cfg, const std::string& ckpt_a, const std::string& ckpt_b) {
  if (!require_inputs(ctx, {ckpt_a, ckpt_b})) return;
  InterpolateJob job;  // closerlook interpolate A B --out <dir> --points P --wd <curve wd>
  job.checkpoints = {ckpt_a, ckpt_b};
  job.out_dir = ctx.dir;
  job.path.points = cfg.eval.points;
  job.common = surface_common(ctx, cfg, true);
  Profile p = run_interpolation(job);
  write_result(ctx, {{"status", "ok"}, {"summary", p.summary()}});
}

void run_aligned_line_step(StepContext& ctx, const ReproduceConfig& cfg, const std::string& ckpt_a,
                           const std::string& ckpt_b) {
  if (!require_inputs(ctx, {ckpt_a, ckpt_b})) return;
  InterpolateJob job;  // closerlook interpolate A B --out <dir> --points P --wd <curve wd> --align M --align-seed S
  job.checkpoints = {ckpt_a, ckpt_b};
  job.out_dir = ctx.dir;
  job.path.points = cfg.eval.points;
  job.common = surface_common(ctx, cfg, true);
  EndpointAlignment a;
  a.method = cfg.align.method;
  a.options.seed = cfg.align.seed;
  a.options.max_iterations = cfg.align.max_iterations;
  a.options.samples = cfg.align.samples;
  Profile p = run_aligned_interpolation(job, a);
  nlohmann::json al = nlohmann::json::object();
  if (p.settings.contains("align") && !p.settings["align"]["aligned"].empty()) {
    const auto& r = p.settings["align"]["aligned"][0];
    al = {{"method", r.value("method", a.method)},
          {"iterations", r.value("iterations", 0)},
          {"distance_before", r.value("distance_before", NAN)},
          {"distance_after", r.value("distance_after", NAN)},
          {"seconds", r.value("seconds", NAN)}};
  }
  write_result(ctx, {{"status", "ok"}, {"summary", p.summary()}, {"align", al}});
}

nlohmann::json aligned_line_inputs(const ReproduceConfig& cfg) {
  nlohmann::json al = {{"method", cfg.align.method}, {"seed", cfg.align.seed}, {"max_iterations", cfg.align.max_iterations}};
  if (cfg.align.method == "activations") al["samples"] = cfg.align.samples;
  return {{"eval", cfg.tree["eval"]}, {"align", al}};
}

LinePairSteps add_line_pair_steps(Plan& plan, const ReproduceConfig* cfg, const std::string& study,
                                  const std::string& what, const std::string& raw_id, const std::string& aligned_id,
                                  const std::string& run_a, const std::string& tag_a, const std::string& run_b,
                                  const std::string& tag_b) {
  LinePairSteps ids{raw_id, ""};
  std::vector<std::string> deps = {run_a};
  if (run_b != run_a) deps.push_back(run_b);
  const nlohmann::json ends = {{"a", tag_a}, {"b", tag_b}};
  if (!raw_id.empty()) {
    nlohmann::json in = {{"eval", cfg->tree["eval"]}};
    in.update(ends);
    plan.add({raw_id, study, "straight line " + what, deps, in, [cfg, run_a, tag_a, run_b, tag_b](StepContext& ctx) {
                run_line_step(ctx, *cfg, step_checkpoint(ctx.dep(run_a), tag_a), step_checkpoint(ctx.dep(run_b), tag_b));
              }});
    plan.reads(raw_id, run_a, {tag_a});
    plan.reads(raw_id, run_b, {tag_b});
  }
  if (cfg->align.method != "none") {
    ids.aligned = aligned_id;
    nlohmann::json in = aligned_line_inputs(*cfg);
    in.update(ends);
    plan.add({aligned_id, study, "straight line " + what + ", the second aligned to the first (" + cfg->align.method + ")",
              deps, in, [cfg, run_a, tag_a, run_b, tag_b](StepContext& ctx) {
                run_aligned_line_step(ctx, *cfg, step_checkpoint(ctx.dep(run_a), tag_a),
                                      step_checkpoint(ctx.dep(run_b), tag_b));
              }});
    plan.reads(aligned_id, run_a, {tag_a});
    plan.reads(aligned_id, run_b, {tag_b});
  }
  return ids;
}

nlohmann::json line_barriers(const std::string& line_dir) {
  const std::string lj = line_dir + "/line.json";
  if (line_dir.empty() || !file_exists(lj)) return nullptr;
  const Profile p = read_profile(lj);
  const std::vector<double> te = p.column("te_err"), tr = p.column("tr_nll");
  const ErrBarrier eb = test_err_barrier(p.t, te, p.test_examples());
  auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); };
  nlohmann::json b = {{"test_err_points", num(100.0 * eb.barrier)},
                      {"test_err_se_points", num(100.0 * eb.se)},
                      {"train_loss", num(p.t.size() >= 2 ? barrier_height(p.t, tr) : NAN)},
                      {"train_loss_rel", num(relative_barrier(p.t, tr))}};
  const auto r = read_step_result(line_dir);
  if (r.contains("align") && r["align"].is_object() && r["align"].contains("distance_before")) {
    b["distance_before"] = r["align"]["distance_before"];
    b["distance_after"] = r["align"]["distance_after"];
  }
  return b;
}

nlohmann::json write_barrier_table(const std::string& analysis_dir, const std::string& root, bool figures,
                                   const std::string& study, const std::string& figure_id, const std::string& title,
                                   int order, const std::string& align_method, const std::vector<BarrierPair>& pairs) {
  nlohmann::json out = {{"align", align_method}, {"pairs", nlohmann::json::array()}};
  std::vector<std::vector<nlohmann::json>> rows;
  // A cell: the number; "not aligned" for a pair that is not (one run; [align] method = none);
  // null when the step wrote no line (skipped: a diverged run).
  auto cell = [](const nlohmann::json& b, const char* k, bool applies) {
    if (!applies) return nlohmann::json("not aligned");
    return b.is_object() && b.contains(k) ? b[k] : nlohmann::json();
  };
  for (const auto& q : pairs) {
    const nlohmann::json raw = line_barriers(q.raw_dir), al = line_barriers(q.aligned_dir);
    const bool a = !q.aligned_dir.empty();
    out["pairs"].push_back({{"pair", q.pair}, {"what", q.what}, {"raw", raw}, {"aligned", al}});
    rows.push_back({q.pair, q.what, cell(raw, "test_err_points", true), cell(raw, "test_err_se_points", true),
                    cell(raw, "train_loss", true), cell(al, "test_err_points", a), cell(al, "test_err_se_points", a),
                    cell(al, "train_loss", a), cell(al, "distance_before", a), cell(al, "distance_after", a)});
  }
  write_json(analysis_dir + "/barriers.json", out);
  if (figures && !rows.empty())
    write_figure(root, table_figure({figure_id, title, study,
                                     "Barriers of the straight line between each pair of networks (surface/profile.h "
                                     "barrier_height: the largest rise above the chord of the endpoint values), raw and "
                                     "with the second network's hidden units first permuted to match the first ([align] "
                                     "method = " + align_method + "; a permutation leaves the function unchanged). "
                                     "Test error in points with its binomial se, train loss (nll) in nats; the weight "
                                     "distance between the endpoints before and after alignment. \"not aligned\": two "
                                     "snapshots of one run (or [align] method = none); empty: the step wrote no line.",
                                     order},
                                    {"pair", "networks", "raw: test err barrier (points)", "raw: se (points)",
                                     "raw: train loss barrier (nats)", "aligned: test err barrier (points)",
                                     "aligned: se (points)", "aligned: train loss barrier (nats)", "distance before",
                                     "distance after"},
                                    rows));
  return out;
}

void run_curve_step(StepContext& ctx, const ReproduceConfig& cfg, const std::string& ckpt_a,
                    const std::string& ckpt_b, uint64_t seed) {
  if (!require_inputs(ctx, {ckpt_a, ckpt_b})) return;
  ConnectJob connect;  // closerlook connect A B --out <dir>/curve --curve T --bends K ... --seed S
  connect.start = ckpt_a;
  connect.end = ckpt_b;
  connect.out_dir = ctx.dir + "/curve";
  connect.curve = cfg.curve;
  connect.curve.seed = seed;
  connect.device = ctx.device;
  CurveTrainSummary cs = run_connect(connect);
  const RunStatus status = cs.status;
  if (status == RunStatus::Interrupted) throw Error(ExitCode::Interrupted, "interrupted during " + ctx.step->id);
  if (status == RunStatus::Diverged) {
    write_result(ctx, {{"status", "skipped"}, {"reason", "curve training diverged"}, {"curve", cs.to_json()}});
    return;
  }
  CurveEvalJob eval;  // closerlook curve-eval <dir>/curve --out <dir> --no-line --points P --wd <curve wd>
  eval.curve_dir = connect.out_dir;
  eval.out_dir = ctx.dir;
  eval.path.points = cfg.eval.points;
  eval.with_line = false;  // the study's line steps evaluate the line between the same checkpoints
  eval.common = surface_common(ctx, cfg, true);
  CurveEvalResult r = run_curve_eval(eval);
  write_result(ctx, {{"status", "ok"}, {"summary", r.curve.summary()}, {"curve_training", cs.to_json()}});
}

void run_plane_step(StepContext& ctx, const ReproduceConfig& cfg, const std::string& ckpt_w0,
                    const std::string& curve_dir, const std::string& ckpt_w2,
                    const std::vector<std::pair<std::string, std::string>>& extra) {
  if (!require_inputs(ctx, {ckpt_w0, ckpt_w2, curve_dir + "/bends.npy"})) return;
  // The plane through the curve's endpoints and its middle bend: the endpoints must be w0 and w2.
  const nlohmann::json curve_cfg = read_run_config(curve_dir).value("config", nlohmann::json::object());
  auto same = [](const nlohmann::json& recorded, const std::string& path) {
    return recorded.is_string() &&
           fs::path(recorded.get<std::string>()).lexically_normal() == fs::absolute(path).lexically_normal();
  };
  CL_CHECK_INPUT(same(curve_cfg.value("start", nlohmann::json()), ckpt_w0) &&
                     same(curve_cfg.value("end", nlohmann::json()), ckpt_w2),
                 curve_dir + ": the curve does not connect " + ckpt_w0 + " and " + ckpt_w2);
  PlaneJob job;  // closerlook plane --curve <curve> --project E --project-name N ... --out <dir>/plane --grid G --margin M
  job.curve_dir = curve_dir;
  for (const auto& [name, path] : extra)
    if (file_exists(path)) {
      job.project.push_back(path);
      job.project_names.push_back(name);
    }
  job.out_dir = ctx.dir + "/plane";
  job.plane.grid = cfg.eval.plane_grid;
  job.plane.margin = cfg.eval.plane_margin;
  job.plane.curve_points = cfg.eval.points;
  job.common = surface_common(ctx, cfg, false);
  if (cfg.eval.plane_train_rel_se > 0) {  // the fast method; 0 leaves the settings (and hashes) as they were
    job.common.eval.train_controls = true;
    job.common.eval.train_rel_se = cfg.eval.plane_train_rel_se;
  }
  PlaneResult pr = run_plane(job);
  write_result(ctx, {{"status", pr.complete ? "ok" : "skipped"}, {"cells", pr.cells_evaluated}});
}

void run_activations_step(StepContext& ctx, const ReproduceConfig& cfg,
                          const std::vector<std::pair<std::string, std::string>>& checkpoints) {
  nlohmann::json captured = nlohmann::json::array();
  for (const auto& [name, path] : checkpoints) {
    if (!file_exists(path)) continue;
    ActivationsJob job;  // closerlook activations CKPT --out <dir>/<name> --n N --conv-mode M
    job.checkpoint = path;
    job.out_dir = ctx.dir + "/" + name;
    job.source.capture.examples = cfg.similarity.examples;
    job.source.capture.conv_mode = parse_conv_mode(cfg.similarity.conv_mode);
    job.source.capture.device = ctx.device;
    if (!is_activation_dir(job.out_dir)) run_activations(job);
    captured.push_back(name);
  }
  write_result(ctx, {{"status", captured.empty() ? "skipped" : "ok"}, {"captured", captured}});
}

}  // namespace closerlook
