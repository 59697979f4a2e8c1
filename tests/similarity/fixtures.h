// Shared test data: the small exact fixtures of algorithms.md §C.8/§D.3 and the Kornblith demo
// CSVs (seed 1337), kept in the repository at tests/similarity/fixtures (copied from
// shared/reference/fixtures), so that a clean clone runs every oracle test.
#pragma once
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace closerlook::testing {

inline torch::Tensor fixture_a() {
  return torch::tensor({1., 2., 3., 1., 0., 4., 2., 2., 5., 0., 1., 1.}, torch::kFloat64).view({6, 2});
}
inline torch::Tensor fixture_b() {
  return torch::tensor({2., 0., 1., 1., 1., 0., 0., 3., 1., 4., 1., 2., 1., 0., 0., 2., 2., 2.}, torch::kFloat64)
      .view({6, 3});
}
inline torch::Tensor fixture_m() {
  return torch::tensor({2., 1., 0., 0., 1., 3., 1., 0., 1.}, torch::kFloat64).view({3, 3});
}

inline std::string fixtures_dir() { return std::string(CL_SOURCE_DIR) + "/tests/similarity/fixtures"; }

// Reads a headerless numeric CSV into a float64 (rows x cols) tensor; empty tensor if missing.
inline torch::Tensor read_csv(const std::string& path) {
  std::ifstream f(path);
  if (!f.good()) return {};
  std::vector<double> v;
  int64_t rows = 0, cols = -1;
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty()) continue;
    std::stringstream ss(line);
    std::string cell;
    int64_t c = 0;
    while (std::getline(ss, cell, ',')) {
      v.push_back(std::stod(cell));
      ++c;
    }
    if (cols < 0) cols = c;
    EXPECT_EQ(c, cols) << path << " row " << rows;
    ++rows;
  }
  return torch::tensor(v, torch::kFloat64).view({rows, cols});
}

// Kornblith demo X, Y (100 x 10 each). The CSVs are part of the repository: a missing one is a
// failure, never a skip.
#define CL_LOAD_KORNBLITH(X, Y)                                                                     \
  const std::string cl_fx_dir = ::closerlook::testing::fixtures_dir();                             \
  const torch::Tensor X = ::closerlook::testing::read_csv(cl_fx_dir + "/kornblith_seed1337_X.csv"); \
  const torch::Tensor Y = ::closerlook::testing::read_csv(cl_fx_dir + "/kornblith_seed1337_Y.csv"); \
  ASSERT_TRUE(X.defined() && Y.defined()) << "Kornblith fixtures missing in " << cl_fx_dir;         \
  ASSERT_EQ(X.size(0), 100);                                                                        \
  ASSERT_EQ(X.size(1), 10);                                                                         \
  ASSERT_EQ(Y.sizes(), X.sizes())

inline torch::Tensor random_orthogonal(int64_t k, uint64_t seed) {
  torch::manual_seed(seed);
  auto q = std::get<0>(torch::linalg_qr(torch::randn({k, k}, torch::kFloat64), "reduced"));
  return q;
}

}  // namespace closerlook::testing
