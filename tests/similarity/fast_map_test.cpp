// The fast paths of the similarity maps against the plain per-pair computations:
//  * CCA/SVCCA maps through each representation's Gram whitening (feature-space products or
//    n x k bases without re-orthonormalisation) equal similarity() pair by pair to 1e-10, and
//    representations whose spectrum is too spread fall back to the basis route;
//  * the Gram route's accuracy against the SVD of the centred data, by condition number;
//  * the streamed CKA accumulator (one buffer, grouped GEMMs) for contiguous and scattered pairs;
//  * the float32 CKA mode within its documented error (1e-6) of float64.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "similarity/cca.h"
#include "similarity/representation.h"
#include "similarity/similarity.h"
#include "similarity/similarity_map.h"
#include "similarity/streaming_cka.h"

using namespace closerlook;

namespace {

// n x p with singular values spaced geometrically from 1 down to 1/cond, random directions, an
// offset (so centring matters) and a random scale.
torch::Tensor conditioned(int64_t n, int64_t p, double cond, uint64_t seed) {
  torch::manual_seed(seed);
  auto u = std::get<0>(torch::linalg_qr(torch::randn({n, p}, torch::kFloat64)));
  auto v = std::get<0>(torch::linalg_qr(torch::randn({p, p}, torch::kFloat64)));
  auto s = torch::logspace(0.0, -std::log10(cond), p, 10.0, torch::kFloat64);
  return 3.0 * (u * s.unsqueeze(0)).mm(v.t()) + 5.0;
}

std::vector<NamedTensor> random_layers(int64_t n, const std::vector<int64_t>& widths, uint64_t seed,
                                       const torch::Tensor& shared = {}) {
  torch::manual_seed(seed);
  std::vector<NamedTensor> out;
  for (size_t i = 0; i < widths.size(); ++i) {
    auto x = torch::randn({n, widths[i]}, torch::kFloat64);
    if (shared.defined()) x = x + shared.mm(torch::randn({shared.size(1), widths[i]}, torch::kFloat64)) * 0.5;
    out.emplace_back("l" + std::to_string(i), x);
  }
  return out;
}

// Canonical correlations' mean from the SVD of the centred data (the reference route).
double cca_by_svd(const torch::Tensor& x, const torch::Tensor& y) {
  auto ux = std::get<0>(torch::linalg_svd(x - x.mean(0, true), false));
  auto uy = std::get<0>(torch::linalg_svd(y - y.mean(0, true), false));
  return torch::linalg_svdvals(ux.t().mm(uy)).clamp(0.0, 1.0).mean().item<double>();
}

double max_diff_vs_pairs(const SimilarityMap& m, const std::vector<NamedTensor>& a, const std::vector<NamedTensor>& b,
                         const SimilarityOptions& o) {
  double worst = 0.0;
  for (size_t r = 0; r < a.size(); ++r)
    for (size_t c = 0; c < b.size(); ++c)
      worst = std::max(worst, std::abs(m.at(int64_t(r), int64_t(c)) - similarity(a[r].second, b[c].second, m.measure, o).value));
  return worst;
}

}  // namespace

TEST(FastMap, FeatureSpaceCcaAndSvccaEqualPairwise) {
  torch::manual_seed(3);
  auto shared = torch::randn({400, 6}, torch::kFloat64);
  auto a = random_layers(400, {24, 30, 16}, 11, shared);
  auto b = random_layers(400, {20, 28}, 12, shared);
  SimilarityOptions o;
  for (Measure m : {Measure::Cca, Measure::Svcca}) {
    auto map = layer_by_layer(a, b, m, o);
    EXPECT_EQ(map.settings["route"], "feature-space") << measure_name(m);
    EXPECT_LT(max_diff_vs_pairs(map, a, b, o), 1e-10) << measure_name(m);
  }
}

TEST(FastMap, GramBasesRouteWhenFewDirectionsAreKept) {
  torch::manual_seed(4);
  auto shared = torch::randn({500, 4}, torch::kFloat64);
  auto a = random_layers(500, {40, 36}, 21, shared);
  auto b = random_layers(500, {38, 44}, 22, shared);
  SimilarityOptions o;
  o.svcca_dims = 5;  // 5 of ~40 directions: the n x 5 bases are cheaper than X^T Y
  auto map = layer_by_layer(a, b, Measure::Svcca, o);
  EXPECT_EQ(map.settings["route"], "gram-bases");
  EXPECT_LT(max_diff_vs_pairs(map, a, b, o), 1e-10);
}

TEST(FastMap, IllConditionedRepresentationsFallBackAndStayEqual) {
  // a[0] is beyond the feature-space limit (lambda ratio 1e-10): its pairs take the basis route.
  std::vector<NamedTensor> a = {{"bad", conditioned(600, 20, 1e5, 1)}, {"ok", conditioned(600, 20, 1e2, 2)}};
  std::vector<NamedTensor> b = {{"y0", conditioned(600, 15, 10.0, 3) + a[1].second.slice(1, 0, 15)},
                                {"y1", conditioned(600, 18, 1e2, 4)}};
  Representation bad(a[0].second, "bad"), ok(a[1].second, "ok");
  EXPECT_EQ(bad.gram_whitening(20, 1e-6), nullptr);
  EXPECT_NE(ok.gram_whitening(20, 1e-6), nullptr);
  SimilarityOptions o;
  auto map = layer_by_layer(a, b, Measure::Cca, o);
  EXPECT_EQ(map.settings["route"], "feature-space");  // the well-conditioned pairs
  EXPECT_LT(max_diff_vs_pairs(map, a, b, o), 1e-10);
}

