// Loss-surface commands: `interpolate`, `connect`, `curve-eval`, `plane`, `plane-merge`
// (docs/surface.md). Each prints a JSON summary on stdout; files go to --out.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>

#include "cli/commands.h"
#include "core/error.h"
#include "core/json_io.h"
#include "dist/data_parallel.h"
#include "report/figure_spec.h"
#include "surface/aligned_endpoints.h"
#include "surface/jobs.h"
#include "train/run_status.h"

namespace closerlook {
namespace {

// Options every evaluating command shares.
struct EvalArgs {
  CommonOptions common;
  int64_t bn_samples = 0, train_samples = 0, test_samples = 0;
  int64_t batch = EvalSettings{}.batch_size, bn_batch = EvalSettings{}.bn_batch_size;
  std::optional<double> wd;
  uint64_t subset_seed = 0;
  std::string precision = EvalSettings{}.precision;
  std::vector<std::string> sets;
};

void add_eval_options(CLI::App* cmd, EvalArgs& a) {
  add_common_options(cmd, a.common);
  cmd->add_option("--bn-samples", a.bn_samples,
                  "Training examples for BN recalibration at each point (0 = all; else a fixed seeded subset)")
      ->capture_default_str();
  cmd->add_option("--train-samples", a.train_samples,
                  "Training examples for train loss/error (0 = all, -1 = skip)")
      ->capture_default_str();
  cmd->add_option("--test-samples", a.test_samples, "Test examples (0 = all, -1 = skip)")->capture_default_str();
  cmd->add_option("--batch", a.batch, "Evaluation batch size")->capture_default_str();
  cmd->add_option("--bn-batch", a.bn_batch, "BN recalibration batch size")->capture_default_str();
  cmd->add_option("--wd", a.wd,
                  "Weight decay in *_loss = nll + wd/2 ||w||^2 (default: the run's [train].weight_decay, "
                  "or the curve's)");
  cmd->add_option("--subset-seed", a.subset_seed, "Seed of the subsets' permutation")->capture_default_str();
  cmd->add_option("--precision", a.precision, "float32 or bf16 (the loss passes under autocast; BN statistics in float32)")
      ->check(CLI::IsMember({"float32", "bf16"}))
      ->capture_default_str();
  cmd->add_option("--set", a.sets, "Override a data key of the source run: --set data.train_subset=10000");
}

SurfaceCommon to_common(const EvalArgs& a) {
  SurfaceCommon c;
  c.device = apply_common_options(a.common);
  c.quiet = a.common.quiet;
  c.eval.bn_samples = a.bn_samples;
  c.eval.train_samples = a.train_samples;
  c.eval.test_samples = a.test_samples;
  c.eval.batch_size = a.batch;
  c.eval.bn_batch_size = a.bn_batch;
  if (a.wd && *a.wd >= 0) c.weight_decay = a.wd;  // a negative --wd means "not given", as it always has
  c.eval.subset_seed = a.subset_seed;
  c.eval.precision = a.precision;
  c.data_overrides = a.sets;
  return c;
}

// plane's --train-controls / --train-rel-se / --train-chunk, checked here so that the errors name the flags.
EvalSettings with_fast_train(EvalSettings e, bool controls, double rel_se, int64_t chunk) {
  CL_CHECK_INPUT(std::isfinite(rel_se) && rel_se >= 0 && rel_se < 1,
                 "--train-rel-se must be in [0, 1) (a relative standard error), got " + std::to_string(rel_se));
  CL_CHECK_INPUT(chunk >= 1, "--train-chunk must be >= 1, got " + std::to_string(chunk));
  CL_CHECK_INPUT(!(controls || rel_se > 0) || e.train_samples > 0,
                 std::string(controls ? "--train-controls" : "--train-rel-se") +
                     " needs --train-samples N > 0 (the seeded subset it reads, at most N examples), got " +
                     std::to_string(e.train_samples));
  e.train_controls = controls;
  e.train_rel_se = rel_se;
  e.train_chunk = chunk;
  return e;
}

std::pair<int, int> parse_shard(const std::string& s) {
  const auto slash = s.find('/');
  try {
    if (slash != std::string::npos) {
      const int i = std::stoi(s.substr(0, slash)), n = std::stoi(s.substr(slash + 1));
      if (n >= 1 && i >= 0 && i < n) return {i, n};
    }
  } catch (const std::exception&) {
  }
  throw_bad_input("--shard '" + s + "': expected i/n with 0 <= i < n, e.g. 0/4");
}

// --align none|weights|activations (surface/aligned_endpoints.h): the later checkpoints are
// permuted to match the first before the path is built.
struct AlignArg {
  std::string method = "none";
  uint64_t seed = 0;
};

void add_align_option(CLI::App* cmd, AlignArg& a, const std::string& what) {
  cmd->add_option("--align", a.method, "none | weights | activations: permute " + what +
                                           " to match the first checkpoint first (written under the output)")
      ->capture_default_str();
  cmd->add_option("--align-seed", a.seed, "--align: seed (weights: group order; activations: image subset)")
      ->capture_default_str();
}

EndpointAlignment to_alignment(const AlignArg& a, const std::vector<std::string>& data_overrides) {
  EndpointAlignment e;
  e.method = parse_align_method(a.method);
  e.options.seed = a.seed;
  e.data_overrides = data_overrides;
  return e;
}

struct InterpolateArgs {
  EvalArgs eval;
  InterpolateJob job;
  AlignArg align;
};

struct ConnectArgs {
  CommonOptions common;
  ConnectJob job;
  AlignArg align;
  std::string type = "bezier";
  bool free_start = false, free_end = false;
};

struct CurveEvalArgs {
  EvalArgs eval;
  CurveEvalJob job;
  bool no_line = false;
};

struct PlaneArgs {
  EvalArgs eval;
  bool train_controls = false;
  double train_rel_se = 0;
  int64_t train_chunk = EvalSettings{}.train_chunk;
  PlaneJob job;
  AlignArg align;
  std::string shard = "0/1";
  std::string norm = "filter", ignore = "biasbn";
};

// The contour figures of a random or PCA plane, standalone: <plane>/figures/plane-<kind>-*.json
// (+ .csv), in the report's figure format (report/figure_spec.h; `closerlook report <plane>`).
void write_direction_plane_figures(const std::string& dir) {
  const auto meta = read_json(dir + "/plane.json");
  const std::string kind = meta.value("kind", std::string("plane"));
  const auto metrics = read_plane_metrics(dir);
  const double dx = meta.value("dx", 1.0), dy = meta.value("dy", 1.0);
  const bool pca = kind == "pca";
  const std::string unit = pca ? "weight-space distance" : "coefficient of the direction";
  Axis ax{pca ? "pc1" : "d1", unit}, ay{pca ? "pc2" : "d2", unit};
  for (double a : meta.at("alphas").get<std::vector<double>>()) ax.values.push_back(a * dx);
  for (double b : meta.at("betas").get<std::vector<double>>()) ay.values.push_back(b * dy);
  Overlays ov;
  PointMarkers am{pca ? "final weights" : "centre"};
  for (const auto& a : meta.value("anchors", nlohmann::json::array())) {
    am.x.push_back(a.value("x", 0.0));
    am.y.push_back(a.value("y", 0.0));
    am.labels.push_back(a.value("name", ""));
  }
  am.symbol = "diamond";
  am.color = "black";
  if (!am.x.empty()) ov.points.push_back(am);
  PointMarkers it{pca ? "iterates (projected)" : "projected checkpoints"};
  it.connect = pca;
  it.show_labels = false;
  it.color = "magenta";
  for (const auto& q : meta.value("projections", nlohmann::json::array())) {
    it.x.push_back(q.value("x", 0.0));
    it.y.push_back(q.value("y", 0.0));
    it.labels.push_back(q.value("name", "") + " (off-plane " + std::to_string(q.value("off_plane", 0.0)) + ")");
  }
  if (!it.x.empty()) ov.points.push_back(it);
  auto matrix = [&](const std::string& key, double scale) {  // [i = alpha][j = beta] -> m[row = y][col = x]
    auto t = metrics.at(key).to(torch::kFloat64);
    Matrix m(t.size(1), std::vector<double>(t.size(0)));
    for (int64_t i = 0; i < t.size(0); ++i)
      for (int64_t j = 0; j < t.size(1); ++j) m[j][i] = t[i][j].item<double>() * scale;
    return m;
  };
  std::string what;
  if (pca) {
    const auto& d = meta.at("directions");
    const auto r = d.value("explained_variance_ratio", std::vector<double>{0, 0});
    what = "the plane of the first two principal components of the trajectory (explained variance " +
           std::to_string(r[0]) + ", " + std::to_string(r[1]) + "), origin at the final weights; markers: every "
           "epoch projected (hover: distance off the plane)";
  } else {
    what = "the plane around the centre along two filter-normalised random directions (seed " +
           meta.at("directions").value("seed", nlohmann::json()).dump() + "); BN recomputed at every point";
  }
  write_figure(dir, contour_figure({"plane-" + kind + "-train-loss", "Train loss on the " + kind + " plane", "surface",
                                    "log-scale train loss (nats) on " + what + ".", 1, true, 0, pca},
                                   ax, ay, {"train loss", "nats", true}, matrix("tr_nll", 1.0), ov));
  write_figure(dir, contour_figure({"plane-" + kind + "-test-err", "Test error on the " + kind + " plane", "surface",
                                    "Test error (%) on " + what + ".", 2, true, 0, pca},
                                   ax, ay, {"test error", "%"}, matrix("te_err", 100.0), ov));
}

struct MergeArgs {
  std::vector<std::string> dirs;
  std::string out;
};

const CommandRegistrar reg(40, [](CLI::App& app) {
  {
    auto a = std::make_shared<InterpolateArgs>();
    auto* cmd = app.add_subcommand(
        "interpolate", "Loss/error along the straight line between checkpoints (or through a sequence), BN recalibrated");
    cmd->add_option("checkpoints", a->job.checkpoints, "Two or more <run>/checkpoints/<tag>.pt")->required();
    cmd->add_option("--out", a->job.out_dir, "Output folder")->required();
    cmd->add_option("--points", a->job.path.points, "Points per segment (ends included)")->capture_default_str();
    cmd->add_option("--t-min", a->job.path.t_min, "Start of the range (< 0 extends beyond the first checkpoint)")
        ->capture_default_str();
    cmd->add_option("--t-max", a->job.path.t_max,
                    "End of the range (default: the last checkpoint; > 1 extends a line beyond it)");
    add_eval_options(cmd, a->eval);
    add_align_option(cmd, a->align, "every later checkpoint");
    cmd->callback([a] {
      a->job.common = to_common(a->eval);
      Profile p = run_aligned_interpolation(a->job, to_alignment(a->align, a->eval.sets));
      std::cout << nlohmann::json({{"out", a->job.out_dir}, {"kind", p.kind}, {"length", p.length()},
                                   {"summary", p.summary()}})
                       .dump(2)
                << std::endl;
    });
  }
  {
    auto a = std::make_shared<ConnectArgs>();
    auto* cmd = app.add_subcommand("connect", "Train a Bezier/PolyChain curve between two checkpoints (Garipov et al.)");
    cmd->add_option("start", a->job.start, "Start checkpoint")->required();
    cmd->add_option("end", a->job.end, "End checkpoint")->required();
    cmd->add_option("--out", a->job.out_dir, "Curve folder (resumed if it holds this curve)")->required();
    cmd->add_option("--curve", a->type, "bezier | polychain")->capture_default_str();
    cmd->add_option("--bends", a->job.curve.bends, "Number of bends incl. the endpoints (>= 3)")->capture_default_str();
    cmd->add_option("--epochs", a->job.curve.epochs, "Epochs")->capture_default_str();
    cmd->add_option("--lr", a->job.curve.lr, "Base learning rate (Garipov schedule)")->capture_default_str();
    cmd->add_option("--momentum", a->job.curve.momentum, "SGD momentum")->capture_default_str();
    cmd->add_option("--wd", a->job.curve.weight_decay, "Weight decay on w(t)")->capture_default_str();
    cmd->add_option("--batch", a->job.curve.batch_size, "Batch size")->capture_default_str();
    cmd->add_option("--seed", a->job.curve.seed, "Seed (batches, t, dropout)")->capture_default_str();
    cmd->add_option("--save-every", a->job.curve.save_every, "Keep checkpoints/epoch-<E>.bends.npy every k epochs");
    cmd->add_option("--stop-after", a->job.curve.stop_after, "End this session after epoch E (resume later)");
    cmd->add_flag("--free-start", a->free_start, "Let the start bend move");
    cmd->add_flag("--free-end", a->free_end, "Let the end bend move");
    cmd->add_option("--set", a->job.data_overrides, "Override a data key of the start run: --set data.augment=false");
    add_align_option(cmd, a->align, "the end checkpoint");
    add_common_options(cmd, a->common);
    cmd->callback([a] {
      a->job.device = apply_common_options(a->common);
      a->job.quiet = a->common.quiet;
      a->job.curve.type = parse_curve_type(a->type);
      CL_CHECK_INPUT(a->job.curve.bends >= 3, "--bends must be >= 3, got " + std::to_string(a->job.curve.bends));
      a->job.curve.fix_start = !a->free_start;
      a->job.curve.fix_end = !a->free_end;
      // WORLD_SIZE > 1 from torchrun/srun: data parallel as `closerlook train`; rank 0 reports and writes.
      auto dp = data_parallel_from_env();
      if (dp) {
        a->job.data_parallel = dp->driver.get();
        if (!a->job.quiet && dp->comm->is_root())
          std::fprintf(stderr, "data parallel: %s\n", dp->comm->describe().c_str());
        a->job.quiet = a->job.quiet || !dp->comm->is_root();
      }
      auto s = run_aligned_connect(a->job, to_alignment(a->align, a->job.data_overrides));
      if (!dp || dp->comm->is_root()) {
        auto j = s.to_json();
        j["out"] = a->job.out_dir;
        j["already_done"] = s.already_done;
        std::cout << j.dump(2) << std::endl;
      }
      if (s.status == RunStatus::Diverged) throw Error(ExitCode::Diverged, a->job.out_dir + ": curve training diverged");
    });
  }
  {
    auto a = std::make_shared<CurveEvalArgs>();
    auto* cmd = app.add_subcommand("curve-eval", "Loss/error along a trained curve and the straight line, BN recalibrated");
    cmd->add_option("curve_dir", a->job.curve_dir, "Curve folder written by `connect`")->required();
    cmd->add_option("--out", a->job.out_dir, "Output folder (default: <curve>/eval)");
    cmd->add_option("--points", a->job.path.points, "Points along t in [0, 1]")->capture_default_str();
    cmd->add_flag("--no-line", a->no_line, "Skip the straight line between the endpoints");
    add_eval_options(cmd, a->eval);
    cmd->callback([a] {
      a->job.common = to_common(a->eval);
      a->job.with_line = !a->no_line;
      auto r = run_curve_eval(a->job);
      auto s = r.summary;
      s.erase("settings");
      std::cout << s.dump(2) << std::endl;
    });
  }
  {
    auto a = std::make_shared<PlaneArgs>();
    auto* cmd = app.add_subcommand("plane",
                                   "Loss/error over a plane (grid, shards): through three weight vectors, or around one "
                                   "along random directions, or a trajectory's two principal components");
    cmd->add_option("checkpoints", a->job.checkpoints, "W0 W1 W2 checkpoints (or use --curve, --around, --trajectory)");
    cmd->add_option("--directions", a->job.directions,
                    "random (with --around CKPT) | pca (with --trajectory RUN_DIR); not given: the three-point plane");
    cmd->add_option("--around", a->job.around, "--directions random: the centre checkpoint");
    cmd->add_option("--trajectory", a->job.trajectory,
                    "--directions pca: a run folder (checkpoints/epoch-<E>.pt; origin: final.pt, else the last epoch)");
    cmd->add_option("--seed", a->job.random.seed, "--directions random: the directions' seed")->capture_default_str();
    cmd->add_option("--span", a->job.span, "--directions random: alpha, beta in [-span, span]")->capture_default_str();
    cmd->add_option("--norm", a->norm, "--directions random: filter | layer | none")->capture_default_str();
    cmd->add_option("--ignore", a->ignore,
                    "--directions random: 1-D parameters (biases, BN) get a zero direction (biasbn) or a copy of the "
                    "weight (none, loss-landscape without --xignore)")
        ->capture_default_str();
    cmd->add_option("--pca-block", a->job.pca.block,
                    "--directions pca: checkpoints held at once while building the Gram matrix")
        ->capture_default_str();
    cmd->add_option("--curve", a->job.curve_dir, "Curve folder: the plane through bend 0, a middle bend, the last bend");
    cmd->add_option("--bend", a->job.bend, "With --curve: the bend spanning v (default: the middle one)");
    cmd->add_option("--project", a->job.project, "Further checkpoints to project onto the plane (repeatable)");
    cmd->add_option("--project-name", a->job.project_names,
                    "The name of each --project in plane.json, in the same order (default: its absolute path)");
    cmd->add_option("--out", a->job.out_dir, "Output folder")->required();
    cmd->add_option("--grid", a->job.plane.grid, "Grid points per axis")->capture_default_str();
    cmd->add_option("--margin", a->job.plane.margin, "Margin around the points (alpha/beta units)")->capture_default_str();
    cmd->add_option("--curve-points", a->job.plane.curve_points, "Curve points projected")->capture_default_str();
    cmd->add_option("--save-every", a->job.plane.save_every, "Write the partial file every k cells")->capture_default_str();
    cmd->add_option("--shard", a->shard, "Evaluate shard i of n (cells c with c % n == i); merge with plane-merge")
        ->capture_default_str();
    add_eval_options(cmd, a->eval);
    // The fast plane method (docs/surface.md "Fast planes"); both are in the plane's setup hash.
    cmd->add_flag("--train-controls", a->train_controls,
                  "Correct each cell's train NLL on the --train-samples subset by control variates: the per-example "
                  "train NLL at the plane's anchor points (cached in the output folder)");
    cmd->add_option("--train-rel-se", a->train_rel_se,
                    "Read the train subset in chunks and stop once the train NLL's relative standard error is <= R "
                    "(0 = read all --train-samples; 0 <= R < 1)")
        ->capture_default_str();
    cmd->add_option("--train-chunk", a->train_chunk, "--train-rel-se: examples read between two checks")
        ->capture_default_str();
    add_align_option(cmd, a->align, "W1, W2 and every --project");
    cmd->callback([a] {
      a->job.common = to_common(a->eval);
      a->job.common.eval = with_fast_train(a->job.common.eval, a->train_controls, a->train_rel_se, a->train_chunk);
      if (a->job.bend && *a->job.bend < 0) a->job.bend.reset();  // a negative --bend: the default, as before
      std::tie(a->job.plane.shard, a->job.plane.shards) = parse_shard(a->shard);
      a->job.random.norm = parse_direction_norm(a->norm);
      a->job.random.ignore = parse_direction_ignore(a->ignore);
      auto r = run_aligned_plane(a->job, to_alignment(a->align, a->eval.sets));
      if (!a->job.directions.empty() && r.complete) write_direction_plane_figures(r.dir);
      std::cout << nlohmann::json({{"out", r.dir}, {"complete", r.complete}, {"cells_evaluated", r.cells_evaluated},
                                   {"cells_total", r.cells_total}})
                       .dump(2)
                << std::endl;
    });
  }
  {
    auto a = std::make_shared<MergeArgs>();
    auto* cmd = app.add_subcommand("plane-merge", "Merge the shards of a plane into its final outputs");
    cmd->add_option("dirs", a->dirs, "Folders holding plane-setup.json and plane.partial-<i>-of-<n>.json files")->required();
    cmd->add_option("--out", a->out, "Output folder (default: the first folder)");
    cmd->callback([a] {
      const std::string out = a->out.empty() ? a->dirs.front() : a->out;
      merge_plane_shards(a->dirs, out);
      if (read_json(out + "/plane.json").contains("kind")) write_direction_plane_figures(out);
      std::cout << nlohmann::json({{"out", out}, {"complete", true}}).dump(2) << std::endl;
    });
  }
});

}  // namespace
}  // namespace closerlook
