// The evaluation of one point (issue 19 part 2): BN recalibration over --bn images (train mode,
// batches of --batch), then train and test loss/error in eval mode over --train and --test
// images, on vgg11-w16 with BN (1 x 32 x 32 inputs, FC 128-128-10, as bench/train_peer.py), random
// weights with scrambled BN parameters and random data in memory. Sides:
//   closerlook plain  PointEvaluator with fast_engine = false (Network::forward, default layout)
//   closerlook fast   the engine (surface/bn_folding.h: BN folded, channels-last, InferenceMode)
//   pytorch eager     bench/eval_peer.py: model.eval(), torch.no_grad(), default layout
//   pytorch cl        the same with the model and data channels-last
// Rounds interleave C++ (plain, fast) and Python (eager, cl); each figure is the best round.
// Python reads the same weights (the checkpoint, torch.jit.load) and data (.npy), so its
// losses and error counts are compared with closerlook's. FLOPs per image: 2 x the conv/linear
// multiply-adds from the shapes (BN, ReLU and pooling not counted); fraction of the f32 GEMM
// ceiling from bench/ceiling's JSON (--ceiling) or, without it, a 1024^3 GEMM timed here.
//   eval_bench [--threads 2] [--bn 10240] [--train 10240] [--test 10240] [--batch 128] [--rounds 3]
//              [--python python3] [--peer bench/eval_peer.py] [--ceiling ceiling.json] [--out eval.json]
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/json_io.h"
#include "core/npy.h"
#include "core/runtime.h"
#include "models/factory.h"
#include "surface/bn_recalibration.h"
#include "surface/point_eval.h"
#include "surface/weights.h"

using namespace closerlook;

namespace {

struct Args {
  int threads = 2, rounds = 3;
  int64_t bn = 10240, train = 10240, test = 10240, batch = 128;
  std::string python = "python3", peer = "bench/eval_peer.py", ceiling, out;
};

// 2 x multiply-adds of the conv / linear layers of one forward pass, from the shapes.
double flops_per_image(Network& net, int64_t image) {
  double macs = 0;
  int64_t size = image;
  // vgg11: every conv keeps the size (3x3, padding 1), the pools halve it; walk the weights in order.
  const std::vector<int64_t> layout = {1, -1, 1, -1, 1, 1, -1, 1, 1, -1, 1, 1, -1};
  size_t li = 0;
  for (auto& [name, p] : net.named_parameters()) {
    if (name.find("weight") == std::string::npos) continue;
    if (p.dim() == 4) {
      while (li < layout.size() && layout[li] == -1) size /= 2, ++li;
      macs += double(p.numel()) * double(size * size);
      ++li;
    } else if (p.dim() == 2) {
      macs += double(p.numel());
    }
  }
  return 2 * macs;
}

double gemm_ceiling(const Args& a) {
  if (!a.ceiling.empty()) {
    auto j = read_json(a.ceiling);
    return j.at("ceiling_gflops").at("float32").at(std::to_string(a.threads)).get<double>();
  }
  auto x = torch::randn({1024, 1024}), y = torch::randn({1024, 1024}), z = torch::empty({1024, 1024});
  double best = 1e30;
  for (int r = 0; r < 6; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    torch::mm_out(z, x, y);
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return 2.0 * 1024 * 1024 * 1024 / best / 1e9;
}

std::string run_cmd(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) throw std::runtime_error("cannot run " + cmd);
  char buf[4096];
  while (fgets(buf, sizeof buf, p)) out += buf;
  if (pclose(p) != 0) throw std::runtime_error("peer failed: " + cmd + "\n" + out);
  return out;
}

}  // namespace

