// Plane directions (surface/directions.h): filter normalisation LL1, biasbn ignore LL3, seeded and
// near-orthogonal random directions, parity with loss-landscape's net_plotter.py (Python peer),
// and the streamed trajectory PCA against an exact SVD of the stacked rows (sklearn's PCA
// semantics), its reads, and its memory not growing with the number of checkpoints.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "../common/require.h"
#include "../common/tiny_net.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_io.h"
#include "core/npy.h"
#include "core/process_memory.h"
#include "surface/directions.h"
#include "surface/weights.h"

using namespace closerlook;
namespace fs = std::filesystem;

namespace {

torch::Tensor rows(std::initializer_list<std::initializer_list<double>> r) {
  std::vector<torch::Tensor> out;
  for (const auto& x : r) out.push_back(torch::tensor(std::vector<double>(x), torch::kFloat64));
  return torch::stack(out);
}

// sklearn's PCA(n_components=2) of the stacked rows w_t - w_final, by an exact SVD.
struct ReferencePca {
  torch::Tensor components;  // 2 x D
  std::vector<double> variance, ratio;
};
ReferencePca reference_pca(const std::vector<torch::Tensor>& ws, const torch::Tensor& wT) {
  auto R = torch::stack(ws) - wT;
  auto X = R - R.mean(0, true);
  auto [U, S, Vh] = torch::linalg_svd(X, false);
  ReferencePca r;
  r.components = Vh.slice(0, 0, 2).clone();
  for (int k = 0; k < 2; ++k) {  // svd_flip(u_based_decision=False)
    auto c = r.components[k];
    if (c[c.abs().argmax().item<int64_t>()].item<double>() < 0) c.neg_();
  }
  const double total = (S * S).sum().item<double>();
  for (int k = 0; k < 2; ++k) {
    const double l = S[k].item<double>() * S[k].item<double>();
    r.variance.push_back(l / double(ws.size() - 1));
    r.ratio.push_back(l / total);
  }
  return r;
}

}  // namespace

TEST(Directions, FilterNormalisationLL1) {
  auto W = rows({{3, 4, 0}, {0, 0, 2}}), D = rows({{1, 0, 0}, {0, 3, 4}});
  auto d = normalize_direction(D, W, DirectionNorm::Filter, DirectionIgnore::BiasBn);
  auto want = rows({{5, 0, 0}, {0, 1.2, 1.6}});
  EXPECT_LT((d - want).abs().max().item<double>(), 1e-9);
  // Every slice along dim 0 has the norm of the weight's slice (4-D conv weights too).
  auto gen = at::detail::createCPUGenerator(3);
  auto w4 = torch::randn({5, 3, 2, 2}, gen, torch::kFloat64), d4 = torch::randn({5, 3, 2, 2}, gen, torch::kFloat64);
  auto n4 = normalize_direction(d4, w4, DirectionNorm::Filter, DirectionIgnore::BiasBn);
  for (int64_t f = 0; f < 5; ++f)
    EXPECT_NEAR(n4[f].norm().item<double>(), w4[f].norm().item<double>(), 1e-10 * w4[f].norm().item<double>()) << f;
  // Layer: the whole tensor's norm; none: unchanged.
  auto nl = normalize_direction(d4, w4, DirectionNorm::Layer, DirectionIgnore::BiasBn);
  EXPECT_NEAR(nl.norm().item<double>(), w4.norm().item<double>(), 1e-10 * w4.norm().item<double>());
  EXPECT_TRUE(normalize_direction(d4, w4, DirectionNorm::None, DirectionIgnore::BiasBn).equal(d4));
  EXPECT_THROW(normalize_direction(d4, w4[0], DirectionNorm::Filter, DirectionIgnore::BiasBn), Error);
  EXPECT_THROW(parse_direction_norm("filters"), Error);
  EXPECT_THROW(parse_direction_ignore("bn"), Error);
}

