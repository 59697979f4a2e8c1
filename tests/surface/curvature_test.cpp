// Curvature (train/curvature.h) against exact answers: quadratics with a known Hessian
// (eigenvalues, blocks, traces, Hutchinson exact on a diagonal Hessian) and a small MLP network
// against torch.autograd.functional.hessian in the Python peer (float64).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "../common/require.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_io.h"
#include "core/npy.h"
#include "models/factory.h"
#include "train/curvature.h"

namespace fs = std::filesystem;
using namespace closerlook;

namespace {

// 0.5 w'Aw over two parameters "a.weight" [3, 4] and "b.weight" [2, 9] (30 values), the loss
// split over `batches` equal shares. A = Q diag(lambda) Q' with a seeded orthogonal Q.
struct Quadratic {
  torch::Tensor A;
  HessianProblem problem;
};
Quadratic quadratic(const torch::Tensor& lambda, bool rotate, int64_t batches = 1) {
  const int64_t n = lambda.numel();
  torch::manual_seed(3);
  torch::Tensor q = rotate ? std::get<0>(torch::linalg_qr(torch::randn({n, n}, torch::kFloat64))) : torch::eye(n, torch::kFloat64);
  Quadratic out;
  out.A = q.matmul(torch::diag(lambda)).matmul(q.t());
  torch::Tensor a = torch::randn({3, 4}, torch::kFloat64).requires_grad_(true);
  torch::Tensor b = torch::randn({2, 9}, torch::kFloat64).requires_grad_(true);
  out.problem.params = {a, b};
  out.problem.param_names = {"a.weight", "b.weight"};
  out.problem.num_batches = batches;
  torch::Tensor A = out.A;
  out.problem.batch_loss = [a, b, A, batches](int64_t) {
    torch::Tensor w = torch::cat({a.reshape({-1}), b.reshape({-1})});
    return 0.5 * w.dot(A.mv(w)) / static_cast<double>(batches);
  };
  return out;
}

std::vector<double> top(const torch::Tensor& symmetric, int k) {
  torch::Tensor v = torch::linalg_eigvalsh(symmetric).flip(0);
  std::vector<double> out;
  for (int i = 0; i < k; ++i) out.push_back(v[i].item<double>());
  return out;
}

}  // namespace

TEST(Curvature, LayerBlocksGroupWeightsWithTheirBiasAndBatchNorm) {
  std::vector<std::string> names = {"features.0.weight", "features.0.bias", "features.1.weight", "features.1.bias",
                                    "features.3.weight", "classifier.0.weight", "classifier.0.bias"};
  std::vector<torch::Tensor> ps = {torch::zeros({4, 1, 3, 3}), torch::zeros({4}), torch::zeros({4}), torch::zeros({4}),
                                   torch::zeros({8, 4, 3, 3}), torch::zeros({10, 8}), torch::zeros({10})};
  auto blocks = layer_blocks(names, ps);
  ASSERT_EQ(blocks.size(), 3u);
  EXPECT_EQ(blocks[0].name, "features.0");
  EXPECT_EQ(blocks[0].params, (std::vector<size_t>{0, 1, 2, 3}));  // conv + bias + BN
  EXPECT_EQ(blocks[0].numel, 36 + 4 + 4 + 4);
  EXPECT_EQ(blocks[1].name, "features.3");
  EXPECT_EQ(blocks[2].name, "classifier.0");
  EXPECT_EQ(blocks[2].numel, 90);
}

