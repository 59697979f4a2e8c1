// DFT-CCA (google/svcca dft_ccas.fourier_ccas semantics) against google's own values:
// algorithms.md §F DC1-DC3, fixtures in tests/similarity/fixtures/dftcca (NPY inputs are
// [N, H, W, C], google's layout; dft_oracle.json holds the per-frequency "mean" and the overall
// mean). The fixtures are part of the repository: a missing one FAILS, never skips.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "../common/cli.h"
#include "../common/require.h"
#include "core/error.h"
#include "core/json_io.h"
#include "core/npy.h"
#include "fixtures.h"
#include "similarity/dft_cca.h"
#include "similarity/google_cca.h"
#include "similarity/similarity.h"

using namespace closerlook;

namespace {

std::string dft_dir() { return closerlook::testing::fixtures_dir() + "/dftcca"; }

// Loads dft_<name>.npy ([N, H, W, C]); an absent file fails the calling test.
#define CL_LOAD_DFT(VAR, NAME)                                                              \
  const std::string VAR##_path = dft_dir() + "/dft_" NAME ".npy";                           \
  ASSERT_TRUE(std::filesystem::exists(VAR##_path)) << "DFT-CCA fixture missing: " << VAR##_path; \
  const torch::Tensor VAR = read_npy(VAR##_path)

#define CL_LOAD_ORACLE(VAR)                                                                  \
  const std::string VAR##_path = dft_dir() + "/dft_oracle.json";                             \
  ASSERT_TRUE(std::filesystem::exists(VAR##_path)) << "DFT-CCA oracle missing: " << VAR##_path; \
  const nlohmann::json VAR = read_json(VAR##_path)

SimilarityOptions google_defaults() {
  SimilarityOptions o;  // epsilon 0, threshold 0.98: get_cca_similarity's defaults
  EXPECT_EQ(o.google_epsilon, 0.0);
  EXPECT_EQ(o.google_threshold, 0.98);
  return o;
}

void expect_table(const DftCcaResult& r, const nlohmann::json& table, double tol) {
  ASSERT_EQ(r.per_frequency.size(0), int64_t(table.size()));
  for (size_t i = 0; i < table.size(); ++i) {
    ASSERT_EQ(r.per_frequency.size(1), int64_t(table[i].size()));
    for (size_t j = 0; j < table[i].size(); ++j)
      EXPECT_NEAR(r.per_frequency[int64_t(i)][int64_t(j)].item<double>(), table[i][j].get<double>(), tol)
          << "frequency (" << i << ", " << j << ")";
  }
}

std::string binary() { return closerlook::testing::closerlook_binary(); }

std::pair<int, std::string> run(const std::string& args) { return closerlook::testing::run_closerlook(args); }

}  // namespace

// DC1: dft_a (8x8, C=6) vs dft_b (8x8, C=5).
TEST(DftCca, DC1OverallAndPerFrequencyMatchGoogle) {
  CL_LOAD_DFT(a, "a");
  CL_LOAD_DFT(b, "b");
  CL_LOAD_ORACLE(oracle);
  ASSERT_EQ(a.sizes(), (std::vector<int64_t>{400, 8, 8, 6}));
  const auto r = dft_cca(a, b, google_defaults(), SpatialLayout::Nhwc, "dft_a", "dft_b");
  EXPECT_NEAR(r.value, 0.947725181313, 1e-6);
  EXPECT_NEAR(r.value, oracle["a_b"]["overall_mean"].get<double>(), 1e-6);
  expect_table(r, oracle["a_b"]["per_location_mean"], 1e-6);
  EXPECT_EQ(r.row_frequencies, (std::vector<int64_t>{0, 1, 2, 3, -4, -3, -2, -1}));
  EXPECT_EQ(r.channels_x, 6);
  EXPECT_EQ(r.channels_y, 5);
  EXPECT_EQ(r.empty_frequencies, 0);
}

// DC2: different spatial sizes; the 8x8 layer keeps frequencies 0, 1, -2, -1 (fft_resize).
TEST(DftCca, DC2DifferentSpatialSizesKeepOverlappingLowFrequencies) {
  CL_LOAD_DFT(a, "a");
  CL_LOAD_DFT(c, "c");
  CL_LOAD_ORACLE(oracle);
  const auto r = dft_cca(a, c, google_defaults(), SpatialLayout::Nhwc, "dft_a", "dft_c");
  EXPECT_NEAR(r.value, 0.227923916146, 1e-6);
  EXPECT_NEAR(r.value, oracle["a_c"]["overall_mean"].get<double>(), 1e-6);
  expect_table(r, oracle["a_c"]["per_location_mean"], 1e-6);
  EXPECT_EQ(r.row_frequencies, (std::vector<int64_t>{0, 1, -2, -1}));
  EXPECT_EQ(r.col_frequencies, (std::vector<int64_t>{0, 1, -2, -1}));
  ASSERT_FALSE(r.warnings.empty());
  EXPECT_NE(r.warnings[0].find("fft_resize"), std::string::npos) << r.warnings[0];
  // Symmetric: the smaller layer first gives the same frequencies and values.
  const auto swapped = dft_cca(c, a, google_defaults(), SpatialLayout::Nhwc, "dft_c", "dft_a");
  EXPECT_NEAR(swapped.value, r.value, 1e-10);
}

// DC3: a layer with itself is 1 at every frequency.
TEST(DftCca, DC3SelfIsOneAtEveryFrequency) {
  CL_LOAD_DFT(a, "a");
  CL_LOAD_ORACLE(oracle);
  const auto r = dft_cca(a, a, google_defaults(), SpatialLayout::Nhwc, "dft_a", "dft_a");
  ASSERT_EQ(r.per_frequency.sizes(), (std::vector<int64_t>{8, 8}));
  for (int64_t i = 0; i < 8; ++i)
    for (int64_t j = 0; j < 8; ++j) EXPECT_NEAR(r.per_frequency[i][j].item<double>(), 1.0, 1e-9) << i << "," << j;
  EXPECT_NEAR(r.value, 1.0, 1e-9);
  EXPECT_NEAR(oracle["a_a"]["overall_mean"].get<double>(), 1.0, 1e-9);
}

// nhwc input == the same data permuted to LibTorch's nchw, bit for bit in the inputs.
TEST(DftCca, LayoutsAreEquivalent) {
  CL_LOAD_DFT(a, "a");
  CL_LOAD_DFT(c, "c");
  const auto nhwc = dft_cca(a, c, {}, SpatialLayout::Nhwc);
  const auto nchw = dft_cca(a.permute({0, 3, 1, 2}).contiguous(), c.permute({0, 3, 1, 2}).contiguous(), {},
                            SpatialLayout::Nchw);
  EXPECT_NEAR(nhwc.value, nchw.value, 1e-12);
  EXPECT_TRUE(torch::allclose(nhwc.per_frequency, nchw.per_frequency, 0.0, 1e-12));
  // The generic entry point takes nchw, float32 too.
  const auto s = similarity(a.permute({0, 3, 1, 2}), c.permute({0, 3, 1, 2}), Measure::DftCca);
  EXPECT_EQ(s.measure, Measure::DftCca);
  EXPECT_EQ(s.compat, Compat::Google);
  EXPECT_NEAR(s.value, 0.227923916146, 1e-6);
  EXPECT_EQ(s.details["per_frequency"].size(), 4u);
  const auto f32 = dft_cca(a.to(torch::kFloat32), c.to(torch::kFloat32), {}, SpatialLayout::Nhwc);
  EXPECT_NEAR(f32.value, 0.227923916146, 1e-5);
}

// The complex path of google_cca: with real data it equals the real path; invariant under a
// per-channel complex scaling (CCA on C^n).
TEST(DftCca, ComplexGoogleCcaAgreesWithRealAndIsPhaseInvariant) {
  torch::manual_seed(11);
  const auto x = torch::randn({200, 4}, torch::kFloat64);
  const auto y = x.mm(torch::randn({4, 3}, torch::kFloat64)) + torch::randn({200, 3}, torch::kFloat64);
  const auto real = google_cca(x, y, 0.0, 0.98);
  const auto cplx = google_cca(torch::complex(x, torch::zeros_like(x)), y, 0.0, 0.98);
  EXPECT_TRUE(torch::allclose(real.coefficients, cplx.coefficients, 1e-10, 1e-12));
  EXPECT_NEAR(real.mean, cplx.mean, 1e-12);
  const auto zx = torch::complex(x, torch::randn({200, 4}, torch::kFloat64));
  const auto zy = torch::complex(y, torch::randn({200, 3}, torch::kFloat64));
  const auto phase = torch::polar(torch::rand({1, 3}, torch::kFloat64) + 0.5, torch::rand({1, 3}, torch::kFloat64) * 6.0);
  EXPECT_TRUE(torch::allclose(google_cca(zx, zy, 0.0, 0.98).coefficients,
                              google_cca(zx, zy * phase, 0.0, 0.98).coefficients, 1e-9, 1e-10));
}

TEST(DftCca, BadInputsAreClearErrors) {
  const auto x = torch::randn({50, 3, 4, 4}, torch::kFloat64);
  EXPECT_THROW(dft_cca(x.flatten(1), x), Error);                           // 2-D
  EXPECT_THROW(dft_cca(x, torch::randn({49, 3, 4, 4})), Error);            // different N
  EXPECT_THROW(dft_cca(torch::randn({3, 5, 2, 2}), torch::randn({3, 2, 2, 2})), Error);  // C >= N (google's assert)
  auto bad = x.clone();
  bad[1][2][3][0] = std::nan("");
  try {
    dft_cca(bad, x, {}, SpatialLayout::Nchw, "bad.npy");
    ADD_FAILURE() << "NaN accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.npy"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_layout("chw"), Error);
  EXPECT_EQ(parse_measure("dft-cca"), Measure::DftCca);
  EXPECT_EQ(measure_name(Measure::DftCca), "dft-cca");
  // The 2-D entry point names the problem instead of computing something else.
  EXPECT_THROW(similarity(torch::randn({10, 3}), torch::randn({10, 2}), Measure::DftCca), Error);
  // Constant channels: every non-DC coefficient is 0, google's zero dict there (warned).
  const auto flat = torch::ones({50, 3, 4, 4}, torch::kFloat64) * torch::randn({50, 3, 1, 1}, torch::kFloat64);
  const auto r = dft_cca(flat, x);
  EXPECT_EQ(r.empty_frequencies, 15);
  EXPECT_TRUE(std::isfinite(r.value));
}

// The `similarity` command on google's [N, H, W, C] files and on LibTorch's [N, C, H, W].
TEST(DftCca, CliPrintsOverallValueAsJson) {
  CL_LOAD_DFT(a, "a");
  CL_LOAD_DFT(b, "b");
  CL_REQUIRE_OR_SKIP(std::filesystem::exists(binary()), binary() << " is not built (ninja closerlook)");
  auto [rc, out] = run("similarity " + a_path + " " + b_path + " --measure dft-cca --layout nhwc --threads 1");
  ASSERT_EQ(rc, 0) << out;
  const auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["measure"], "dft-cca");
  EXPECT_EQ(j["compat"], "google");
  EXPECT_NEAR(j["value"].get<double>(), 0.947725181313, 1e-6);
  EXPECT_EQ(j["n"], 400);
  EXPECT_EQ(j["p"], 6);
  EXPECT_EQ(j["q"], 5);
  EXPECT_EQ(j["details"]["layout"], "nhwc");
  EXPECT_EQ(j["details"]["per_frequency"].size(), 8u);

  const auto dir = std::filesystem::temp_directory_path() / ("cl_dftcca_cli_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  write_npy((dir / "a.npy").string(), a.permute({0, 3, 1, 2}).contiguous());
  write_npy((dir / "b.npy").string(), b.permute({0, 3, 1, 2}).contiguous().to(torch::kFloat32));
  auto [rc2, out2] = run("similarity " + (dir / "a.npy").string() + " " + (dir / "b.npy").string() +
                         " --measure dft-cca --threads 1");
  ASSERT_EQ(rc2, 0) << out2;
  EXPECT_NEAR(nlohmann::json::parse(out2)["value"].get<double>(), 0.947725181313, 1e-5);  // b went through float32
  // Wrong usage is a one-line error with exit code 2.
  auto [rc3, out3] = run("similarity " + a_path + " " + b_path + " --measure dft-cca --layout hwc");
  EXPECT_EQ(rc3, 2) << out3;
  auto [rc4, out4] = run("similarity " + a_path + " " + b_path + " --measure cka-linear --layout nhwc");
  EXPECT_EQ(rc4, 2) << out4;
  // Maps compare 2-D layer matrices: dft-cca is refused there with the reason, before any loading.
  auto [rc5, out5] = run("similarity-map --a none --b none --measure cka-linear,dft-cca --out " + (dir / "m").string());
  EXPECT_EQ(rc5, 2) << out5;
  EXPECT_NE(out5.find("4-D"), std::string::npos) << out5;
  std::filesystem::remove_all(dir);
}
