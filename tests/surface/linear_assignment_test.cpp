// The linear assignment solver (surface/linear_assignment.h) against
// scipy.optimize.linear_sum_assignment (tests/surface/lap_oracle.py), on planted permutations,
// by brute force on small matrices, and on bad input.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <random>

#include "../common/require.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_io.h"
#include "surface/linear_assignment.h"

namespace fs = std::filesystem;
using namespace closerlook;

namespace {

void expect_valid(const Assignment& a, int64_t rows, int64_t cols) {
  ASSERT_EQ(static_cast<int64_t>(a.col_of_row.size()), rows);
  std::vector<int> used(cols, 0);
  int64_t assigned = 0;
  for (int64_t c : a.col_of_row) {
    if (c < 0) continue;
    ASSERT_LT(c, cols);
    EXPECT_EQ(used[c]++, 0) << "column " << c << " assigned twice";
    ++assigned;
  }
  EXPECT_EQ(assigned, std::min(rows, cols));
}

double brute_force(const std::vector<double>& c, int64_t n, bool maximize) {
  std::vector<int64_t> p(n);
  std::iota(p.begin(), p.end(), 0);
  double best = maximize ? -INFINITY : INFINITY;
  do {
    double s = 0;
    for (int64_t i = 0; i < n; ++i) s += c[i * n + p[i]];
    best = maximize ? std::max(best, s) : std::min(best, s);
  } while (std::next_permutation(p.begin(), p.end()));
  return best;
}

}  // namespace

TEST(LinearAssignment, MatchesScipyOnRandomMatrices) {
  const std::string dir = (fs::temp_directory_path() / ("cl_lap_" + std::to_string(::getpid()))).string();
  fs::create_directories(dir);
  const std::string cmd = std::string(CL_PYTHON) + " " + CL_SOURCE_DIR + "/tests/surface/lap_oracle.py " + dir +
                          "/cases.json > " + dir + "/log 2>&1";
  const int status = std::system(cmd.c_str());
  CL_REQUIRE_OR_SKIP(WIFEXITED(status) && WEXITSTATUS(status) != 77 && WEXITSTATUS(status) != 127,
                     "the Python peer " << CL_PYTHON << " lacks numpy/scipy");
  ASSERT_EQ(WEXITSTATUS(status), 0) << read_file(dir + "/log");
  const auto j = read_json(dir + "/cases.json");
  ASSERT_GE(j["cases"].size(), 50u);
  for (const auto& c : j["cases"]) {
    const int64_t rows = c["rows"], cols = c["cols"];
    const bool maximize = c["maximize"];
    const auto cost = c["cost"].get<std::vector<double>>();
    const double opt = c["optimum"];
    const Assignment a = linear_sum_assignment(cost, rows, cols, maximize);
    expect_valid(a, rows, cols);
    double s = 0;
    for (int64_t r = 0; r < rows; ++r)
      if (a.col_of_row[r] >= 0) s += cost[r * cols + a.col_of_row[r]];
    EXPECT_NEAR(a.cost, s, 1e-12 * std::max(1.0, std::abs(s)));
    EXPECT_NEAR(a.cost, opt, 1e-9 * std::max(1.0, std::abs(opt)))
        << rows << "x" << cols << " " << c["kind"] << (maximize ? " max" : " min");
  }
  fs::remove_all(dir);
}

TEST(LinearAssignment, RecoversPlantedPermutationExactly) {
  std::mt19937_64 rng(3);
  for (int64_t n : {1, 2, 7, 50, 200}) {
    std::vector<int64_t> p(n);
    std::iota(p.begin(), p.end(), 0);
    std::shuffle(p.begin(), p.end(), rng);
    std::uniform_real_distribution<double> u(0, 1);
    std::vector<double> c(n * n);
    for (auto& x : c) x = u(rng);
    for (int64_t i = 0; i < n; ++i) c[i * n + p[i]] += n;  // diagonal-dominant on the planted entries
    EXPECT_EQ(linear_sum_assignment(c, n, n, true).col_of_row, p) << n;
    for (auto& x : c) x = -x;
    EXPECT_EQ(linear_sum_assignment(c, n, n, false).col_of_row, p) << n;
  }
}

TEST(LinearAssignment, MatchesBruteForceOnSmallMatrices) {
  std::mt19937_64 rng(11);
  std::uniform_int_distribution<int> d(-5, 5);
  for (int trial = 0; trial < 200; ++trial) {
    const int64_t n = 1 + trial % 6;
    std::vector<double> c(n * n);
    for (auto& x : c) x = d(rng);
    for (bool mx : {false, true}) {
      const Assignment a = linear_sum_assignment(c, n, n, mx);
      expect_valid(a, n, n);
      EXPECT_DOUBLE_EQ(a.cost, brute_force(c, n, mx)) << trial;
    }
  }
}

TEST(LinearAssignment, RejectsBadInput) {
  EXPECT_THROW(linear_sum_assignment({1, 2, 3}, 2, 2), Error);
  EXPECT_THROW(linear_sum_assignment({1, NAN, 3, 4}, 2, 2), Error);
  EXPECT_THROW(linear_sum_assignment({INFINITY, INFINITY, INFINITY, INFINITY}, 2, 2), Error);
  EXPECT_TRUE(linear_sum_assignment({}, 0, 0).col_of_row.empty());
  // +inf entries that a finite assignment avoids are fine when minimising.
  const Assignment a = linear_sum_assignment({INFINITY, 1, 2, INFINITY}, 2, 2);
  EXPECT_EQ(a.col_of_row, (std::vector<int64_t>{1, 0}));
  EXPECT_DOUBLE_EQ(a.cost, 3);
}
