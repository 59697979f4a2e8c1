// Curvature over several processes (train/curvature.h shard_batches, `closerlook curvature` under
// a launcher): the subset's batches are split over the ranks and every Hessian-vector product is
// all-reduced, so two processes give the same eigenvalues (network, every layer block), traces
// and density as one process to 1e-6 relative: with an uneven split (5 batches: 3 + 2), with a
// rank that has no batch at all, and through the real command (rank 0 alone writes and prints).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "../common/tiny_net.h"
#include "core/json_io.h"
#include "dist/rendezvous.h"
#include "multiprocess.h"
#include "train/curvature.h"
#include "train/run_training.h"

using namespace closerlook;
using namespace closerlook::testing;
namespace fs = std::filesystem;

namespace {

// The same problem in every process: a tiny conv net with BN (eval mode) on `examples` images in
// batches of 16.
struct CurvSetup {
  DataSplit data = tiny_split(96, 8);
  TinyNet net{3, true, 3, 21};
  CurvatureOptions opts;
  explicit CurvSetup() {
    at::set_num_threads(1);
    opts.top_k = 4;
    opts.steps = 12;
    opts.layer_steps = 6;
    opts.trace_samples = 6;
    opts.density_runs = 2;
    opts.density_grid = 40;
    opts.seed = 3;
  }
  HessianProblem problem(int64_t examples) { return network_problem(net, data.train, examples, 16, torch::kCPU); }
};

// Relative difference of two JSON number arrays (nulls must match).
void expect_close(const nlohmann::json& a, const nlohmann::json& b, const std::string& what, double tol) {
  ASSERT_EQ(a.is_array(), b.is_array()) << what;
  if (!a.is_array()) {
    if (a.is_null() || b.is_null()) {
      EXPECT_EQ(a.is_null(), b.is_null()) << what;
      return;
    }
    const double x = a.get<double>(), y = b.get<double>();
    EXPECT_LE(std::abs(x - y), tol * std::max(1e-12, std::abs(y))) << what << ": " << x << " vs " << y;
    return;
  }
  ASSERT_EQ(a.size(), b.size()) << what;
  double scale = 0;
  for (const auto& v : b)
    if (v.is_number()) scale = std::max(scale, std::abs(v.get<double>()));
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].is_number(), b[i].is_number()) << what << "[" << i << "]";
    if (!a[i].is_number()) continue;
    // Relative to the array's scale: a Ritz value near 0 is compared at the spectrum's scale.
    EXPECT_LE(std::abs(a[i].get<double>() - b[i].get<double>()), tol * std::max(1e-12, scale))
        << what << "[" << i << "]: " << a[i] << " vs " << b[i];
  }
}

void expect_same_curvature(const nlohmann::json& dist, const nlohmann::json& single, double tol) {
  expect_close(dist["network"]["eigenvalues"], single["network"]["eigenvalues"], "network eigenvalues", tol);
  expect_close(dist["network"]["trace"], single["network"]["trace"], "network trace", tol);
  expect_close(dist["network"]["trace_se"], single["network"]["trace_se"], "network trace_se", tol);
  ASSERT_EQ(dist["blocks"].size(), single["blocks"].size());
  ASSERT_GE(single["blocks"].size(), 2u);
  for (size_t b = 0; b < single["blocks"].size(); ++b) {
    const std::string name = single["blocks"][b]["name"];
    EXPECT_EQ(dist["blocks"][b]["name"], name);
    expect_close(dist["blocks"][b]["eigenvalues"], single["blocks"][b]["eigenvalues"], name + " eigenvalues", tol);
    expect_close(dist["blocks"][b]["trace"], single["blocks"][b]["trace"], name + " trace", tol);
  }
  if (single.contains("density")) {
    ASSERT_TRUE(dist.contains("density"));
    expect_close(dist["density"]["density"], single["density"]["density"], "density", tol);
  }
  EXPECT_EQ(dist["hvps"], single["hvps"]) << "the same Lanczos: the same number of products";
}

}  // namespace

TEST(DistChild, Curvature) {
  if (!role()) GTEST_SKIP() << "child role (started by CurvatureDist.*)";
  auto comm = connect_from_env();
  CurvSetup s;
  Communicator* c = comm.get();
  const ProductReduction red{c->rank(), c->size(), [c](std::vector<torch::Tensor>& hv) { c->allreduce_many_(hv); }};
  const int64_t examples = std::stoll(env_or("CL_TEST_EXAMPLES", "80"));
  HessianProblem p = shard_batches(s.problem(examples), red);
  const int64_t total = (examples + 15) / 16;
  EXPECT_EQ(p.num_batches, total / 2 + (c->rank() < total % 2 ? 1 : 0)) << "batches b with b % 2 == rank";
  const auto r = compute_curvature(p, s.opts);
  write_json(env_or("CL_TEST_OUT", "") + "/rank" + std::to_string(c->rank()) + ".json", r.to_json());
}

