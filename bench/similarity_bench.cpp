// closerlook side of the "similarity" benchmark (benchmarks.md). Reads the workload written by
// bench/similarity_bench.py (x0..x7.npy, y0..y7.npy: N x p float32), times
//   * CCA, SVCCA (99% variance), linear CKA and debiased CKA on the pair (x0, y0), each from
//     scratch (fresh Representations), and
//   * the 8 x 8 SVCCA and linear-CKA layer maps (x_i vs y_j) through layer_by_layer,
// and prints one JSON object with the times (best of --repeat) and the values, which the Python
// script compares with its numpy peers.
//
//   similarity_bench --dir DIR --threads 2 [--repeat 3] [--maps 1]
#include <torch/torch.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>

#include "core/error.h"
#include "core/npy.h"
#include "similarity/similarity.h"
#include "similarity/similarity_map.h"

using namespace closerlook;

namespace {

template <class F>
double best_of(int repeat, F&& f) {
  double best = 1e300;
  for (int r = 0; r < repeat; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

nlohmann::json matrix_json(const torch::Tensor& m) {
  std::vector<std::vector<double>> v(m.size(0), std::vector<double>(m.size(1)));
  for (int64_t r = 0; r < m.size(0); ++r)
    for (int64_t c = 0; c < m.size(1); ++c) v[r][c] = m[r][c].item<double>();
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir;
  int threads = 2, repeat = 3, maps = 1, layers = 8;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--dir") dir = v;
    else if (k == "--threads") threads = std::stoi(v);
    else if (k == "--repeat") repeat = std::stoi(v);
    else if (k == "--maps") maps = std::stoi(v);
    else if (k == "--layers") layers = std::stoi(v);
    else {
      std::cerr << "unknown option " << k << "\n";
      return 2;
    }
  }
  if (dir.empty()) {
    std::cerr << "usage: similarity_bench --dir DIR [--threads 2] [--repeat 3] [--maps 1] [--layers 8]\n";
    return 2;
  }
  try {
    at::set_num_threads(threads);
    std::vector<NamedTensor> xs, ys;
    for (int i = 0; i < layers; ++i) {
      xs.emplace_back("x" + std::to_string(i), read_npy(dir + "/x" + std::to_string(i) + ".npy"));
      ys.emplace_back("y" + std::to_string(i), read_npy(dir + "/y" + std::to_string(i) + ".npy"));
    }
    nlohmann::json out;
    out["threads"] = at::get_num_threads();
    out["n"] = xs[0].second.size(0);
    out["p"] = xs[0].second.size(1);
    SimilarityOptions o;
    nlohmann::json pair;
    for (Measure m : {Measure::Cca, Measure::Svcca, Measure::CkaLinear, Measure::CkaDebiased}) {
      double value = 0.0;
      const double t = best_of(repeat, [&] { value = similarity(xs[0].second, ys[0].second, m, o).value; });
      pair[measure_name(m)] = {{"seconds", t}, {"value", value}};
    }
    out["pair"] = pair;
    if (maps) {
      nlohmann::json mj;
      for (Measure m : {Measure::Svcca, Measure::CkaLinear}) {
        SimilarityMap map;
        const double t = best_of(repeat, [&] { map = layer_by_layer(xs, ys, m, o); });
        mj[measure_name(m)] = {{"seconds", t}, {"values", matrix_json(map.values)}, {"warnings", map.warnings}};
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
