#include "studies/steps.h"

#include <filesystem>
#include <map>
#include <mutex>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_io.h"
#include "data/load.h"
#include "similarity/activations.h"
#include "surface/curve.h"
#include "surface/curve_training.h"
#include "surface/path_eval.h"
#include "surface/plane.h"
#include "surface/point_eval.h"
#include "surface/weights.h"
#include "train/run_dir.h"
#include "train/run_status.h"
#include "train/run_training.h"
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

DataSpec data_spec_of_run(const std::string& ckpt) {
  auto cfg = read_run_config(run_dir_of_checkpoint(ckpt));
  ConfigReader r(cfg["config"].value("data", nlohmann::json::object()), ckpt, "data");
  return read_data_spec(r);
}

}  // namespace

void run_train_step(StepContext& ctx, const nlohmann::json& tree) {
  TrainConfig cfg = read_train_config(tree, ctx.step->id);
  RunOptions opts;
  opts.device = ctx.device;
  TrainSummary s = run_training(cfg, step_run_dir(ctx.dir), opts);
  nlohmann::json r = s.to_json();
  r["status"] = s.status;
  write_result(ctx, r);
  const RunStatus status = run_status(s.status);
  if (status == RunStatus::Interrupted) throw Error(ExitCode::Interrupted, "interrupted during " + ctx.step->id);
  if (status == RunStatus::Diverged)
    std::fprintf(stderr, "  %s diverged at iteration %lld; recorded, continuing with the other steps\n",
                 ctx.step->id.c_str(), static_cast<long long>(s.diverged_iter));
}

void run_line_step(StepContext& ctx, const ReproduceConfig& cfg, const std::string& ckpt_a, const std::string& ckpt_b) {
  if (!require_inputs(ctx, {ckpt_a, ckpt_b})) return;
  auto a = load_network(ckpt_a, ctx.device);
  auto b = load_network(ckpt_b, ctx.device);
  require_same_architecture(*a, *b, ckpt_a, ckpt_b);
  const DataSplit& data = cached_data(data_spec_of_run(ckpt_a));
  EvalSettings es = cfg.eval.settings;
  es.weight_decay = cfg.curve.weight_decay;
  PointEvaluator ev(*a, data, ctx.device, es);
  PathOptions po;
  po.points = cfg.eval.points;
  po.quiet = true;
  std::vector<torch::Tensor> anchors = {flat_parameters(*a), flat_parameters(*b)};
  nlohmann::json settings = {{"a", ckpt_a}, {"b", ckpt_b}, {"eval", es.to_json()}};
  Profile p = interpolate_anchors(ev, anchors, po, settings, ctx.dir, "line");
  write_profile(p, ctx.dir, "line");
  write_result(ctx, {{"status", "ok"}, {"summary", p.summary()}});
}

void run_curve_step(StepContext& ctx, const ReproduceConfig& cfg, const std::string& ckpt_a,
                    const std::string& ckpt_b, uint64_t seed) {
  if (!require_inputs(ctx, {ckpt_a, ckpt_b})) return;
  auto a = load_network(ckpt_a, ctx.device);
  auto b = load_network(ckpt_b, ctx.device);
  require_same_architecture(*a, *b, ckpt_a, ckpt_b);
  const DataSpec spec = data_spec_of_run(ckpt_a);
  const DataSplit& data = cached_data(spec);

  CurveTrainOptions co = cfg.curve;
  co.seed = seed;
  const std::string curve_dir = ctx.dir + "/curve";
  Curve curve = file_exists(curve_dir + "/bends.npy")
                    ? Curve::load(curve_dir, ctx.device)
                    : Curve::on_line(co.type, co.bends, flat_parameters(*a, torch::kFloat32),
                                     flat_parameters(*b, torch::kFloat32), parameter_layout(*a));
  CurveTrainSummary cs = train_curve(curve, *a, data.train, augment_for(spec), ctx.device, co, curve_dir, false);
  const RunStatus status = run_status(cs.status);
  if (status == RunStatus::Interrupted) throw Error(ExitCode::Interrupted, "interrupted during " + ctx.step->id);
  if (status == RunStatus::Diverged) {
    write_result(ctx, {{"status", "skipped"}, {"reason", "curve training diverged"}, {"curve", cs.to_json()}});
    return;
  }
  EvalSettings es = cfg.eval.settings;
  es.weight_decay = cfg.curve.weight_decay;
  PointEvaluator ev(*a, data, ctx.device, es);
  PathOptions po;
  po.points = cfg.eval.points;
  po.quiet = true;
  nlohmann::json settings = {{"a", ckpt_a}, {"b", ckpt_b}, {"curve", co.to_json()}, {"eval", es.to_json()}};
  Profile p = evaluate_curve_points(ev, curve, po, settings, ctx.dir, "curve");
  write_profile(p, ctx.dir, "curve");
  write_result(ctx, {{"status", "ok"}, {"summary", p.summary()}, {"curve_training", cs.to_json()}});
}

