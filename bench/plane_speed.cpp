// Plane evaluation per grid point: the straightforward way against closerlook's fast settings, in
// one program, on the same cells (benchmarks.md "plane").
//   full: BN statistics from the whole training set and the train loss over the whole training
//         set, batches of --full-batch (128, as dnn-mode-connectivity's loaders), at every point;
//   fast: BN statistics from a fixed seeded subset (--fast-bn, default 10000), the train loss from
//         --fast-train examples (0 = all), batches of --fast-batch; InferenceMode either way.
// Both use the same basis/cells (plane.h) and the whole test set, and the same evaluation engine
// (surface/bn_folding.h; --plain-engine: the plain path for both). The order of the two methods is
// drawn at random in every cell (--order-seed), so machine noise and caches hit both alike.
// The fast method's train NLL (issue 19 part 3): --controls uses control variates, the per-example
// NLL of the plane's three points over the whole training set (computed once, its time charged to
// the fast method), with the common random numbers of one subset for every cell;
// --train-rel-se R > 0 reads the train subset in chunks and stops at relative standard error R.
// --full-cells N evaluates the full method on N cells drawn at random (0 = all) to bound the time. Reports seconds per point (and per phase), the
// ratio, and the largest relative differences of train/test loss and absolute error differences.
//   plane_speed W0.pt W1.pt W2.pt [--grid 3] [--margin 0.2] [--threads 2] [--fast-bn 10000]
//               [--fast-train 0] [--fast-batch 1000] [--fast-bn-batch 1000] [--full-batch 128]
//               [--train-subset N] [--controls] [--train-rel-se 0] [--train-chunk 2048]
//               [--full-cells 0] [--order-seed 1] [--plain-engine] [--out result.json]
#include <algorithm>
#include <random>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fmt/format.h>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <numeric>
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
  int64_t train_subset = 0, train_chunk = 2048;
  bool controls = false, plain_engine = false;
  double train_rel_se = 0;
  int full_cells = 0;
  unsigned order_seed = 1;
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
    else if (s == "--controls") a.controls = true;
    else if (s == "--plain-engine") a.plain_engine = true;
    else if (s == "--train-rel-se") a.train_rel_se = std::stod(next());
    else if (s == "--train-chunk") a.train_chunk = std::stoll(next());
    else if (s == "--full-cells") a.full_cells = std::stoi(next());
    else if (s == "--order-seed") a.order_seed = static_cast<unsigned>(std::stoul(next()));
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
  fast.train_rel_se = a.train_rel_se;
  fast.train_chunk = a.train_chunk;
  fast.train_controls = a.controls;
  full.fast_engine = fast.fast_engine = !a.plain_engine;

  // Working networks of the same architecture (their weights are overwritten at every point).
  auto work_full = load_network(a.ckpts[0], dev), work_fast = load_network(a.ckpts[0], dev);
  PointEvaluator ev_full(*work_full, data, dev, full), ev_fast(*work_fast, data, dev, fast);
  const PlaneBasis b = plane_basis(flat_parameters(*nets[0]), flat_parameters(*nets[1]), flat_parameters(*nets[2]));
  const auto [alphas, betas] = plane_axes(b, {}, a.grid, a.margin);

  using clock = std::chrono::steady_clock;
  // Control variates: the per-example train NLL at the three points (BN recalibrated as the fast
  // method does), charged to the fast method.
  double t_setup = 0;
  if (a.controls) {
    const auto t0 = clock::now();
    // The library function the plane command runs (plane_train_controls takes them at the same
    // three points, reconstructed from the basis, and caches them).
    std::vector<torch::Tensor> anchors;
    for (auto& n : nets) anchors.push_back(flat_parameters(*n));
    ev_fast.set_train_controls(train_controls_at(ev_fast, anchors, data.train));
    t_setup = std::chrono::duration<double>(clock::now() - t0).count();
    std::fprintf(stderr, "controls: %.1fs\n", t_setup);
  }
  std::mt19937 rng(a.order_seed);
  const int cells_total = int(alphas.size() * betas.size());
  std::vector<int> full_at(cells_total, 1);
  if (a.full_cells > 0 && a.full_cells < cells_total) {
    std::vector<int> idx(cells_total);
    for (int c = 0; c < cells_total; ++c) idx[c] = c;
    std::shuffle(idx.begin(), idx.end(), rng);
    std::fill(full_at.begin(), full_at.end(), 0);
    for (int k = 0; k < a.full_cells; ++k) full_at[idx[k]] = 1;
  }
  int n_full = 0;
  double max_tr_err_all = 0;
  std::vector<double> fast_examples;
  double t_full = 0, t_fast = 0;
  PointEvaluator::Timing ph_full, ph_fast;
  auto add_timing = [](PointEvaluator::Timing& acc, const PointEvaluator::Timing& t) {
    acc.bn += t.bn;
    acc.train += t.train;
    acc.test += t.test;
  };
  double max_tr = 0, max_tr_nll = 0, max_te = 0, max_tr_err = 0, max_te_err = 0;
  nlohmann::json cells = nlohmann::json::array();
  for (size_t i = 0; i < alphas.size(); ++i)
    for (size_t j = 0; j < betas.size(); ++j) {
      auto w = plane_point(b, alphas[i] * b.dx, betas[j] * b.dy);
      const bool do_full = full_at[i * betas.size() + j] != 0;
      const bool full_first = std::uniform_int_distribution<int>(0, 1)(rng) == 1;
      PointMetrics mf, mq;
      double sf = 0, sq = 0;
      auto run_full = [&] {
        if (!do_full) return;
        const auto t0 = clock::now();
        mf = ev_full.evaluate_flat(w);
        sf = std::chrono::duration<double>(clock::now() - t0).count();
      };
      auto run_fast = [&] {
        const auto t0 = clock::now();
        mq = ev_fast.evaluate_flat(w);
        sq = std::chrono::duration<double>(clock::now() - t0).count();
      };
      if (full_first) run_full(), run_fast();
      else run_fast(), run_full();
      fast_examples.push_back(double(mq.tr_examples));
      t_fast += sq;
      if (!do_full) {
        cells.push_back({{"alpha", alphas[i]}, {"beta", betas[j]}, {"fast", mq.to_json()}, {"fast_s", sq},
                         {"fast_tr_examples", mq.tr_examples}, {"fast_tr_nll_se", mq.tr_nll_se}});
        std::fprintf(stderr, "cell (%zu,%zu) fast %.1fs tr_nll %.5f (%lld ex) te_err %.4f\n", i, j, sq, mq.tr_nll,
                     (long long)mq.tr_examples, mq.te_err);
        add_timing(ph_fast, ev_fast.last_timing());
        continue;
      }
      ++n_full;
      t_full += sf;
      add_timing(ph_full, ev_full.last_timing());
      add_timing(ph_fast, ev_fast.last_timing());
      max_tr = std::max(max_tr, rel(mq.tr_loss, mf.tr_loss));
      max_tr_nll = std::max(max_tr_nll, rel(mq.tr_nll, mf.tr_nll));
      max_te = std::max(max_te, rel(mq.te_loss, mf.te_loss));
      max_tr_err = std::max(max_tr_err, std::fabs(mq.tr_err - mf.tr_err));
      max_te_err = std::max(max_te_err, std::fabs(mq.te_err - mf.te_err));
      cells.push_back({{"alpha", alphas[i]}, {"beta", betas[j]}, {"full", mf.to_json()}, {"fast", mq.to_json()},
                       {"full_s", sf}, {"fast_s", sq}, {"fast_tr_examples", mq.tr_examples},
                       {"fast_tr_nll_se", mq.tr_nll_se}, {"full_first", full_first},
                       {"rel_diff_tr_nll", rel(mq.tr_nll, mf.tr_nll)}});
      std::fprintf(stderr,
                   "cell (%zu,%zu) full %.1fs tr_nll %.5f te_err %.4f | fast %.1fs tr_nll %.5f (%lld ex) te_err %.4f"
                   " | rel tr_nll %.4f%%\n",
                   i, j, sf, mf.tr_nll, mf.te_err, sq, mq.tr_nll, (long long)mq.tr_examples, mq.te_err,
                   100 * rel(mq.tr_nll, mf.tr_nll));
    }
  const double n = double(cells_total), nf = double(std::max(n_full, 1));
  auto phases = [](const PointEvaluator::Timing& t, double k) {
    return nlohmann::json{{"bn", t.bn / k}, {"train", t.train / k}, {"test", t.test / k}};
  };
  // Seconds per point: the full method's over the cells it ran; the fast method's over all cells,
  // with the controls' one-off cost spread over the grid.
  const double full_pp = t_full / nf, fast_pp = (t_fast + t_setup) / n;
  (void)max_tr_err_all;
  nlohmann::json out = {
      {"workload", "plane grid point, vgg11-w16 checkpoints"},
      {"checkpoints", a.ckpts},
      {"grid", a.grid},
      {"threads", a.threads},
      {"train_examples", data.train.size()},
      {"test_examples", data.test.size()},
      {"cells", cells_total},
      {"full_cells", n_full},
      {"engine", a.plain_engine ? "plain" : "fast"},
      {"controls", a.controls},
      {"full", {{"settings", full.to_json()}, {"s_per_point", full_pp}, {"phases", phases(ph_full, nf)}}},
      {"fast", {{"settings", fast.to_json()}, {"s_per_point", fast_pp}, {"controls_s", t_setup},
                {"phases", phases(ph_fast, n)},
                {"mean_train_examples", std::accumulate(fast_examples.begin(), fast_examples.end(), 0.0) / n}}},
      {"speedup", full_pp / fast_pp},
      {"max_rel_diff", {{"tr_loss", max_tr}, {"tr_nll", max_tr_nll}, {"te_loss", max_te}}},
      {"max_abs_diff", {{"tr_err", max_tr_err}, {"te_err", max_te_err}}},
      {"cell_rows", cells},
      {"runtime", runtime_metadata()}};
  if (!a.out.empty()) write_json(a.out, out);
  auto brief = out;
  brief.erase("cell_rows");
  brief.erase("runtime");
  std::cout << brief.dump(2) << std::endl;
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "plane_speed: %s\n", e.what());
  return 1;
}
