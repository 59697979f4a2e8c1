// The machine's ceiling (issue 19, part 1): dense GEMM GFLOP/s of this LibTorch build, float32
// and float64, at 1 and 2 threads (or --threads LIST), which every other bench row divides by.
//
// FLOPs are counted from the formula: C (m x n) = A (m x k) B (k x n) costs m n k multiplications
// and m n k additions, i.e. 2 m n k floating-point operations (the accumulation into C counted as
// k additions per entry, as BLAS benchmarks do). GFLOP/s = 2 m n k / seconds / 1e9.
//
// Shapes: square n x n for n in --sizes (default 1024, 2048: compute-bound, n^3 work on n^2 data),
// and the similarity maps' shape, X^T Y with X (10,000 x 4,096) and Y (10,000 x 512) row-major
// (--tall), because that is where a CKA map spends its time and MKL's speed differs by shape.
// Each figure is the best of --repeat timed calls after --warmup untimed ones, into a
// preallocated output (torch::mm_out: no allocation inside the timer).
//
//   ceiling --out ceiling.json [--threads 1,2] [--sizes 1024,2048] [--repeat 5] [--warmup 2] [--tall 1]
#include <torch/torch.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <CLI/CLI.hpp>

namespace {


// Best seconds of `repeat` calls of C = A B (A m x k, B k x n, both as given, possibly transposed views).
double best_gemm(const torch::Tensor& a, const torch::Tensor& b, int warmup, int repeat) {
  auto c = torch::empty({a.size(0), b.size(1)}, a.options());
  for (int i = 0; i < warmup; ++i) torch::mm_out(c, a, b);
  double best = 1e300;
  for (int r = 0; r < repeat; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    torch::mm_out(c, a, b);
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  std::string out_path = "ceiling.json";
  std::vector<int64_t> threads_list = {1, 2}, sizes = {1024, 2048};
  int repeat = 5, warmup = 2, tall = 1;
  CLI::App app{"ceiling: f32 and f64 GEMM GFLOP/s, the ceiling every benchmark row divides by"};
  app.add_option("--out", out_path, "JSON output")->capture_default_str();
  app.add_option("--threads", threads_list, "Thread counts, comma-separated")->delimiter(',')->capture_default_str();
  app.add_option("--sizes", sizes, "Square GEMM sizes, comma-separated")->delimiter(',')->capture_default_str();
  app.add_option("--repeat", repeat, "Timed repeats per size")->capture_default_str();
  app.add_option("--warmup", warmup, "Untimed repeats first")->capture_default_str();
  app.add_option("--tall", tall, "Also time the tall-skinny shapes of the similarity maps (0/1)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  torch::NoGradGuard no_grad;
  torch::manual_seed(0);
  nlohmann::json rows = nlohmann::json::array();
  // ceiling[dtype][threads] = the best GFLOP/s over the square sizes: what other rows divide by.
  nlohmann::json ceiling = nlohmann::json::object();
  for (int64_t threads : threads_list) {
    at::set_num_threads(int(threads));
    for (auto dtype : {torch::kFloat32, torch::kFloat64}) {
      const std::string dname = dtype == torch::kFloat32 ? "float32" : "float64";
      double best_sq = 0.0;
      for (int64_t n : sizes) {
        auto a = torch::randn({n, n}, torch::TensorOptions().dtype(dtype));
        auto b = torch::randn({n, n}, torch::TensorOptions().dtype(dtype));
        const double s = best_gemm(a, b, warmup, repeat);
        const double gflops = 2.0 * double(n) * double(n) * double(n) / s / 1e9;
        best_sq = std::max(best_sq, gflops);
        rows.push_back({{"shape", "square"}, {"m", n}, {"n", n}, {"k", n}, {"dtype", dname}, {"threads", threads},
                        {"seconds", s}, {"gflops", gflops}});
        std::cerr << dname << " " << threads << " thread(s) " << n << "^3: " << gflops << " GFLOP/s\n";
      }
      ceiling[dname][std::to_string(threads)] = best_sq;
      if (tall) {
        const int64_t rows_n = 10000, p = 4096, q = 512;
        auto x = torch::randn({rows_n, p}, torch::TensorOptions().dtype(dtype));
        auto y = torch::randn({rows_n, q}, torch::TensorOptions().dtype(dtype));
        const double s = best_gemm(x.t(), y, warmup, repeat);
        const double gflops = 2.0 * double(rows_n) * double(p) * double(q) / s / 1e9;
        rows.push_back({{"shape", "XtY"}, {"m", p}, {"n", q}, {"k", rows_n}, {"dtype", dname}, {"threads", threads},
                        {"seconds", s}, {"gflops", gflops}, {"fraction_of_ceiling", gflops / best_sq}});
        std::cerr << dname << " " << threads << " thread(s) X^T Y (" << p << "x" << rows_n << ")(" << rows_n << "x"
                  << q << "): " << gflops << " GFLOP/s\n";
      }
    }
  }
  nlohmann::json out;
  out["bench"] = "ceiling";
  out["torch"] = TORCH_VERSION;
  out["flops"] = "2 m n k per GEMM";
  out["repeat"] = repeat;
  out["warmup"] = warmup;
  out["rows"] = rows;
  out["ceiling_gflops"] = ceiling;
  std::ofstream f(out_path);
  f << out.dump(2) << "\n";
  std::cout << out.dump() << std::endl;
  return f ? 0 : 1;
}
