// Plane evaluation per grid point: the straightforward way against closerlook's fast settings, in
// one program, on the same cells (benchmarks.md "plane").
//   full: BN statistics from the whole training set and the train loss over the whole training
//         set, batches of --full-batch (128, as dnn-mode-connectivity's loaders), at every point;
//   fast: BN statistics from a fixed seeded subset (--fast-bn, default 10000), the train loss from
//         --fast-train examples (0 = all), batches of --fast-batch; InferenceMode either way.
// Both use the same basis/cells (plane.h) and the whole test set. The two methods alternate
// cell by cell, so machine noise hits both alike. Reports seconds per point (and per phase), the
// ratio, and the largest relative differences of train/test loss and absolute error differences.
//   plane_speed W0.pt W1.pt W2.pt [--grid 3] [--margin 0.2] [--threads 2] [--fast-bn 10000]
//               [--fast-train 0] [--fast-batch 1000] [--fast-bn-batch 1000] [--full-batch 128]
//               [--train-subset N] [--out result.json]
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fmt/format.h>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/json_io.h"
#include "core/runtime.h"
#include "surface/plane.h"
#include "surface/point_eval.h"
#include "surface/sources.h"
#include "surface/weights.h"
#include "train/run_dir.h"

using namespace closerlook;

namespace {

struct Args {
  std::vector<std::string> ckpts;
  int grid = 3, threads = 2;
  double margin = 0.2;
  int64_t fast_bn = 10000, fast_train = 0, fast_batch = 1000, fast_bn_batch = 1000, full_batch = 128;
  int64_t train_subset = 0;
  std::string out;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(s + " needs a value");
      return argv[++i];
    };
    if (s == "--grid") a.grid = std::stoi(next());
    else if (s == "--threads") a.threads = std::stoi(next());
    else if (s == "--margin") a.margin = std::stod(next());
    else if (s == "--fast-bn") a.fast_bn = std::stoll(next());
    else if (s == "--fast-train") a.fast_train = std::stoll(next());
    else if (s == "--fast-batch") a.fast_batch = std::stoll(next());
    else if (s == "--fast-bn-batch") a.fast_bn_batch = std::stoll(next());
    else if (s == "--full-batch") a.full_batch = std::stoll(next());
    else if (s == "--train-subset") a.train_subset = std::stoll(next());
    else if (s == "--out") a.out = next();
    else if (!s.empty() && s[0] == '-') throw std::runtime_error("unknown option " + s);
    else a.ckpts.push_back(s);
  }
  if (a.ckpts.size() != 3) throw std::runtime_error("give three checkpoints W0 W1 W2");
  return a;
}

double rel(double a, double b) { return std::fabs(a - b) / std::max(std::fabs(b), 1e-12); }

}  // namespace