void run_plane_step(StepContext& ctx, const ReproduceConfig& cfg, const std::string& ckpt_w0,
                    const std::string& curve_dir, const std::string& ckpt_w2,
                    const std::vector<std::pair<std::string, std::string>>& extra) {
  if (!require_inputs(ctx, {ckpt_w0, ckpt_w2, curve_dir + "/bends.npy"})) return;
  auto net = load_network(ckpt_w0, ctx.device);
  Curve curve = Curve::load(curve_dir, ctx.device);
  const DataSplit& data = cached_data(data_spec_of_run(ckpt_w0));
  EvalSettings es = cfg.eval.settings;
  es.weight_decay = cfg.curve.weight_decay;
  PointEvaluator ev(*net, data, ctx.device, es);
  PlaneInputs in;
  in.w0 = flat_parameters(*net);
  in.w1 = curve.bend(curve.num_bends() / 2).to(torch::kFloat64);
  in.w2 = flat_parameters(*load_network(ckpt_w2, ctx.device));
  in.names = {ckpt_w0, "curve bend", ckpt_w2};
  for (const auto& [name, path] : extra) {
    if (!file_exists(path)) continue;
    in.extra.emplace_back(name, flat_parameters(*load_network(path, ctx.device)));
  }
  in.curve = &curve;
  PlaneOptions po;
  po.grid = cfg.eval.plane_grid;
  po.margin = cfg.eval.plane_margin;
  po.curve_points = cfg.eval.points;
  PlaneResult pr = evaluate_plane(ev, in, po, ctx.dir + "/plane", {{"eval", es.to_json()}});
  write_result(ctx, {{"status", pr.complete ? "ok" : "skipped"}, {"cells", pr.cells_evaluated}});
}

void run_activations_step(StepContext& ctx, const ReproduceConfig& cfg,
                          const std::vector<std::pair<std::string, std::string>>& checkpoints) {
  nlohmann::json captured = nlohmann::json::array();
  for (const auto& [name, path] : checkpoints) {
    if (!file_exists(path)) continue;
    const std::string out = ctx.dir + "/" + name;
    if (is_activation_dir(out)) {
      captured.push_back(name);
      continue;
    }
    auto net = load_network(path, ctx.device);
    const DataSplit& data = cached_data(data_spec_of_run(path));
    CaptureOptions co;
    co.examples = std::min<int64_t>(cfg.similarity.examples, data.train.size());
    co.conv_mode = parse_conv_mode(cfg.similarity.conv_mode);
    co.device = ctx.device;
    CapturedActivations acts = capture_activations(*net, data.train, co);
    acts.meta["source"] = {{"checkpoint", path}, {"name", name}};
    save_activations(out, acts);
    captured.push_back(name);
  }
  write_result(ctx, {{"status", captured.empty() ? "skipped" : "ok"}, {"captured", captured}});
}

}  // namespace closerlook
