#include "studies/plan_cost.h"

#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_io.h"
#include "core/process_memory.h"
#include "models/factory.h"
#include "studies/steps.h"
#include "train/train_config.h"

namespace fs = std::filesystem;

namespace closerlook {
namespace {

// File-format overheads, measured on the smoke preset's folders (docs/studies.md, "Cost of a plan").
constexpr double kPtOverhead = 12e3;      // a <tag>.pt beyond 4 bytes per parameter/buffer element
constexpr double kStateOverhead = 6e3;    // a <tag>.state.pt beyond its optimizer tensors
constexpr double kSmallStep = 20e3;       // result.json, STEP.json, DONE, metrics, a profile's json/csv/npy
constexpr double kAnalysisDisk = 200e3;   // an analysis step's figures and claims
constexpr double kReportDisk = 6e6;       // report.html with plotly.js inlined
constexpr double kNpyFile = 2.2e3;        // per captured layer: npy header + its share of activations.json
// Saved tensors per probe activation in a training step (conv/BN/ReLU outputs and their grads).
constexpr double kTrainActFactor = 4.0;
// Nominal throughputs for --no-calibrate (FLOP/s): a CPU thread, an accelerator.
constexpr double kCpuFlopsPerThread = 1.0e10, kGpuFlops = 2.0e13;
// Curve training: a forward/backward through the point on the curve plus the bends' update.
constexpr double kCurveStepFactor = 1.3;
// One layer block's Hessian-vector product in training steps: measured 2026-12-02 on the quick
// warmup arm (docs/curvature.md, "Not yet"): 11 blocks x 6 steps added 4.3x to 6 network steps.
constexpr double kBlockProduct = 0.9;

struct DataDims {
  double n_train = 0, n_test = 0, chw = 0;
  int64_t c = 1, hw = 32, classes = 10;
};

DataDims data_dims(const DataSpec& s) {
  DataDims d;
  auto cut = [](double n, int64_t subset) { return subset > 0 ? std::min<double>(n, double(subset)) : n; };
  if (s.dataset == "synthetic") {
    d.n_train = double(s.synthetic_train);
    d.n_test = double(s.synthetic_test);
    d.c = s.synthetic_channels;
    d.hw = s.synthetic_size;
    d.classes = s.synthetic_classes;
  } else if (s.dataset == "cifar10" || s.dataset == "cifar100") {
    d.n_train = 50000;
    d.n_test = 10000;
    d.c = 3;
    d.hw = 32;
    d.classes = s.dataset == "cifar10" ? 10 : 100;
  } else if (s.dataset == "mnist" || s.dataset == "fashion-mnist") {
    d.n_train = 60000;
    d.n_test = 10000;
    d.c = 1;
    d.hw = std::max<int64_t>(28, s.pad_to);
    d.classes = 10;
  } else {  // npy: read it (the studies load it anyway)
    const DataSplit& ds = cached_data(s);
    d.n_train = double(ds.train.size());
    d.n_test = double(ds.test.size());
    d.c = ds.train.channels();
    d.hw = ds.train.height();
    d.classes = ds.train.num_classes;
  }
  d.n_train = cut(d.n_train, s.train_subset);
  d.n_test = cut(d.n_test, s.test_subset);
  d.chw = double(d.c * d.hw * d.hw);
  return d;
}

double data_bytes(const DataDims& d) { return (d.n_train + d.n_test) * (d.chw * 4.0 + 8.0); }

// What building the network (not training it) tells: sizes, probe activations, FLOPs.
struct ModelFacts {
  ModelSpec spec;
  double params = 0, buffers = 0;
  double act_floats = 0;   // every probe's activation of one example
  double gap_floats = 0;   // the same, convolutional probes averaged over space (conv_mode "gap")
  double probes = 0;
  double fwd_flops = 0;    // per example
  double blocks = 0;       // curvature layer blocks: weights of dimension >= 2 (train/curvature.h)
  bool batchnorm = false;
  double model_bytes() const { return 4.0 * (params + buffers); }
};

ModelFacts model_facts(ModelSpec spec, const DataDims& d) {
  spec.in_channels = d.c;
  spec.image_size = d.hw;
  spec.num_classes = d.classes;
  ModelFacts f;
  f.spec = spec;
  torch::NoGradGuard ng;
  NetworkPtr net = build_model(spec, 0);
  std::vector<int64_t> conv_hw;
  for (auto& [name, p] : net->named_parameters()) f.params += double(p.numel());
  for (auto& [name, b] : net->named_buffers())
    if (b.is_floating_point()) f.buffers += double(b.numel());
  f.batchnorm = net->has_batchnorm();
  net->train(false);
  std::map<std::string, torch::Tensor> acts;
  net->forward_probes(torch::zeros({1, d.c, d.hw, d.hw}), net->probe_names(), acts);
  for (const auto& [name, a] : acts) {
    f.act_floats += double(a.numel());
    f.gap_floats += a.dim() == 4 ? double(a.size(1)) : double(a.numel());
    if (a.dim() == 4) conv_hw.push_back(a.size(2) * a.size(3));
  }
  f.probes = double(acts.size());
  // FLOPs: 2 x weight elements x output positions for every conv (the k-th 4-D weight against
  // the k-th spatial probe in order; probes after a pooling make this a lower bound), 2 x weight
  // elements for every linear layer.
  std::vector<int64_t> hw_order;
  for (const auto& name : net->probe_names()) {
    auto it = acts.find(name);
    if (it != acts.end() && it->second.dim() == 4) hw_order.push_back(it->second.size(2) * it->second.size(3));
  }
  double mean_hw = 0;
  for (auto v : hw_order) mean_hw += double(v);
  mean_hw = hw_order.empty() ? 1.0 : mean_hw / double(hw_order.size());
  size_t k = 0;
  std::vector<NamedTensor> params = net->named_parameters();
  size_t n4 = 0;
  for (auto& [name, p] : params) n4 += p.dim() == 4;
  for (auto& [name, p] : params) f.blocks += p.dim() >= 2;
  for (auto& [name, p] : params) {
    if (p.dim() == 4) {
      const double hw = n4 == hw_order.size() ? double(hw_order[k]) : mean_hw;
      f.fwd_flops += 2.0 * double(p.numel()) * hw;
      ++k;
    } else if (p.dim() == 2) {
      f.fwd_flops += 2.0 * double(p.numel());
    }
  }
  return f;
}

// Seconds per example of a training step and of an evaluation forward pass.
struct Timing {
  double train = 0, eval = 0;
};

int64_t calib_batch(int64_t b, const torch::Device& dev, bool train) {
  const int64_t cap = dev.is_cpu() ? (train ? 32 : 128) : 1024;
  return std::max<int64_t>(1, std::min(b, cap));
}

void sync(const torch::Device& dev) {
  if (dev.is_cuda()) torch::cuda::synchronize(dev.index() < 0 ? -1 : dev.index());
}

Timing measure(const ModelFacts& f, const DataDims& d, int64_t train_b, int64_t eval_b, const torch::Device& dev) {
  NetworkPtr net = build_model(f.spec, 0);
  net->to(dev);
  Timing t;
  {
    net->train(true);
    torch::optim::SGD opt(net->parameters(), torch::optim::SGDOptions(1e-4).momentum(0.9));
    auto x = torch::randn({train_b, d.c, d.hw, d.hw}, torch::TensorOptions().device(dev));
    auto y = torch::randint(d.classes, {train_b}, torch::TensorOptions().dtype(torch::kInt64).device(dev));
    auto step = [&] {
      opt.zero_grad();
      torch::nn::functional::cross_entropy(net->forward(x), y).backward();
      opt.step();
    };
    step();
    sync(dev);
    const int reps = 3;
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) step();
    sync(dev);
    t.train = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / double(reps * train_b);
  }
  {
    torch::NoGradGuard ng;
    net->train(false);
    auto x = torch::randn({eval_b, d.c, d.hw, d.hw}, torch::TensorOptions().device(dev));
    net->forward(x);
    sync(dev);
    const int reps = 3;
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) net->forward(x).sum().item<double>();
    sync(dev);
    t.eval = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / double(reps * eval_b);
  }
  return t;
}

