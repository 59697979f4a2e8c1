// The bootstrap over examples of a similarity (similarity/bootstrap.h).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "core/error.h"
#include "similarity/bootstrap.h"
#include "similarity/similarity.h"

using namespace closerlook;

namespace {
std::pair<torch::Tensor, torch::Tensor> related(int64_t n, int64_t p, int64_t q, uint64_t seed, double noise) {
  torch::manual_seed(seed);
  auto x = torch::randn({n, p}, torch::kFloat64);
  auto y = x.mm(torch::randn({p, q}, torch::kFloat64)) + noise * torch::randn({n, q}, torch::kFloat64);
  return {x, y};
}
}  // namespace

TEST(Bootstrap, IndicesAreSeededInRangeAndNotTrivial) {
  const auto a = bootstrap_indices(50, 20, 7), b = bootstrap_indices(50, 20, 7), c = bootstrap_indices(50, 20, 8);
  ASSERT_EQ(a.sizes(), (std::vector<int64_t>{20, 50}));
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_FALSE(torch::equal(a, c));
  EXPECT_GE(a.min().item<int64_t>(), 0);
  EXPECT_LT(a.max().item<int64_t>(), 50);
  // With replacement: a resample of 50 misses about 1/e of the examples (expected distinct ~ 31.8).
  double distinct = 0;
  for (int64_t r = 0; r < 20; ++r) distinct += std::get<0>(at::_unique(a[r])).numel();
  distinct /= 20;
  EXPECT_GT(distinct, 27);
  EXPECT_LT(distinct, 36);
  // Every index is drawn about equally often over many draws (no bias towards small indices).
  const auto many = bootstrap_indices(10, 10000, 1);
  const auto counts = torch::bincount(many.flatten(), {}, 10).to(torch::kFloat64);
  EXPECT_LT((counts / 10000.0 - 1.0).abs().max().item<double>(), 0.05);
  EXPECT_THROW(bootstrap_indices(0, 5, 1), Error);
  EXPECT_THROW(bootstrap_indices(5, 0, 1), Error);
}

TEST(Bootstrap, IdentityResampleGivesTheFullSampleValue) {
  auto [x, y] = related(80, 6, 5, 3, 1.0);
  const auto x2 = x + 0.5 * torch::randn_like(x);
  const auto idx = torch::arange(80, torch::kInt64).unsqueeze(0);
  for (Measure m : {Measure::CkaLinear, Measure::Svcca}) {
    const auto v = bootstrap_similarities({x, x2}, y, idx, m);
    ASSERT_EQ(v.size(), 1u);
    EXPECT_NEAR(v[0][0], similarity(x, y, m).value, 1e-12) << measure_name(m);
    EXPECT_NEAR(v[0][1], similarity(x2, y, m).value, 1e-12) << measure_name(m);
  }
  // A replicate is the similarity of the resampled rows.
  const auto idx2 = bootstrap_indices(80, 3, 5);
  const auto v = bootstrap_similarities({x}, y, idx2, Measure::CkaLinear);
  for (int64_t b = 0; b < 3; ++b)
    EXPECT_NEAR(v[b][0], similarity(x.index_select(0, idx2[b]), y.index_select(0, idx2[b]), Measure::CkaLinear).value,
                1e-12);
}

TEST(Bootstrap, LinearCkaGramRouteEqualsTheFeatureRoute) {
  // max_gram_examples below n forces the per-resample representations (feature-space CKA).
  auto [x, y] = related(60, 7, 4, 6, 1.5);
  const auto idx = bootstrap_indices(60, 10, 4);
  SimilarityOptions feature;
  feature.max_gram_examples = 10;
  const auto g = bootstrap_similarities({x, x * x}, y, idx, Measure::CkaLinear);
  const auto f = bootstrap_similarities({x, x * x}, y, idx, Measure::CkaLinear, feature);
  for (int64_t b = 0; b < 10; ++b)
    for (size_t k = 0; k < 2; ++k) EXPECT_NEAR(g[b][k], f[b][k], 1e-12) << b << " " << k;
}

TEST(Bootstrap, PairedReplicatesCancelAndSpreadShrinksWithExamples) {
  // The same representation twice: every replicate's difference is exactly 0 (paired resamples).
  auto [x, y] = related(100, 5, 5, 4, 2.0);
  const auto v = bootstrap_similarities({x, x.clone()}, y, bootstrap_indices(100, 30, 2), Measure::CkaLinear);
  std::vector<double> d;
  for (const auto& r : v) d.push_back(r[0] - r[1]);
  EXPECT_EQ(bootstrap_se(d), 0.0);
  // The bootstrap se of one similarity falls roughly as 1/sqrt(n): 4x the examples, about half.
  auto se_at = [](int64_t n) {
    auto [a, b] = related(n, 5, 5, 9, 2.0);
    std::vector<double> r;
    for (const auto& row : bootstrap_similarities({a}, b, bootstrap_indices(n, 200, 3), Measure::CkaLinear))
      r.push_back(row[0]);
    return bootstrap_se(r);
  };
  const double s1 = se_at(100), s4 = se_at(400);
  EXPECT_GT(s1, 0);
  EXPECT_GT(s1 / s4, 1.4);
  EXPECT_LT(s1 / s4, 2.9);
}

TEST(Bootstrap, DegenerateResamplesAreNaNAndBadInputThrows) {
  // Column with one non-zero row: a resample without that row has no variance in x.
  auto x = torch::zeros({20, 1}, torch::kFloat64);
  x[3][0] = 1.0;
  auto y = torch::randn({20, 2}, torch::kFloat64);
  auto idx = torch::zeros({2, 20}, torch::kInt64);  // resample 0: every row is example 0
  idx[1] = torch::arange(20, torch::kInt64);
  const auto v = bootstrap_similarities({x}, y, idx, Measure::CkaLinear);
  EXPECT_TRUE(std::isnan(v[0][0]));
  EXPECT_TRUE(std::isfinite(v[1][0]));
  EXPECT_THROW(bootstrap_similarities({x}, y, idx + 20, Measure::CkaLinear), Error);
  EXPECT_THROW(bootstrap_similarities({x.narrow(0, 0, 10)}, y, idx, Measure::CkaLinear), Error);
  auto bad = y.clone();
  bad[0][0] = NAN;
  EXPECT_THROW(bootstrap_similarities({x}, bad, idx, Measure::CkaLinear), Error);
}

TEST(Bootstrap, SummariesMatchNumpy) {
  // numpy: np.std([1,2,3,4,10], ddof=1) = 3.5355339; np.percentile(..., [2.5, 97.5]) = [1.1, 9.4].
  const std::vector<double> r = {4, 1, 10, 3, 2, NAN};
  EXPECT_NEAR(bootstrap_se(r), 3.5355339059327378, 1e-12);
  const auto [lo, hi] = bootstrap_percentile_interval(r, 0.95);
  EXPECT_NEAR(lo, 1.1, 1e-12);
  EXPECT_NEAR(hi, 9.4, 1e-12);
  EXPECT_EQ(finite_count(r), 5);
  EXPECT_TRUE(std::isnan(bootstrap_se({1.0})));
}
