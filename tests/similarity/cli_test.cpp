// The similarity commands end to end through the closerlook binary (the build makes it before
// test_similarity; skipped when it is missing, a failure in CI): NPY in, JSON out; maps from
// activation folders.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "../common/cli.h"
#include "../common/require.h"
#include "core/json_io.h"
#include "core/npy.h"
#include "fixtures.h"
#include "similarity/activations.h"
#include "similarity/similarity_map.h"

using namespace closerlook;

namespace {

std::string binary() { return closerlook::testing::closerlook_binary(); }

std::pair<int, std::string> run(const std::string& args) { return closerlook::testing::run_closerlook(args); }

struct TempDir {
  std::string path;
  explicit TempDir(const std::string& tag)
      : path((std::filesystem::temp_directory_path() / ("cl_sim_cli_" + tag + "_" + std::to_string(::getpid()))).string()) {
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

#define REQUIRE_BINARY() \
  CL_REQUIRE_OR_SKIP(std::filesystem::exists(binary()), binary() << " is not built (ninja closerlook)")

}  // namespace

TEST(SimilarityCli, NpyPairToJson) {
  REQUIRE_BINARY();
  TempDir d("pair");
  write_npy(d.path + "/a.npy", closerlook::testing::fixture_a());
  write_npy(d.path + "/b.npy", closerlook::testing::fixture_b().to(torch::kFloat32));
  auto [rc, out] = run("similarity " + d.path + "/a.npy " + d.path + "/b.npy --measure cca --threads 1");
  ASSERT_EQ(rc, 0) << out;
  auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["measure"], "cca");
  EXPECT_EQ(j["n"], 6);
  EXPECT_EQ(j["p"], 2);
  EXPECT_EQ(j["q"], 3);
  EXPECT_NEAR(j["coefficients"][0].get<double>(), 0.8478998511, 1e-6);  // B went through float32
  EXPECT_TRUE(j["warnings"].is_array());
  // google layout: neurons x examples.
  write_npy(d.path + "/at.npy", closerlook::testing::fixture_a().t().contiguous());
  write_npy(d.path + "/bt.npy", closerlook::testing::fixture_b().t().contiguous());
  auto [rc2, out2] = run("similarity " + d.path + "/at.npy " + d.path +
                         "/bt.npy --neuron-major --compat google --measure pwcca --out " + d.path + "/r.json");
  ASSERT_EQ(rc2, 0) << out2;
  EXPECT_NEAR(nlohmann::json::parse(out2)["value"].get<double>(), 0.698180460547, 1e-9);
  EXPECT_NEAR(read_json(d.path + "/r.json")["value"].get<double>(), 0.698180460547, 1e-9);
}

TEST(SimilarityCli, BadInputIsAOneLineErrorWithExitCode2) {
  REQUIRE_BINARY();
  TempDir d("bad");
  auto a = closerlook::testing::fixture_a().clone();
  a[2][1] = std::nan("");
  write_npy(d.path + "/nan.npy", a);
  write_npy(d.path + "/b.npy", closerlook::testing::fixture_b());
  auto [rc, out] = run("similarity " + d.path + "/nan.npy " + d.path + "/b.npy --measure cka-linear");
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("nan.npy"), std::string::npos) << out;
  EXPECT_NE(out.find("NaN"), std::string::npos) << out;
  std::FILE* f = std::fopen((d.path + "/trunc.npy").c_str(), "wb");
  const std::string bytes = npy_to_bytes(closerlook::testing::fixture_b());
  std::fwrite(bytes.data(), 1, bytes.size() - 5, f);
  std::fclose(f);
  auto [rc2, out2] = run("similarity " + d.path + "/trunc.npy " + d.path + "/b.npy --measure cca");
  EXPECT_EQ(rc2, 2) << out2;
  EXPECT_NE(out2.find("trunc.npy"), std::string::npos) << out2;
  auto [rc3, out3] = run("similarity " + d.path + "/b.npy " + d.path + "/b.npy --measure nope");
  EXPECT_EQ(rc3, 2) << out3;
}

TEST(SimilarityCli, MapFromActivationFolders) {
  REQUIRE_BINARY();
  TempDir d("map");
  torch::manual_seed(3);
  CapturedActivations a, b;
  auto h = torch::randn({80, 5});
  a.layers = {{"l0", h}, {"l1", torch::relu(h.mm(torch::randn({5, 4})))}};
  b.layers = {{"m0", h.mm(torch::randn({5, 3})) + torch::randn({80, 3})}};
  save_activations(d.path + "/a", a);
  save_activations(d.path + "/b", b);
  auto [rc, out] = run("similarity-map --a " + d.path + "/a --b " + d.path + "/b --measure cka-linear,svcca --out " +
                       d.path + "/out --threads 1");
  ASSERT_EQ(rc, 0) << out;
  auto expected = layer_by_layer(a.layers, b.layers, {Measure::CkaLinear, Measure::Svcca});
  for (const auto& m : expected) {
    const std::string prefix = d.path + "/out/" + measure_name(m.measure);
    auto got = read_npy(prefix + ".npy");
    EXPECT_TRUE(torch::allclose(got, m.values, 1e-12, 1e-12)) << measure_name(m.measure);
    auto j = read_similarity_map_json(prefix + ".json");
    EXPECT_EQ(j.row_names, (std::vector<std::string>{"l0", "l1"}));
    EXPECT_EQ(j.col_names, (std::vector<std::string>{"m0"}));
    EXPECT_TRUE(std::filesystem::exists(prefix + ".csv"));
  }
  // Layer x checkpoint over activation folders: columns named a->b.
  auto [rc2, out2] = run("similarity-map --checkpoints " + d.path + "/a " + d.path + "/a --measure cca --out " +
                         d.path + "/drift");
  ASSERT_EQ(rc2, 0) << out2;
  auto drift = read_similarity_map_json(d.path + "/drift/cca.json");
  EXPECT_EQ(drift.col_names, (std::vector<std::string>{"a->a"}));
  EXPECT_NEAR(drift.at(0, 0), 1.0, 1e-9);
}

TEST(SimilarityCli, MapPrecisionFloat32) {
  REQUIRE_BINARY();
  TempDir d("prec");
  torch::manual_seed(4);
  CapturedActivations a, b;
  auto h = torch::randn({300, 6});
  a.layers = {{"l0", h}, {"l1", torch::relu(h.mm(torch::randn({6, 5})))}};
  b.layers = {{"m0", h.mm(torch::randn({6, 4})) + torch::randn({300, 4})}};
  save_activations(d.path + "/a", a);
  save_activations(d.path + "/b", b);
  auto [rc, out] = run("similarity-map --a " + d.path + "/a --b " + d.path + "/b --measure cka-linear --precision float32 --out " +
                       d.path + "/out --threads 1");
  ASSERT_EQ(rc, 0) << out;
  auto got = read_similarity_map_json(d.path + "/out/cka-linear.json");
  EXPECT_EQ(got.settings["precision"], "float32");
  auto expected = layer_by_layer(a.layers, b.layers, Measure::CkaLinear);
  EXPECT_LT((got.values - expected.values).abs().max().item<double>(), 1e-6);
  auto [rc2, out2] = run("similarity-map --a " + d.path + "/a --b " + d.path + "/b --precision half --out " + d.path + "/bad");
  EXPECT_EQ(rc2, 2) << out2;
  EXPECT_NE(out2.find("unknown precision"), std::string::npos) << out2;
}