TEST(Directions, OneDimensionalParametersGetZeroLL3) {
  closerlook::testing::TinyNet net(3, true, 3, 1);
  std::vector<torch::Tensor> ws;
  for (auto& [name, t] : net.named_parameters()) ws.push_back(t.detach());
  RandomDirectionOptions o;
  o.seed = 7;
  const auto r = random_directions(ws, o);
  ASSERT_EQ(r.d1.numel(), parameter_count(net));
  int64_t off = 0, one_d = 0;
  for (const auto& w : ws) {
    auto s1 = r.d1.slice(0, off, off + w.numel()), s2 = r.d2.slice(0, off, off + w.numel());
    if (w.dim() <= 1) {
      ++one_d;
      EXPECT_EQ(s1.count_nonzero().item<int64_t>(), 0);  // exactly zero
      EXPECT_EQ(s2.count_nonzero().item<int64_t>(), 0);
    } else {
      auto d = s1.reshape(w.sizes()), wd = w.to(torch::kFloat64);
      for (int64_t f = 0; f < w.size(0); ++f)
        EXPECT_NEAR(d[f].norm().item<double>(), wd[f].norm().item<double>(), 1e-9 * wd[f].norm().item<double>());
    }
    off += w.numel();
  }
  EXPECT_GT(one_d, 0);  // conv bias, BN weight and bias, linear bias
  EXPECT_EQ(r.zeroed_tensors, one_d);
  // ignore none: 1-D directions are copies of the weights (loss-landscape without --xignore).
  o.ignore = DirectionIgnore::None;
  const auto c = random_directions(ws, o);
  off = 0;
  for (const auto& w : ws) {
    if (w.dim() <= 1) EXPECT_TRUE(c.d1.slice(0, off, off + w.numel()).equal(w.to(torch::kFloat64).reshape({-1})));
    off += w.numel();
  }
  EXPECT_EQ(c.zeroed_tensors, 0);
  // The same draws for the dim > 1 tensors whatever the 1-D policy.
  EXPECT_TRUE(c.d1.slice(0, 0, ws[0].numel()).equal(r.d1.slice(0, 0, ws[0].numel())));
}

TEST(Directions, SeededReproducibleAndNearlyOrthogonal) {
  auto gen = at::detail::createCPUGenerator(11);
  std::vector<torch::Tensor> ws = {torch::randn({64, 32, 3, 3}, gen), torch::randn({64}, gen),
                                   torch::randn({10, 256}, gen), torch::randn({10}, gen)};
  RandomDirectionOptions o;
  o.seed = 42;
  const auto a = random_directions(ws, o), b = random_directions(ws, o);
  EXPECT_TRUE(a.d1.equal(b.d1));
  EXPECT_TRUE(a.d2.equal(b.d2));
  EXPECT_FALSE(a.d1.equal(a.d2));
  auto o2 = o;
  o2.seed = 43;
  EXPECT_FALSE(random_directions(ws, o2).d1.equal(a.d1));
  const double dim = double(64 * 32 * 9 + 10 * 256);
  EXPECT_LT(std::fabs(a.cosine), 4.0 / std::sqrt(dim)) << a.cosine;  // cos ~ N(0, 1/dim)
  EXPECT_NEAR(a.cosine, a.d1.dot(a.d2).item<double>() / (a.d1.norm() * a.d2.norm()).item<double>(), 1e-12);
  // Filter-normalised directions have the norm of the (dim > 1) weights.
  const double wn = std::sqrt(ws[0].to(torch::kFloat64).pow(2).sum().item<double>() +
                              ws[2].to(torch::kFloat64).pow(2).sum().item<double>());
  EXPECT_NEAR(a.norm1, wn, 1e-9 * wn);
  auto j = a.to_json(o);
  EXPECT_EQ(j["seed"], 42);
  EXPECT_EQ(j["norm"], "filter");
  EXPECT_EQ(j["ignore"], "biasbn");
}

// loss-landscape's own code (net_plotter.create_random_direction + normalize_directions_for_weights,
// copied into directions_oracle.py) on the same weights and seed gives the same directions.
TEST(Directions, MatchesLossLandscapeNetPlotterPython) {
  closerlook::testing::TinyNet net(4, true, 3, 5);
  const std::string dir = (fs::temp_directory_path() / ("cl_dirs_" + std::to_string(::getpid()))).string();
  fs::create_directories(dir);
  std::vector<torch::Tensor> ws;
  int i = 0;
  for (auto& [name, t] : net.named_parameters()) {
    ws.push_back(t.detach());
    write_npy(dir + "/p" + std::to_string(i++) + ".npy", t.detach());
  }
  const std::string cmd = std::string(CL_PYTHON) + " " + CL_SOURCE_DIR + "/tests/surface/directions_oracle.py " + dir +
                          " 123 " + std::to_string(i) + " > " + dir + "/log 2>&1";
  const int status = std::system(cmd.c_str());
  CL_REQUIRE_OR_SKIP(WIFEXITED(status) && WEXITSTATUS(status) != 77 && WEXITSTATUS(status) != 127,
                     "the Python peer " << CL_PYTHON << " lacks torch/numpy");
  ASSERT_EQ(WEXITSTATUS(status), 0) << read_file(dir + "/log");
  RandomDirectionOptions o;
  o.seed = 123;
  const auto r = random_directions(ws, o);
  auto x = read_npy(dir + "/x.npy").to(torch::kFloat64), y = read_npy(dir + "/y.npy").to(torch::kFloat64);
  ASSERT_EQ(x.numel(), r.d1.numel());
  // float32 in Python, float64 here: the same numbers to float32 rounding.
  EXPECT_LT((x - r.d1).abs().max().item<double>(), 1e-5 * r.d1.abs().max().item<double>());
  EXPECT_LT((y - r.d2).abs().max().item<double>(), 1e-5 * r.d2.abs().max().item<double>());
  fs::remove_all(dir);
}