// A step's run tree (train steps: the inputs, or the inputs' "tree"), or null.
const nlohmann::json* train_tree(const Step& s) {
  if (s.inputs.is_object() && s.inputs.contains("train") && s.inputs.contains("model")) return &s.inputs;
  if (s.inputs.is_object() && s.inputs.contains("tree") && s.inputs["tree"].is_object() &&
      s.inputs["tree"].contains("train"))
    return &s.inputs["tree"];
  return nullptr;
}

std::string step_kind(const Step& s) {
  if (train_tree(s)) return "train";
  if (!s.inputs.is_object()) return "analysis";
  const bool ends_plane = s.id.size() >= 6 && s.id.compare(s.id.size() - 6, 6, "/plane") == 0;
  if (s.inputs.contains("curve")) return "curve";
  if (ends_plane) return "plane";
  if (s.inputs.contains("eval")) return "line";
  if (s.inputs.contains("similarity") && s.id.find("acts") != std::string::npos) return "activations";
  return "analysis";
}

std::string human_bytes(double b) {
  char buf[32];
  if (b >= 1e9) std::snprintf(buf, sizeof(buf), "%.1f GB", b / 1e9);
  else if (b >= 1e6) std::snprintf(buf, sizeof(buf), "%.1f MB", b / 1e6);
  else std::snprintf(buf, sizeof(buf), "%.0f kB", b / 1e3);
  return buf;
}

