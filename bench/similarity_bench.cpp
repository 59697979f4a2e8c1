// closerlook side of the "similarity" benchmark (benchmarks.md), driven by
// bench/similarity_bench.py, which interleaves one run of this program with one run of its numpy
// peers, k times. Reads the workload the script wrote (x0..x7.npy, y0..y7.npy: N x p float32)
// and times ONE run of each of
//   * CCA, SVCCA (99% variance), linear CKA and debiased CKA on the pair (x0, y0), each from
//     scratch (fresh Representations);
//   * the 8 x 8 SVCCA, CCA and linear-CKA layer maps (x_i vs y_j) through layer_by_layer, and the
//     linear-CKA map in --precision float32 mode.
// The timers include the conversion of the float32 inputs to float64 (the numpy peers time their
// astype(float64) too) and exclude reading the files. Prints one JSON object.
//
//   similarity_bench --dir DIR --threads 2 [--maps 1] [--layers 8]
//   similarity_bench --stream 10000,100000,1000000 --p 256 --threads 2   (debiased CKA, streamed)
//
// --stream: time and resident memory of the streamed debiased (and linear) CKA of X (N x p) and
// Y = X A + noise against N, fed in batches of 4096 rows generated on the fly (the data are never
// held whole, so memory should not grow with N); RSS from core/process_memory.h.
#include <torch/torch.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>

#include "core/error.h"
#include "core/npy.h"
#include "core/process_memory.h"
#include "similarity/similarity.h"
#include "similarity/similarity_map.h"
#include "similarity/streaming_cka.h"

#include <CLI/CLI.hpp>

using namespace closerlook;

namespace {

template <class F>
double timed(F&& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

nlohmann::json matrix_json(const torch::Tensor& m) {
  std::vector<std::vector<double>> v(m.size(0), std::vector<double>(m.size(1)));
  for (int64_t r = 0; r < m.size(0); ++r)
    for (int64_t c = 0; c < m.size(1); ++c) v[r][c] = m[r][c].item<double>();
  return v;
}


nlohmann::json stream_bench(const std::vector<int64_t>& ns, int64_t p, int64_t batch) {
  nlohmann::json rows = nlohmann::json::array();
  torch::NoGradGuard no_grad;
  torch::manual_seed(0);
  const auto a = torch::randn({p, p}, torch::kFloat32) / std::sqrt(double(p));
  for (int64_t n : ns) {
    CkaAccumulator acc({"x", "y"}, {p, p}, {{0, 1}});
    double t_acc = 0.0, rss_peak = 0.0;
    const double rss0 = process_rss_bytes();
    for (int64_t s = 0; s < n; s += batch) {
      const int64_t b = std::min(batch, n - s);
      auto x = torch::randn({b, p}, torch::kFloat32);
      auto y = x.mm(a) + torch::randn({b, p}, torch::kFloat32);
      t_acc += timed([&] { acc.add({x, y}); });
      rss_peak = std::max(rss_peak, process_rss_bytes());
    }
    double deb = 0.0, lin = 0.0;
    t_acc += timed([&] {
      deb = acc.debiased_cka()[0];
      lin = acc.linear_cka()[0];
    });
    rows.push_back({{"n", n}, {"p", p}, {"batch", batch}, {"seconds", t_acc}, {"debiased_cka", deb},
                    {"linear_cka", lin}, {"rss_start_mb", rss0 / 1e6}, {"rss_peak_mb", rss_peak / 1e6},
                    // 3 p x p products (X^T X, Y^T Y, X^T Y) of 2 n p^2 FLOPs each
                    {"gflop", 3.0 * 2.0 * double(n) * double(p) * double(p) / 1e9}});
    std::cerr << "stream n=" << n << " p=" << p << ": " << t_acc << " s, RSS peak " << rss_peak / 1e6 << " MB\n";
  }
  return rows;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir;
  std::vector<int64_t> stream;
  int threads = 2, maps = 1, layers = 8;
  int64_t p_stream = 256, batch = 4096;
  CLI::App app{"similarity_bench: the C++ side of bench/similarity_bench.py (maps over saved activations, or "
               "debiased CKA streamed over N)"};
  auto* dir_opt = app.add_option("--dir", dir, "Folder of activations written by similarity_bench.py");
  auto* stream_opt = app.add_option("--stream", stream, "Streamed debiased CKA at these N, comma-separated")->delimiter(',');
  dir_opt->excludes(stream_opt);
  app.add_option("--threads", threads)->capture_default_str();
  app.add_option("--maps", maps, "Timed repeats of each map")->capture_default_str();
  app.add_option("--layers", layers, "Layers per side of a map")->capture_default_str();
  app.add_option("--p", p_stream, "--stream: features")->capture_default_str();
  app.add_option("--batch", batch, "--stream: rows per chunk")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (dir.empty() && stream.empty()) {
    std::cerr << app.help() << "\nneeds --dir or --stream\n";
    return 2;
  }
  try {
    at::set_num_threads(threads);
    nlohmann::json out;
    out["threads"] = at::get_num_threads();
    out["torch"] = TORCH_VERSION;
    if (!stream.empty()) {
      out["stream"] = stream_bench(stream, p_stream, batch);
      std::cout << out.dump() << std::endl;
      return 0;
    }
    std::vector<NamedTensor> xs, ys;
    for (int i = 0; i < layers; ++i) {
      xs.emplace_back("x" + std::to_string(i), read_npy(dir + "/x" + std::to_string(i) + ".npy"));
      ys.emplace_back("y" + std::to_string(i), read_npy(dir + "/y" + std::to_string(i) + ".npy"));
    }
    out["n"] = xs[0].second.size(0);
    out["p"] = xs[0].second.size(1);
    SimilarityOptions o;
    nlohmann::json pair;
    for (Measure m : {Measure::Cca, Measure::Svcca, Measure::CkaLinear, Measure::CkaDebiased}) {
      double value = 0.0;
      const double t = timed([&] { value = similarity(xs[0].second, ys[0].second, m, o).value; });
      pair[measure_name(m)] = {{"seconds", t}, {"value", value}};
    }
    out["pair"] = pair;
    if (maps) {
      nlohmann::json mj;
      struct Variant {
        std::string name;
        Measure m;
        Precision prec;
      };
      for (const Variant& v : {Variant{"svcca", Measure::Svcca, Precision::Float64},
                               Variant{"cca", Measure::Cca, Precision::Float64},
                               Variant{"cka-linear", Measure::CkaLinear, Precision::Float64},
                               Variant{"cka-linear-f32", Measure::CkaLinear, Precision::Float32}}) {
        SimilarityMap map;
        auto ov = o;
        ov.precision = v.prec;
        const double t = timed([&] { map = layer_by_layer(xs, ys, v.m, ov); });
        mj[v.name] = {{"seconds", t},
                      {"values", matrix_json(map.values)},
                      {"warnings", map.warnings},
                      {"route", map.settings.value("route", "")}};
      }
      out["maps"] = mj;
    }
    std::cout << out.dump() << std::endl;
  } catch (const std::exception& e) {
    std::cerr << "similarity_bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