TEST(TrajectoryPca, StreamedEqualsExactSvdOfTheStackedRows) {
  auto gen = at::detail::createCPUGenerator(21);
  const int64_t T = 9, D = 60;
  // A drifting trajectory with decreasing noise (a dominant direction and a second one).
  std::vector<torch::Tensor> ws;
  auto dir1 = torch::randn({D}, gen, torch::kFloat64), dir2 = torch::randn({D}, gen, torch::kFloat64);
  for (int64_t t = 0; t < T; ++t)
    ws.push_back(3.0 * t * dir1 + std::sin(double(t)) * dir2 + 0.3 * torch::randn({D}, gen, torch::kFloat64));
  const auto wT = ws.back().clone();  // the final iterate is one of the rows (a zero row), as loss-landscape
  const ReferencePca ref = reference_pca(ws, wT);
  for (int block : {1, 2, 4, 16}) {
    TrajectorySource src;
    src.size = T;
    src.load = [&](int64_t t) { return ws[t].clone(); };  // a fresh tensor, as a file read
    PcaOptions o;
    o.block = block;
    const PcaDirections p = trajectory_pca(src, wT, o);
    for (int k = 0; k < 2; ++k) {
      const auto& pc = k == 0 ? p.pc1 : p.pc2;
      EXPECT_LT((pc - ref.components[k]).abs().max().item<double>(), 1e-10) << "block " << block << " pc" << k + 1;
      EXPECT_NEAR(p.explained_variance[k], ref.variance[k], 1e-10 * ref.variance[0]) << block;
      EXPECT_NEAR(p.explained_variance_ratio[k], ref.ratio[k], 1e-10) << block;
    }
    EXPECT_NEAR(p.pc1.norm().item<double>(), 1.0, 1e-12);
    EXPECT_NEAR(p.pc1.dot(p.pc2).item<double>(), 0.0, 1e-12);
    // Reads: every row once per Gram block pass it is not held in, once in the pc stream.
    int64_t gram = 0;
    for (int64_t b0 = 0; b0 < T; b0 += block) gram += std::min<int64_t>(block, T - b0) + (T - std::min<int64_t>(T, b0 + block));
    EXPECT_EQ(p.loads, gram + T) << block;
  }
  // Degenerate inputs are refused.
  TrajectorySource two;
  two.size = 2;
  two.load = [&](int64_t t) { return ws[t]; };
  EXPECT_THROW(trajectory_pca(two, wT), Error);
  TrajectorySource line;  // collinear iterates: rank 1
  line.size = 5;
  line.load = [&](int64_t t) { return wT + double(t) * dir1; };
  EXPECT_THROW(trajectory_pca(line, wT), Error);
}

// Peak memory of the streamed PCA does not grow with the number of checkpoints: 256k-parameter
// iterates generated on the fly (2 MB each in float64); holding 30 of them would take 60 MB.
TEST(TrajectoryPca, MemoryDoesNotGrowWithTheNumberOfCheckpointsBench) {
#if defined(__SANITIZE_ADDRESS__)
  // ASan's quarantine keeps freed blocks resident, so RSS does not measure live memory there;
  // PlaneStream.StreamedProjectionsEqualInMemoryOnesOneAtATime (a live-vector counter) checks the same property under ASan.
  GTEST_SKIP() << "RSS is not live memory under AddressSanitizer (freed blocks are quarantined)";
#endif
  const int64_t D = 1 << 18;
  const double vec = double(D) * 8.0;
  auto measure = [&](int64_t T) {
    const auto wT = torch::zeros({D}, torch::kFloat64);
    double peak = 0;
    const double base = process_rss_bytes();
    TrajectorySource src;
    src.size = T;
    src.load = [&](int64_t t) {
      peak = std::max(peak, process_rss_bytes() - base);
      auto gen = at::detail::createCPUGenerator(1000 + t);
      auto w = torch::randn({D}, gen, torch::kFloat64);
      w[t % 7] += 50.0 * double(t);   // two growing directions
      w[7 + t % 3] += 20.0 * std::cos(double(t));
      return w;
    };
    PcaOptions o;
    o.block = 4;
    trajectory_pca(src, wT, o);
    return peak;
  };
  const double p10 = measure(10), p40 = measure(30);
  // block held + accumulators + temporaries: well under (block + 10) vectors, whatever T.
  EXPECT_LT(p40, 14 * vec) << "peak RSS growth " << p40 / vec << " vectors with 30 checkpoints";
  EXPECT_LT(p40, p10 + 4 * vec) << "10 checkpoints: " << p10 / vec << " vectors, 30: " << p40 / vec;
}