std::string human_seconds(double s) {
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof(buf), "%.1f h", s / 3600);
  else if (s >= 60) std::snprintf(buf, sizeof(buf), "%.1f min", s / 60);
  else std::snprintf(buf, sizeof(buf), "%.1f s", s);
  return buf;
}

}  // namespace

nlohmann::json StepCost::to_json() const {
  return {{"index", index},
          {"id", id},
          {"study", study},
          {"kind", kind},
          {"wave", wave},
          {"deps", deps},
          {"done", done},
          {"disk_bytes", disk_bytes},
          {"peak_disk_bytes", peak_disk_bytes},
          {"host_memory_bytes", host_memory_bytes},
          {"device_memory_bytes", device_memory_bytes},
          {"seconds", seconds}};
}

nlohmann::json PlanCost::to_json() const {
  nlohmann::json s = nlohmann::json::array();
  int waves = 0;
  for (const auto& c : steps) {
    s.push_back(c.to_json());
    waves = std::max(waves, c.wave);
  }
  return {{"steps", s},
          {"total",
           {{"disk_bytes", disk_bytes},
            {"host_memory_bytes", host_memory_bytes},
            {"device_memory_bytes", device_memory_bytes},
            {"seconds", seconds},
            {"steps", steps.size()},
            {"waves", waves}}},
          {"device", device},
          {"timing", timing},
          {"keep", keep}};
}

std::string PlanCost::describe() const {
  std::ostringstream o;
  char line[512];
  std::snprintf(line, sizeof(line), "%3s  %-6s %-4s %-44s %10s %10s %10s %10s\n", "#", "status", "wave", "step", "disk",
                "host mem", "dev mem", "time");
  o << line;
  for (const auto& c : steps) {
    std::snprintf(line, sizeof(line), "%3d  [%s] %4d %-44s %10s %10s %10s %10s\n", c.index, c.done ? "done" : "todo",
                  c.wave, c.id.c_str(), human_bytes(c.disk_bytes).c_str(), human_bytes(c.host_memory_bytes).c_str(),
                  human_bytes(c.device_memory_bytes).c_str(), human_seconds(c.seconds).c_str());
    o << line;
  }
  std::snprintf(line, sizeof(line), "total: disk %s (keep %s), peak host memory %s, peak device memory %s, %s on %s (%s)\n",
                human_bytes(disk_bytes).c_str(), keep.c_str(), human_bytes(host_memory_bytes).c_str(),
                human_bytes(device_memory_bytes).c_str(), human_seconds(seconds).c_str(), device.c_str(),
                timing.c_str());
  o << line;
  return o.str();
}