// Known spectrum: well-separated top eigenvalues, a bulk near zero and negative ones.
TEST(Curvature, QuadraticTopEigenvaluesTraceAndBlocksAreExact) {
  torch::Tensor lambda = torch::cat({torch::tensor({10.0, 6.0, 4.0, 3.0, 2.5}, torch::kFloat64),
                                     torch::linspace(-0.5, 1.0, 25, torch::kFloat64)});
  for (int64_t batches : {1, 3}) {
    Quadratic q = quadratic(lambda, /*rotate=*/true, batches);
    CurvatureOptions o;
    o.top_k = 5;
    o.steps = 30;  // = the dimension: Lanczos is exact
    o.layer_steps = 30;
    o.trace_samples = 4000;
    CurvatureResult r = compute_curvature(q.problem, o);
    ASSERT_EQ(r.network.eigenvalues.size(), 5u);
    const std::vector<double> want = {10, 6, 4, 3, 2.5};
    for (int i = 0; i < 5; ++i) {
      EXPECT_NEAR(r.network.eigenvalues[i], want[i], 1e-8) << i << " batches " << batches;
      EXPECT_LT(r.network.residuals[i], 1e-6);
    }
    // Hutchinson is unbiased: within 4 standard errors of tr(A), and the se is the right size
    // (Rademacher variance 2 sum_{i != j} A_ij^2).
    const double tr = q.A.trace().item<double>();
    EXPECT_NEAR(r.network.trace, tr, 4 * r.network.trace_se);
    const double off2 = (q.A.pow(2).sum() - q.A.diag().pow(2).sum()).item<double>();
    EXPECT_NEAR(r.network.trace_se, std::sqrt(2 * off2 / o.trace_samples), 0.2 * std::sqrt(2 * off2 / o.trace_samples));
    // Blocks: the diagonal blocks' own spectra and traces.
    ASSERT_EQ(r.blocks.size(), 2u);
    const torch::Tensor Aaa = q.A.slice(0, 0, 12).slice(1, 0, 12), Abb = q.A.slice(0, 12, 30).slice(1, 12, 30);
    for (int i = 0; i < 5; ++i) {
      EXPECT_NEAR(r.blocks[0].eigenvalues[i], top(Aaa, 5)[i], 1e-8);
      EXPECT_NEAR(r.blocks[1].eigenvalues[i], top(Abb, 5)[i], 1e-8);
    }
    EXPECT_NEAR(r.blocks[0].trace, Aaa.trace().item<double>(), 4 * r.blocks[0].trace_se + 1e-9);
    EXPECT_NEAR(r.blocks[1].trace, Abb.trace().item<double>(), 4 * r.blocks[1].trace_se + 1e-9);
    // Each block's Lanczos stops at its own dimension (an invariant subspace: beta = 0).
    EXPECT_EQ(r.hvps, 30 + 12 + 18 + 4000);
  }
}

// A diagonal Hessian: every Rademacher probe gives the exact trace (z_i^2 = 1), se 0; a few
// Lanczos steps already find the isolated top eigenvalue.
TEST(Curvature, HutchinsonIsExactOnADiagonalHessianAndFewStepsFindTheTop) {
  torch::Tensor lambda = torch::cat({torch::tensor({50.0}, torch::kFloat64), torch::linspace(0.0, 1.0, 29, torch::kFloat64)});
  Quadratic q = quadratic(lambda, /*rotate=*/false);
  CurvatureOptions o;
  o.top_k = 1;
  o.steps = 8;
  o.trace_samples = 3;
  o.per_layer = false;
  CurvatureResult r = compute_curvature(q.problem, o);
  EXPECT_NEAR(r.network.trace, lambda.sum().item<double>(), 1e-9);
  EXPECT_NEAR(r.network.trace_se, 0.0, 1e-9);
  EXPECT_NEAR(r.network.eigenvalues[0], 50.0, 1e-6);
  EXPECT_TRUE(r.blocks.empty());
}

// SLQ: the density integrates to 1 and its mean is tr(H)/n (the first moment of the spectral
// measure is exact for Lanczos quadrature in expectation; with full-dimension runs, exactly
// mean(lambda) per run up to the start vector's weights).
TEST(Curvature, DensityIntegratesToOneAndPutsMassWhereTheEigenvaluesAre) {
  torch::Tensor lambda = torch::cat({torch::full({10}, 5.0, torch::kFloat64), torch::full({20}, 1.0, torch::kFloat64)});
  Quadratic q = quadratic(lambda, /*rotate=*/true);
  CurvatureOptions o;
  o.top_k = 1;
  o.steps = 10;
  o.trace_samples = 0;
  o.per_layer = false;
  o.density_runs = 20;
  o.density_grid = 400;
  o.density_sigma = 0.1;
  CurvatureResult r = compute_curvature(q.problem, o);
  ASSERT_EQ(r.density.size(), 400u);
  double mass = 0, mass_high = 0, first_moment = 0;
  for (size_t i = 0; i + 1 < r.density.size(); ++i) {
    const double dx = r.density_grid[i + 1] - r.density_grid[i];
    mass += r.density[i] * dx;
    first_moment += r.density[i] * r.density_grid[i] * dx;
    if (r.density_grid[i] > 3) mass_high += r.density[i] * dx;
  }
  EXPECT_NEAR(mass, 1.0, 1e-3);
  EXPECT_NEAR(mass_high, 10.0 / 30.0, 0.1);  // a third of the eigenvalues sit at 5
  EXPECT_NEAR(first_moment, lambda.mean().item<double>(), 0.15);
  EXPECT_TRUE(std::isnan(r.network.trace));
}