int main(int argc, char** argv) try {
  const Args a = parse(argc, argv);
  init_threads(a.threads);
  const torch::Device dev = torch::kCPU;
  auto nets = load_checkpoints(a.ckpts, dev);
  std::vector<std::string> overrides;
  if (a.train_subset > 0) overrides.push_back("data.train_subset=" + std::to_string(a.train_subset));
  DataSplit data = load_run_data(run_dir_of_checkpoint(a.ckpts[0]), overrides);
  const double wd = run_weight_decay(run_dir_of_checkpoint(a.ckpts[0]));

  EvalSettings full, fast;
  full.batch_size = full.bn_batch_size = a.full_batch;
  full.weight_decay = fast.weight_decay = wd;
  fast.bn_samples = a.fast_bn;
  fast.train_samples = a.fast_train;
  fast.batch_size = a.fast_batch;
  fast.bn_batch_size = a.fast_bn_batch;

  // Working networks of the same architecture (their weights are overwritten at every point).
  auto work_full = load_network(a.ckpts[0], dev), work_fast = load_network(a.ckpts[0], dev);
  PointEvaluator ev_full(*work_full, data, dev, full), ev_fast(*work_fast, data, dev, fast);
  const PlaneBasis b = plane_basis(flat_parameters(*nets[0]), flat_parameters(*nets[1]), flat_parameters(*nets[2]));
  const auto [alphas, betas] = plane_axes(b, {}, a.grid, a.margin);

  using clock = std::chrono::steady_clock;
  double t_full = 0, t_fast = 0;
  PointEvaluator::Timing ph_full, ph_fast;
  double max_tr = 0, max_tr_nll = 0, max_te = 0, max_tr_err = 0, max_te_err = 0;
  nlohmann::json cells = nlohmann::json::array();
  for (size_t i = 0; i < alphas.size(); ++i)
    for (size_t j = 0; j < betas.size(); ++j) {
      auto w = plane_point(b, alphas[i] * b.dx, betas[j] * b.dy);
      auto t0 = clock::now();
      PointMetrics mf = ev_full.evaluate_flat(w);
      const double sf = std::chrono::duration<double>(clock::now() - t0).count();
      t0 = clock::now();
      PointMetrics mq = ev_fast.evaluate_flat(w);
      const double sq = std::chrono::duration<double>(clock::now() - t0).count();
      t_full += sf;
      t_fast += sq;
      auto add = [](PointEvaluator::Timing& acc, const PointEvaluator::Timing& t) {
        acc.bn += t.bn;
        acc.train += t.train;
        acc.test += t.test;
      };
      add(ph_full, ev_full.last_timing());
      add(ph_fast, ev_fast.last_timing());
      max_tr = std::max(max_tr, rel(mq.tr_loss, mf.tr_loss));
      max_tr_nll = std::max(max_tr_nll, rel(mq.tr_nll, mf.tr_nll));
      max_te = std::max(max_te, rel(mq.te_loss, mf.te_loss));
      max_tr_err = std::max(max_tr_err, std::fabs(mq.tr_err - mf.tr_err));
      max_te_err = std::max(max_te_err, std::fabs(mq.te_err - mf.te_err));
      cells.push_back({{"alpha", alphas[i]}, {"beta", betas[j]}, {"full", mf.to_json()}, {"fast", mq.to_json()},
                       {"full_s", sf}, {"fast_s", sq}});
      std::fprintf(stderr, "cell (%zu,%zu) full %.1fs tr_loss %.5f te_err %.4f | fast %.1fs tr_loss %.5f te_err %.4f\n",
                   i, j, sf, mf.tr_loss, mf.te_err, sq, mq.tr_loss, mq.te_err);
    }
  const double n = double(alphas.size() * betas.size());
  auto phases = [n](const PointEvaluator::Timing& t) {
    return nlohmann::json{{"bn", t.bn / n}, {"train", t.train / n}, {"test", t.test / n}};
  };
  nlohmann::json out = {
      {"workload", "plane grid point, vgg11-w16 checkpoints"},
      {"checkpoints", a.ckpts},
      {"grid", a.grid},
      {"threads", a.threads},
      {"train_examples", data.train.size()},
      {"test_examples", data.test.size()},
      {"full", {{"settings", full.to_json()}, {"s_per_point", t_full / n}, {"phases", phases(ph_full)}}},
      {"fast", {{"settings", fast.to_json()}, {"s_per_point", t_fast / n}, {"phases", phases(ph_fast)}}},
      {"speedup", t_full / t_fast},
      {"max_rel_diff", {{"tr_loss", max_tr}, {"tr_nll", max_tr_nll}, {"te_loss", max_te}}},
      {"max_abs_diff", {{"tr_err", max_tr_err}, {"te_err", max_te_err}}},
      {"cells", cells},
      {"runtime", runtime_metadata()}};
  if (!a.out.empty()) write_json(a.out, out);
  auto brief = out;
  brief.erase("cells");
  brief.erase("runtime");
  std::cout << brief.dump(2) << std::endl;
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "plane_speed: %s\n", e.what());
  return 1;
}