std::string PlanCost::disk_fix() const {
  const StepCost* top = nullptr;
  for (const auto& c : steps)
    if (!top || c.peak_disk_bytes > top->peak_disk_bytes) top = &c;
  if (!top) return "";
  std::string fix;
  if (keep == "all") fix = "--keep needed (the default) keeps only the checkpoints later steps read";
  else if (top->kind == "train")
    fix = "fewer epochs or checkpoints of " + top->id + " (train.epochs / its checkpoint_every), or --out on a larger disk";
  else fix = "a smaller [eval] or [similarity] setting of " + top->id + ", or --out on a larger disk";
  return "the largest step is " + top->id + " (" + human_bytes(top->peak_disk_bytes) + "): " + fix;
}

PlanCost estimate_plan_cost(const Plan& plan, const ReproduceConfig& cfg, const CostOptions& opts) {
  PlanCost pc;
  pc.device = opts.device.str();
  pc.keep = opts.keep == KeepPolicy::All ? "all" : "needed";
  pc.timing = opts.calibrate ? "calibrated" : "flops";
  const bool on_cpu = opts.device.is_cpu();
  const double base = process_rss_bytes();

  // Calibration cache: key -> {train, eval} seconds per example.
  const std::string cache_path = opts.cache_dir.empty() ? "" : (fs::path(opts.cache_dir) / "plan-calibration.json").string();
  nlohmann::json cache = nlohmann::json::object();
  if (!cache_path.empty() && file_exists(cache_path)) {
    try {
      cache = read_json(cache_path);
    } catch (const Error&) {
      cache = nlohmann::json::object();
    }
  }
  bool cache_dirty = false;
  std::map<std::string, ModelFacts> facts_cache;

  struct RunInfo {
    ModelFacts f;
    DataDims d;
    TrainConfig tc;
  };
  std::map<std::string, RunInfo> runs;  // train step id -> what it trains
  auto info_of = [&](const Step& s) -> RunInfo& {
    auto it = runs.find(s.id);
    if (it != runs.end()) return it->second;
    RunInfo ri;
    ri.tc = read_train_config(*train_tree(s), s.id);
    ri.d = data_dims(ri.tc.data);
    const std::string key = model_spec_to_json(ri.tc.model).dump() + nlohmann::json({ri.d.c, ri.d.hw, ri.d.classes}).dump();
    auto fc = facts_cache.find(key);
    if (fc == facts_cache.end()) fc = facts_cache.emplace(key, model_facts(ri.tc.model, ri.d)).first;
    ri.f = fc->second;
    return runs.emplace(s.id, ri).first->second;
  };
  auto timing = [&](const ModelFacts& f, const DataDims& d, int64_t train_b, int64_t eval_b) {
    Timing t;
    if (!opts.calibrate) {
      const double flops = on_cpu ? kCpuFlopsPerThread * double(std::max(1, at::get_num_threads())) : kGpuFlops;
      t.train = 3.0 * f.fwd_flops / flops;
      t.eval = f.fwd_flops / flops;
      return t;
    }
    const int64_t tb = calib_batch(train_b, opts.device, true), eb = calib_batch(eval_b, opts.device, false);
    const std::string key = content_hash(model_arch(f.spec) + "|" + opts.device.str() + "|" + std::to_string(tb) + "|" +
                                         std::to_string(eb) + "|threads=" + std::to_string(at::get_num_threads()));
    if (cache.contains(key)) {
      t.train = cache[key].value("train", 0.0);
      t.eval = cache[key].value("eval", 0.0);
      if (t.train > 0 && t.eval > 0) return t;
    }
    t = measure(f, d, tb, eb, opts.device);
    cache[key] = {{"arch", model_arch(f.spec)}, {"device", opts.device.str()}, {"train_batch", tb},
                  {"eval_batch", eb},         {"train", t.train},             {"eval", t.eval}};
    cache_dirty = true;
    return t;
  };
  // The training run a surface/similarity step reads: its first train-step dependency (transitively).
  std::function<const Step*(const Step&)> source_run = [&](const Step& s) -> const Step* {
    for (const auto& d : s.deps) {
      const Step& ds = plan.steps()[size_t(plan.index_of(d) - 1)];
      if (train_tree(ds)) return &ds;
    }
    for (const auto& d : s.deps) {
      const Step& ds = plan.steps()[size_t(plan.index_of(d) - 1)];
      if (const Step* r = source_run(ds)) return r;
    }
    return nullptr;
  };

  const EvalSettings& ev = cfg.eval.settings;
  std::map<std::string, double> residue;  // step id -> disk_bytes (the analyses read activations)
  for (const auto& s : plan.steps()) {
    StepCost c;
    c.index = plan.index_of(s.id);
    c.id = s.id;
    c.study = s.study;
    c.kind = step_kind(s);
    c.wave = plan.wave_of(s.id);
    c.deps = s.deps;
    c.done = plan.is_done(s.id);
    c.host_memory_bytes = base;
    const Step* src = c.kind == "train" ? &s : source_run(s);
    // One evaluation point: BN recalibration (with BN), the train and the test metrics.
    auto point_examples = [&](const DataDims& d, bool bn) {
      auto n = [](int64_t k, double all) { return k < 0 ? 0.0 : (k == 0 ? all : std::min<double>(all, double(k))); };
      return (bn ? n(ev.bn_samples, d.n_train) : 0.0) + n(ev.train_samples, d.n_train) + n(ev.test_samples, d.n_test);
    };
    if (src) {
      RunInfo& ri = info_of(*src);
      const ModelFacts& f = ri.f;
      const DataDims& d = ri.d;
      const TrainSpec& t = ri.tc.train;
      const double M = f.model_bytes(), Pb = 4.0 * f.params;
      const double data = data_bytes(d);
      c.host_memory_bytes += data;
      if (c.kind == "train") {
        const double opt = t.optimizer == "adam" ? 2.0 * Pb : (t.momentum > 0 ? Pb : 0.0);
        const std::vector<std::string> all_tags = written_checkpoint_tags(t);
        TrainSpec kept_spec = t;
        if (opts.keep == KeepPolicy::Needed) apply_keep(kept_spec, plan.keep_set(s.id));
        const std::vector<std::string> written = written_checkpoint_tags(kept_spec);
        const std::set<std::string> keep = plan.keep_set(s.id);
        const double pt = M + kPtOverhead, state = opt + kStateOverhead;
        // While it runs: every written tag (with its optimizer state under --keep all only) and
        // the rolling last (weights, and weights + optimizer state).
        const double per_tag = opts.keep == KeepPolicy::All ? pt + state : pt;
        c.peak_disk_bytes = double(written.size()) * per_tag + pt + (pt + state) + kSmallStep;
        if (opts.keep == KeepPolicy::All) {
          c.disk_bytes = c.peak_disk_bytes;
        } else {
          double kept = 0;
          for (const auto& tag : written) kept += keep.count(tag);
          c.disk_bytes = kept * pt + kSmallStep;
        }
        const bool kd = !t.teacher.empty() || s.inputs.contains("tree");
        const double teacher = kd ? M * 2.0 : 0.0;  // a teacher of about the student's size, or larger
        const double act = double(t.batch_size) * f.act_floats * 4.0 * kTrainActFactor +
                           double(t.eval_batch) * f.act_floats * 4.0;
        const double state_bytes = 2.0 * M + opt + teacher + M /* a checkpoint being written */;
        const double eval_sets = (std::min<double>(d.n_train, double(t.eval_train_subset)) + d.n_test) * d.chw * 4.0;
        if (on_cpu) {
          c.host_memory_bytes += state_bytes + act;
        } else {
          c.host_memory_bytes += 2.0 * M;
          c.device_memory_bytes = state_bytes + act + eval_sets;
        }
        const Timing tm = timing(f, d, t.batch_size, t.eval_batch);
        const double train_ex = double(t.epochs) * d.n_train;
        const double eval_ex = double(t.epochs) * (std::min<double>(d.n_train, double(t.eval_train_subset)) + d.n_test);
        c.seconds = train_ex * (tm.train + (kd ? tm.eval : 0.0)) + eval_ex * tm.eval;
        // Curvature tracking (train.curvature_every / curvature_iters): per point, `steps` Lanczos
        // iterations over the subset (layer_steps for the blocks, in lockstep), each one forward +
        // create-graph backward (~ a training step) shared by every operator, plus one double
        // backward (~ 2 training steps) for the network and ~ kBlockProduct for each layer block
        // when per_layer; trace probes one pass each.
        const int64_t ipe = std::max<int64_t>(1, int64_t(std::ceil(d.n_train / double(std::max<int64_t>(1, t.batch_size)))));
        double curv_points = double(t.curvature_iters.size());
        if (t.curvature_every > 0) curv_points += double(t.epochs * ipe / t.curvature_every + 1);
        if (curv_points > 0) {
          const double steps = double(t.curvature_steps), layer_steps = t.curvature_per_layer ? double(t.curvature_layer_steps) : 0.0;
          const double ex = std::min<double>(d.n_train, double(t.curvature_examples));
          c.seconds += curv_points * ex * tm.train *
                       (std::max(steps, layer_steps) + 2.0 * steps + kBlockProduct * layer_steps * f.blocks +
                        3.0 * double(t.curvature_trace_samples));
        }
      } else if (c.kind == "curve" || c.kind == "line" || c.kind == "plane") {
        const int nb = cfg.curve.bends;
        const Timing tm = timing(f, d, cfg.curve.batch_size, ev.batch_size);
        const double per_point = point_examples(d, f.batchnorm) * tm.eval;
        const double eval_act = double(ev.batch_size) * f.act_floats * 4.0;
        double host = 0, secs = 0;
        if (c.kind == "line") {
          host = 3.0 * M + eval_act;
          secs = double(cfg.eval.points) * per_point;
          c.disk_bytes = c.peak_disk_bytes = kSmallStep;
        } else if (c.kind == "curve") {
          const double bends = double(nb) * Pb;
          host = 3.0 * bends + 3.0 * M + double(cfg.curve.batch_size) * f.act_floats * 4.0 * kTrainActFactor;
          secs = double(cfg.curve.epochs) * d.n_train * tm.train * kCurveStepFactor + double(cfg.eval.points) * per_point;
          // bends.npy (float32); bend-<k>.pt and, while training, last.state.pt (bends + momentum)
          // until the keep policy drops them.
          c.disk_bytes = bends + kSmallStep;
          c.peak_disk_bytes = c.disk_bytes + double(nb) * (M + kPtOverhead) + 2.0 * bends + kStateOverhead;
          if (opts.keep == KeepPolicy::All) c.disk_bytes = c.peak_disk_bytes;
        } else {  // plane: float64 basis and directions, one streamed projection, the curve
          host = 6.0 * 8.0 * f.params + double(nb) * Pb + 2.0 * M + eval_act;
          const double cells = double(cfg.eval.plane_grid) * double(cfg.eval.plane_grid) + double(cfg.eval.points);
          secs = cells * per_point;
          const double g = double(cfg.eval.plane_grid) * double(cfg.eval.plane_grid);
          c.disk_bytes = c.peak_disk_bytes = kSmallStep + 12.0 * (g * 8.0 + 128.0);
        }
        if (on_cpu) {
          c.host_memory_bytes += host;
        } else {
          c.host_memory_bytes += 2.0 * M;
          c.device_memory_bytes = host + (d.n_train + d.n_test) * d.chw * 4.0;
        }
        c.seconds = secs;
      } else if (c.kind == "activations") {
        // One capture per checkpoint it declared it reads (Plan::reads).
        const double ckpts = double(std::max<size_t>(1, plan.reads_of(s.id).size()));
        const double n = std::min<double>(double(cfg.similarity.examples), d.n_train);
        const double floats = cfg.similarity.conv_mode == "gap" ? f.gap_floats : f.act_floats;
        const double bytes = ckpts * (n * floats * 4.0 + f.probes * kNpyFile);
        c.disk_bytes = c.peak_disk_bytes = bytes + kSmallStep;
        const Timing tm = timing(f, d, t.batch_size, ev.batch_size);
        c.seconds = ckpts * n * tm.eval;
        const double host = M + n * floats * 4.0 + double(ev.batch_size) * f.act_floats * 4.0;
        if (on_cpu) c.host_memory_bytes += host;
        else {
          c.host_memory_bytes += n * floats * 4.0 + M;
          c.device_memory_bytes = host;
        }
      }
    }
    if (c.kind == "analysis") {
      // Reads its dependencies' activations (similarities: two n x n Gram matrices in float64).
      double acts = 0;
      for (const auto& d2 : s.deps) {
        const Step& ds = plan.steps()[size_t(plan.index_of(d2) - 1)];
        if (step_kind(ds) == "activations") acts += residue[d2];
      }
      const double n = acts > 0 ? double(cfg.similarity.examples) : 0.0;
      c.host_memory_bytes += acts + 2.0 * n * n * 8.0;
      c.disk_bytes = c.peak_disk_bytes = s.id == "report" ? kReportDisk : kAnalysisDisk;
    }
    residue[s.id] = c.disk_bytes;
    pc.steps.push_back(c);
  }
  double transient = 0;
  for (const auto& c : pc.steps) {
    pc.disk_bytes += c.disk_bytes;
    transient = std::max(transient, c.peak_disk_bytes - c.disk_bytes);
    pc.host_memory_bytes = std::max(pc.host_memory_bytes, c.host_memory_bytes);
    pc.device_memory_bytes = std::max(pc.device_memory_bytes, c.device_memory_bytes);
    pc.seconds += c.seconds;
  }
  pc.disk_bytes += transient;
  if (cache_dirty && !cache_path.empty()) {
    try {
      make_dirs(opts.cache_dir);
      write_json(cache_path, cache);
    } catch (const Error&) {
      // A read-only output folder: the calibration is simply not cached.
    }
  }
  return pc;
}

double free_disk_bytes(const std::string& path) {
  fs::path p = fs::absolute(path);
  while (!p.empty() && !fs::exists(p)) p = p.parent_path();
  struct statvfs st {};
  if (::statvfs(p.empty() ? "/" : p.c_str(), &st) != 0) return INFINITY;
  return double(st.f_bavail) * double(st.f_frsize);
}

void check_disk_fits(const PlanCost& cost, double free_bytes, const std::string& out_dir) {
  // What finished steps left is already on that disk (not free any more, not needed again).
  double need = 0, transient = 0;
  for (const auto& c : cost.steps) {
    if (c.done) continue;
    need += c.disk_bytes;
    transient = std::max(transient, c.peak_disk_bytes - c.disk_bytes);
  }
  need += transient;
  if (need <= free_bytes) return;
  throw_bad_input("reproduce: the plan needs about " + human_bytes(need) + " of disk, " + out_dir + " has " +
                  human_bytes(free_bytes) + " free; " + cost.disk_fix());
}

}  // namespace closerlook