TEST(Curvature, RejectsBadOptions) {
  Quadratic q = quadratic(torch::ones({30}, torch::kFloat64), false);
  CurvatureOptions o;
  o.top_k = 6;
  o.steps = 5;
  EXPECT_THROW(compute_curvature(q.problem, o), Error);
}

// A small MLP network (models/mlp, float32) on random data, against the exact Hessian of the
// same function in float64 (torch.autograd.functional.hessian in the Python peer).
TEST(Curvature, MlpNetworkMatchesTorchAutogradHessian) {
  ModelSpec spec;
  spec.family = "mlp";
  spec.layout = "mlp";
  spec.batchnorm = false;
  spec.fc_hidden = {};
  spec.mlp_hidden = {6};
  spec.in_channels = 1;
  spec.image_size = 4;
  spec.num_classes = 3;
  auto net = build_model(spec, 11);
  torch::manual_seed(5);
  Dataset ds;
  ds.name = "random/train";
  ds.images = torch::randn({40, 1, 4, 4});
  ds.labels = torch::randint(0, 3, {40}, torch::kInt64);
  ds.num_classes = 3;
  const std::string dir = (fs::temp_directory_path() / ("cl_curv_" + std::to_string(::getpid()))).string();
  fs::create_directories(dir);
  write_npy(dir + "/x.npy", ds.images);
  write_npy(dir + "/y.npy", ds.labels);
  int i = 0;
  for (auto& [name, t] : net->named_parameters()) write_npy(dir + "/p" + std::to_string(i++) + ".npy", t.detach());
  ASSERT_EQ(i, 4);
  const std::string cmd = std::string(CL_PYTHON) + " " + CL_SOURCE_DIR + "/tests/surface/hessian_oracle.py " + dir +
                          " > " + dir + "/log 2>&1";
  const int status = std::system(cmd.c_str());
  CL_REQUIRE_OR_SKIP(WIFEXITED(status) && WEXITSTATUS(status) != 77 && WEXITSTATUS(status) != 127,
                     "the Python peer " << CL_PYTHON << " lacks torch/numpy");
  ASSERT_EQ(WEXITSTATUS(status), 0) << read_file(dir + "/log");
  const auto oracle = read_json(dir + "/oracle.json");

  CurvatureOptions o;
  o.top_k = 3;
  o.steps = 60;
  o.layer_steps = 40;
  o.trace_samples = 400;
  CurvatureResult r = compute_curvature(network_problem(*net, ds, 40, 16, torch::kCPU), o);
  const double scale = oracle["eigenvalues"][0].get<double>();
  ASSERT_GT(scale, 0);
  for (int k = 0; k < 3; ++k)
    EXPECT_NEAR(r.network.eigenvalues[k], oracle["eigenvalues"][k].get<double>(), 1e-4 * scale) << k;
  EXPECT_NEAR(r.network.trace, oracle["trace"].get<double>(), 4 * r.network.trace_se);
  ASSERT_EQ(r.blocks.size(), 2u);
  for (int b = 0; b < 2; ++b) {
    EXPECT_NEAR(r.blocks[b].eigenvalues[0], oracle["blocks"][b]["eigenvalues"][0].get<double>(), 1e-4 * scale) << b;
    EXPECT_NEAR(r.blocks[b].trace, oracle["blocks"][b]["trace"].get<double>(), 4 * r.blocks[b].trace_se + 1e-6) << b;
  }
  // The cross-entropy Hessian of a network is not PSD in general, but its top eigenvalue
  // dominates the smallest in this regime; the blocks' top values are below the network's.
  EXPECT_LE(r.blocks[0].eigenvalues[0], r.network.eigenvalues[0] * (1 + 1e-4));
  EXPECT_LE(r.blocks[1].eigenvalues[0], r.network.eigenvalues[0] * (1 + 1e-4));
  fs::remove_all(dir);
}