TEST(FastMap, GramWhiteningAccuracyAgainstSvdByConditionNumber) {
  // Within the limit (lambda_k >= 1e-6 lambda_1, cond <= 1e3) the feature-space CCA equals the
  // SVD route to 1e-10; the measured error grows as eps * cond^2 (docs/similarity.md).
  for (double cond : {1.0, 10.0, 1e2, 1e3 * 0.99}) {
    auto x = conditioned(800, 24, cond, 7);
    auto y = conditioned(800, 20, 5.0, 8) + 0.1 * x.slice(1, 0, 20);
    Representation rx(x, "x"), ry(y, "y");
    const auto* wx = rx.gram_whitening(24, 1e-6);
    const auto* wy = ry.gram_whitening(20, 1e-6);
    ASSERT_NE(wx, nullptr) << cond;
    ASSERT_NE(wy, nullptr);
    auto prod = wx->w.t().mm(rx.active_data().t().mm(ry.active_data())).mm(wy->w);
    const double fast = torch::linalg_svdvals(prod).clamp(0.0, 1.0).mean().item<double>();
    EXPECT_NEAR(fast, cca_by_svd(x, y), 1e-10) << "cond " << cond;
  }
}

TEST(FastMap, StreamedCkaScatteredAndContiguousPairsEqualPairwise) {
  auto layers = random_layers(300, {7, 5, 9, 6}, 31);
  std::vector<std::string> names;
  std::vector<int64_t> widths;
  for (const auto& [n, t] : layers) {
    names.push_back(n);
    widths.push_back(t.size(1));
  }
  // (0,2),(0,1): scattered rights (a concatenation); (1,2),(1,3): contiguous (one view); (3,3): self.
  std::vector<std::pair<int64_t, int64_t>> pairs = {{0, 2}, {0, 1}, {1, 2}, {1, 3}, {3, 3}, {2, 0}};
  for (bool f32 : {false, true}) {
    CkaAccumulator acc(names, widths, pairs, f32);
    for (int64_t s = 0; s < 300; s += 64) {
      std::vector<torch::Tensor> batch;
      for (const auto& [n, t] : layers) batch.push_back(t.slice(0, s, std::min<int64_t>(300, s + 64)));
      acc.add(batch);
    }
    const auto lin = acc.linear_cka(), deb = acc.debiased_cka();
    const double tol = f32 ? 1e-6 : 1e-12;
    // The linear-only accumulator (what linear-CKA maps use) skips the debiased terms and gives
    // the same linear values; asking it for debiased CKA is a programming error, not a wrong number.
    CkaAccumulator lin_only(names, widths, pairs, f32, /*linear_only=*/true);
    for (int64_t s = 0; s < 300; s += 64) {
      std::vector<torch::Tensor> batch;
      for (const auto& [n, t] : layers) batch.push_back(t.slice(0, s, std::min<int64_t>(300, s + 64)));
      lin_only.add(batch);
    }
    const auto lin2 = lin_only.linear_cka();
    for (size_t k = 0; k < pairs.size(); ++k) EXPECT_NEAR(lin2[k], lin[k], f32 ? 1e-9 : 1e-14) << k << " f32 " << f32;
    EXPECT_THROW(lin_only.debiased_cka(), Error);
    for (size_t k = 0; k < pairs.size(); ++k) {
      const auto& x = layers[pairs[k].first].second;
      const auto& y = layers[pairs[k].second].second;
      EXPECT_NEAR(lin[k], similarity(x, y, Measure::CkaLinear, {}).value, tol) << k << " f32 " << f32;
      EXPECT_NEAR(deb[k], similarity(x, y, Measure::CkaDebiased, {}).value, tol) << k << " f32 " << f32;
    }
  }
}

TEST(FastMap, Float32CkaMapWithinDocumentedError) {
  torch::manual_seed(5);
  auto shared = torch::randn({5000, 8}, torch::kFloat64);
  auto a = random_layers(5000, {64, 48, 80}, 41, shared);
  auto b = random_layers(5000, {72, 56}, 42, shared);
  for (auto* side : {&a, &b})
    for (auto& [n, t] : *side) t = (t * 2.0 + 1.5).to(torch::kFloat32);  // activations as captured
  SimilarityOptions o64, o32;
  o32.precision = Precision::Float32;
  for (Measure m : {Measure::CkaLinear, Measure::CkaDebiased}) {
    auto m64 = layer_by_layer(a, b, m, o64);
    auto m32 = layer_by_layer(a, b, m, o32);
    EXPECT_EQ(m32.settings["precision"], "float32");
    EXPECT_FALSE(m64.settings.contains("precision"));
    const double diff = (m64.values - m32.values).abs().max().item<double>();
    EXPECT_LT(diff, 1e-6) << measure_name(m);
    EXPECT_GT(diff, 0.0) << measure_name(m) << ": float32 mode computed nothing in float32";
    EXPECT_LT(max_diff_vs_pairs(m64, a, b, o64), 1e-10) << measure_name(m);
  }
  EXPECT_THROW(parse_precision("float16"), std::exception);
}