// 80 examples in batches of 16: 5 batches, 3 on rank 0 and 2 on rank 1.
TEST(CurvatureDist, TwoRanksEqualOneRankWithAnUnevenSplit) {
  const auto dir = temp_dir("curv_uneven");
  auto cs = run_ranks("DistChild.Curvature", "curvature", 2, dir, {{"CL_TEST_OUT", dir}, {"CL_TEST_EXAMPLES", "80"}});
  for (const auto& c : cs) ASSERT_EQ(c.status, 0) << describe(cs);
  CurvSetup s;
  const auto single = compute_curvature(s.problem(80), s.opts).to_json();
  ASSERT_GT(single["network"]["eigenvalues"][0].get<double>(), 0.0);
  const auto r0 = read_json(dir + "/rank0.json"), r1 = read_json(dir + "/rank1.json");
  expect_same_curvature(r0, single, 1e-6);
  expect_same_curvature(r1, single, 1e-6);
  EXPECT_EQ(r0["network"]["eigenvalues"], r1["network"]["eigenvalues"]) << "every rank runs the same Lanczos";
  // The test can fail: a rank that forgot the other's batches measures another Hessian.
  CurvSetup part;
  const auto alone = compute_curvature(shard_batches(part.problem(80), {0, 2, [](std::vector<torch::Tensor>&) {}}), part.opts).to_json();
  EXPECT_GT(std::abs(alone["network"]["eigenvalues"][0].get<double>() - single["network"]["eigenvalues"][0].get<double>()),
            1e-3 * single["network"]["eigenvalues"][0].get<double>());
  fs::remove_all(dir);
}

// 12 examples: one batch; rank 1 has none and still takes part in every reduction.
TEST(CurvatureDist, ARankWithoutBatches) {
  const auto dir = temp_dir("curv_empty");
  auto cs = run_ranks("DistChild.Curvature", "curvature", 2, dir, {{"CL_TEST_OUT", dir}, {"CL_TEST_EXAMPLES", "12"}});
  for (const auto& c : cs) ASSERT_EQ(c.status, 0) << describe(cs);
  CurvSetup s;
  const auto single = compute_curvature(s.problem(12), s.opts).to_json();
  expect_same_curvature(read_json(dir + "/rank0.json"), single, 1e-6);
  expect_same_curvature(read_json(dir + "/rank1.json"), single, 1e-6);
  fs::remove_all(dir);
}

// `closerlook curvature CKPT` as two ranks (the launcher's environment) against one process.
TEST(CurvatureDist, CommandOverTwoRanks) {
  const std::string exe = std::string(CL_BINARY_DIR) + "/closerlook";
  if (!fs::exists(exe)) GTEST_SKIP() << exe << " not built";
  at::set_num_threads(1);
  const auto dir = temp_dir("curv_cmd");
  const std::string cfg = dir + "/run.toml";
  std::ofstream(cfg) << R"(seed = 3
[data]
dataset = "synthetic"
synthetic_train = 100
synthetic_test = 20
synthetic_size = 8
synthetic_classes = 3
[model]
family = "mlp"
mlp_hidden = [16]
batchnorm = true
[train]
epochs = 1
batch_size = 20
lr = 0.1
eval_train_subset = 40
)";
  RunOptions o;
  o.quiet = true;
  ASSERT_EQ(run_training(load_train_config(cfg), dir + "/run", o).status, RunStatus::Completed);
  const std::string ckpt = dir + "/run/checkpoints/final.pt";
  const std::vector<std::string> args = {"curvature", ckpt,       "--examples", "70", "--batch", "16", "--top-k", "3",
                                         "--steps",   "10",       "--layer-steps", "5", "--trace-samples", "4",
                                         "--threads", "1"};
  auto with_out = [&](const std::string& out) {
    auto a = args;
    a.push_back("--out");
    a.push_back(out);
    return a;
  };
  std::vector<Child> one{spawn(exe, with_out(dir + "/single"), {{"CL_DIST", "off"}}, dir + "/single.log")};
  wait_all(one, 120);
  ASSERT_EQ(one[0].status, 0) << describe(one);
  const int port = free_port();
  std::vector<Child> cs;
  for (int r = 0; r < 2; ++r)
    cs.push_back(spawn(exe, with_out(dir + "/dist"), rank_env("", r, 2, port), dir + "/rank" + std::to_string(r) + ".log"));
  wait_all(cs, 120);
  for (const auto& c : cs) ASSERT_EQ(c.status, 0) << describe(cs);
  const auto single = read_json(dir + "/single/curvature.json"), dist = read_json(dir + "/dist/curvature.json");
  expect_same_curvature(dist, single, 1e-6);
  EXPECT_EQ(dist["settings"]["processes"], 2);
  EXPECT_EQ(single["settings"]["processes"], 1);
  EXPECT_EQ(dist["settings"]["batches"], 5);
  EXPECT_NE(slurp(cs[0].log).find("\"eigenvalues\""), std::string::npos) << "rank 0 prints the JSON";
  EXPECT_EQ(slurp(cs[1].log).find("\"eigenvalues\""), std::string::npos) << "rank 1 prints nothing";
  fs::remove_all(dir);
}