int main(int argc, char** argv) try {
  Args a;
  CLI::App app{"eval_bench: one evaluated point (BN recalibration, train/test loss and error), the engine and the "
               "plain path against PyTorch eager (bench/eval_peer.py), interleaved"};
  app.add_option("--threads", a.threads)->capture_default_str();
  app.add_option("--rounds", a.rounds, "Interleaved rounds (best of)")->capture_default_str();
  app.add_option("--bn", a.bn, "BN recalibration images")->capture_default_str();
  app.add_option("--train", a.train, "Train-loss images")->capture_default_str();
  app.add_option("--test", a.test, "Test-loss images")->capture_default_str();
  app.add_option("--batch", a.batch)->capture_default_str();
  app.add_option("--python", a.python, "The Python peer's interpreter")->capture_default_str();
  app.add_option("--peer", a.peer, "The Python peer script")->capture_default_str();
  app.add_option("--ceiling", a.ceiling, "ceiling.json of bench/ceiling (fraction-of-ceiling columns)");
  app.add_option("--out", a.out, "JSON output");
  CLI11_PARSE(app, argc, argv);
  init_threads(a.threads);
  ModelSpec spec;
  spec.family = "vgg";
  spec.layout = "vgg11";
  spec.width = 0.25;
  spec.batchnorm = true;
  spec.fc_hidden = {128, 128};
  spec.linear_init = "kaiming";  // logits that vary (the paper's N(0, 0.01) head is flat at init)
  NetworkPtr src = build_model(spec, 1);
  {  // BN parameters away from 1 / 0 so the folding has something to fold
    torch::NoGradGuard ng;
    torch::manual_seed(2);
    for (auto& [name, t] : src->named_parameters())
      if (t.dim() == 1 && name.rfind("features.", 0) == 0) t.add_(torch::randn_like(t) * 0.1);
  }
  torch::manual_seed(3);
  DataSplit data;
  const int64_t ntr = std::max(a.bn, a.train);
  data.train.images = torch::randn({ntr, 1, 32, 32});
  data.test.images = torch::randn({a.test, 1, 32, 32});
  // Labels from the network itself (plus noise) so the loss is not flat.
  for (auto* ds : {&data.train, &data.test}) {
    c10::InferenceMode g;
    src->train(false);
    std::vector<torch::Tensor> ys;
    for (int64_t s = 0; s < ds->images.size(0); s += 512)
      ys.push_back(src->forward(ds->images.narrow(0, s, std::min<int64_t>(512, ds->images.size(0) - s))).argmax(1));
    ds->labels = torch::cat(ys).clone();
    auto flip = torch::rand({ds->labels.size(0)}) < 0.3;
    ds->labels = torch::where(flip, torch::randint(0, 10, ds->labels.sizes(), torch::kInt64), ds->labels);
    ds->images = ds->images.clone();
    ds->num_classes = 10;
  }
  const auto dir = std::filesystem::temp_directory_path() / ("eval_bench_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  src->save((dir / "net.pt").string());
  write_npy((dir / "train_x.npy").string(), data.train.images);
  write_npy((dir / "train_y.npy").string(), data.train.labels);
  write_npy((dir / "test_x.npy").string(), data.test.images);
  write_npy((dir / "test_y.npy").string(), data.test.labels);

  EvalSettings plain;
  plain.fast_engine = false;
  plain.bn_samples = a.bn < ntr ? a.bn : 0;  // the first a.bn of one seeded permutation (as Python reads them)
  plain.train_samples = a.train < ntr ? a.train : 0;
  plain.batch_size = plain.bn_batch_size = a.batch;
  EvalSettings fast = plain;
  fast.fast_engine = true;
  NetworkPtr wp = build_model(spec, 1), wf = build_model(spec, 1);
  PointEvaluator evp(*wp, data, torch::kCPU, plain), evf(*wf, data, torch::kCPU, fast);
  if (!evf.uses_fast_engine()) throw std::runtime_error("the engine did not build for vgg11-w16");
  const torch::Tensor flat = flat_parameters(*src);
  // The BN parameters (gamma, beta) are parameters: load them; running stats are recomputed.
  using clock = std::chrono::steady_clock;
  auto timed = [&](PointEvaluator& ev, PointMetrics& m) {
    load_flat_parameters(ev.network(), flat);
    const auto t0 = clock::now();
    m = ev.evaluate_current();
    return std::chrono::duration<double>(clock::now() - t0).count();
  };
  // Python reads the same subsets: the evaluator's are prefixes of seeded_permutation, written out.
  const std::string peer_cmd = a.python + " " + a.peer + " --dir " + dir.string() + " --threads " +
                               std::to_string(a.threads) + " --bn " + std::to_string(a.bn) + " --train " +
                               std::to_string(a.train) + " --batch " + std::to_string(a.batch);
  {
    torch::Tensor perm = torch::arange(ntr, torch::kInt64);
    if (plain.bn_samples > 0 || plain.train_samples > 0) perm = seeded_permutation(ntr, plain.subset_seed);
    write_npy((dir / "perm.npy").string(), perm);
  }
  double best_p = 1e30, best_f = 1e30, best_py = 1e30, best_pycl = 1e30;
  PointMetrics mp, mf;
  nlohmann::json py;
  nlohmann::json rounds = nlohmann::json::array();
  PointMetrics warm;
  timed(evp, warm), timed(evf, warm);  // warm-up: first-call allocations, oneDNN primitive caches
  for (int r = 0; r < a.rounds; ++r) {
    const double sp = timed(evp, mp), sf = timed(evf, mf);
    py = nlohmann::json::parse(run_cmd(peer_cmd));
    best_p = std::min(best_p, sp);
    best_f = std::min(best_f, sf);
    best_py = std::min(best_py, py.at("eager_s").get<double>());
    best_pycl = std::min(best_pycl, py.at("channels_last_s").get<double>());
    rounds.push_back({{"plain_s", sp}, {"fast_s", sf}, {"py_eager_s", py["eager_s"]}, {"py_cl_s", py["channels_last_s"]}});
    const auto& tp = evp.last_timing();
    const auto& tf = evf.last_timing();
    std::fprintf(stderr,
                 "round %d: plain %.2fs (bn %.2f tr %.2f te %.2f) fast %.2fs (bn %.2f tr %.2f te %.2f) | py eager %.2fs cl %.2fs\n",
                 r, sp, tp.bn, tp.train, tp.test, sf, tf.bn, tf.train, tf.test, py["eager_s"].get<double>(),
                 py["channels_last_s"].get<double>());
    rounds.back()["plain_phases"] = {tp.bn, tp.train, tp.test};
    rounds.back()["fast_phases"] = {tf.bn, tf.train, tf.test};
  }
  const double images = double(a.bn + a.train + a.test);
  const double flops = flops_per_image(*src, 32), ceil = gemm_ceiling(a);
  auto side = [&](double s) {
    return nlohmann::json{{"s_per_point", s}, {"img_per_s", images / s},
                          {"gflops", flops * images / s / 1e9}, {"fraction_of_ceiling", flops * images / s / 1e9 / ceil}};
  };
  auto rel = [](double x, double y) { return std::fabs(x - y) / std::max(std::fabs(y), 1e-30); };
  const int64_t ntrain_eval = a.train, ntest = a.test;
  auto errs = [](double err, int64_t n) { return std::llround(err * double(n)); };
  nlohmann::json out = {
      {"workload", "evaluation of one point: BN recalibration + train/test loss and error, vgg11-w16+BN"},
      {"threads", a.threads}, {"bn_images", a.bn}, {"train_images", a.train}, {"test_images", a.test},
      {"batch", a.batch}, {"rounds", a.rounds}, {"torch_python", py.value("torch", "")},
      {"flops_per_image", flops}, {"f32_gemm_ceiling_gflops", ceil},
      {"closerlook_plain", side(best_p)}, {"closerlook_fast", side(best_f)},
      {"pytorch_eager", side(best_py)}, {"pytorch_channels_last", side(best_pycl)},
      {"ratio_fast_vs_eager", best_py / best_f}, {"ratio_fast_vs_channels_last", best_pycl / best_f},
      {"ratio_fast_vs_plain", best_p / best_f}, {"ratio_plain_vs_eager", best_py / best_p},
      {"values", {{"closerlook_fast", mf.to_json()}, {"closerlook_plain", mp.to_json()}, {"pytorch_eager", py["values"]}}},
      {"max_rel_diff_loss", {{"fast_vs_plain", std::max(rel(mf.tr_nll, mp.tr_nll), rel(mf.te_nll, mp.te_nll))},
                             {"fast_vs_pytorch", std::max(rel(mf.tr_nll, py["values"]["tr_nll"].get<double>()),
                                                          rel(mf.te_nll, py["values"]["te_nll"].get<double>()))}}},
      {"error_count_diff", {{"fast_vs_plain", {errs(mf.tr_err, ntrain_eval) - errs(mp.tr_err, ntrain_eval),
                                               errs(mf.te_err, ntest) - errs(mp.te_err, ntest)}},
                            {"fast_vs_pytorch", {errs(mf.tr_err, ntrain_eval) - py["values"]["tr_wrong"].get<int64_t>(),
                                                 errs(mf.te_err, ntest) - py["values"]["te_wrong"].get<int64_t>()}}}},
      {"rounds_detail", rounds},
      {"runtime", runtime_metadata()}};
  std::filesystem::remove_all(dir);
  if (!a.out.empty()) write_json(a.out, out);
  auto brief = out;
  brief.erase("rounds_detail");
  brief.erase("runtime");
  std::cout << brief.dump(2) << std::endl;
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "eval_bench: %s\n", e.what());
  return 1;
}
