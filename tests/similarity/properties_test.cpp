// Properties every measure must have (algorithms.md §D.5, §C.8), on small random data.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "fixtures.h"
#include "similarity/cca.h"
#include "similarity/cka.h"
#include "similarity/similarity.h"

using namespace closerlook;
using namespace closerlook::testing;

namespace {

// X (n x p) and Y = X A + noise (n x q): related but not identical.
std::pair<torch::Tensor, torch::Tensor> related(int64_t n, int64_t p, int64_t q, uint64_t seed, double noise = 1.0) {
  torch::manual_seed(seed);
  auto x = torch::randn({n, p}, torch::kFloat64);
  auto y = x.mm(torch::randn({p, q}, torch::kFloat64)) + noise * torch::randn({n, q}, torch::kFloat64);
  return {x, y};
}

void expect_same_coefficients(const SimilarityResult& a, const SimilarityResult& b, double tol) {
  ASSERT_EQ(a.coefficients.size(), b.coefficients.size());
  for (size_t i = 0; i < a.coefficients.size(); ++i) EXPECT_NEAR(a.coefficients[i], b.coefficients[i], tol) << i;
}

const std::vector<Measure> kSymmetric = {Measure::Cca, Measure::Svcca, Measure::CkaLinear, Measure::CkaRbf,
                                         Measure::CkaDebiased};

}  // namespace

TEST(CcaProperties, InvariantToInvertibleMapsTranslationAndScaling) {
  auto [x, y] = related(120, 5, 4, 1);
  torch::manual_seed(11);
  auto t = torch::randn({4, 4}, torch::kFloat64) + 3.0 * torch::eye(4, torch::kFloat64);
  const auto base = similarity(x, y, Measure::Cca);
  expect_same_coefficients(base, similarity(x, y.mm(t), Measure::Cca), 1e-10);
  expect_same_coefficients(base, similarity(x + 7.5, y - 3.0, Measure::Cca), 1e-10);
  expect_same_coefficients(base, similarity(1e-3 * x, 42.0 * y, Measure::Cca), 1e-10);
  // CCA(X, X T) = all ones: the tutorial's mean CCA 1.0000.
  auto self = similarity(x, x.mm(torch::randn({5, 5}, torch::kFloat64)), Measure::Cca);
  for (double c : self.coefficients) EXPECT_NEAR(c, 1.0, 1e-10);
}

TEST(CcaProperties, CoefficientsAreSortedAndInUnitInterval) {
  auto [x, y] = related(80, 6, 3, 2);
  auto r = similarity(x, y, Measure::Cca);
  ASSERT_EQ(r.coefficients.size(), 3u);
  for (size_t i = 0; i < r.coefficients.size(); ++i) {
    EXPECT_GE(r.coefficients[i], 0.0);
    EXPECT_LE(r.coefficients[i], 1.0);
    if (i) EXPECT_LE(r.coefficients[i], r.coefficients[i - 1]);
  }
}

TEST(CcaProperties, CleanMatchesGoogleOnWellConditionedData) {
  auto [x, y] = related(300, 6, 5, 3);
  SimilarityOptions g;
  g.compat = Compat::Google;
  expect_same_coefficients(similarity(x, y, Measure::Cca), similarity(x, y, Measure::Cca, g), 1e-9);
}

TEST(CcaProperties, QrRouteAgreesWithGramRoute) {
  // Column scales spanning 1e6 make the Gram route's condition test fail; CCA is scale invariant,
  // so the Householder route must give the same coefficients.
  auto [x, y] = related(200, 4, 3, 4);
  auto scales = torch::tensor({1.0, 1e-3, 1e3, 1e-6}, torch::kFloat64);
  const Representation plain(x, "X"), scaled(x * scales, "Xs"), ry(y, "Y");
  EXPECT_EQ(plain.column_space().route, "gram-eigh");
  EXPECT_EQ(scaled.column_space().route, "householder-qr");
  expect_same_coefficients(similarity(plain, ry, Measure::Cca), similarity(scaled, ry, Measure::Cca), 1e-9);
}

TEST(CcaProperties, GramRouteBasisIsOrthonormal) {
  // Moderately ill-conditioned (cond ~ 1e3): the re-orthonormalisation pass must kick in.
  auto [x, y] = related(400, 6, 2, 5);
  x = x * torch::tensor({1.0, 1e-1, 1e-2, 1e-3, 1.0, 3.0}, torch::kFloat64);
  const Representation r(x, "X");
  const auto& b = r.column_space().basis;
  EXPECT_EQ(r.column_space().route, "gram-eigh");
  EXPECT_LT((b.t().mm(b) - torch::eye(6, torch::kFloat64)).abs().max().item<double>(), 1e-13);
}

TEST(CcaProperties, RandomBaselineMatchesTheory) {
  // Independent data: E[mean rho^2] ~= max(p, q) / (n - 1).
  torch::manual_seed(6);
  const int64_t n = 400, p = 16, q = 8;
  double acc = 0.0;
  const int reps = 40;
  for (int i = 0; i < reps; ++i)
    acc += similarity(torch::randn({n, p}, torch::kFloat64), torch::randn({n, q}, torch::kFloat64), Measure::Cca)
               .mean_rho2;
  EXPECT_NEAR(acc / reps, double(p) / (n - 1), 0.15 * double(p) / (n - 1));
}

TEST(SvccaProperties, KeepsDirectionsFor99PercentVariance) {
  // Singular values chosen so that exactly 3 directions explain >= 99% of the variance.
  torch::manual_seed(7);
  const int64_t n = 500;
  auto z = torch::randn({n, 5}, torch::kFloat64);
  // Orthonormal columns orthogonal to the all-ones vector: already centred, singular values exact.
  auto u = std::get<0>(torch::linalg_qr(z - z.mean(0, true), "reduced"));
  auto s = torch::tensor({10.0, 6.0, 3.0, 0.2, 0.1}, torch::kFloat64);
  auto x = u.mm(torch::diag(s)).mm(random_orthogonal(5, 8));
  const Representation r(x, "X");
  // Cumulative variance: 100, 136, 145, 145.04, 145.05 of 145.05.
  EXPECT_EQ(r.directions_for_variance(0.99), 3);
  EXPECT_EQ(r.directions_for_variance(0.9999), 4);
  EXPECT_EQ(r.directions_for_variance(0.99995), 5);
  SimilarityOptions fixed;
  fixed.svcca_dims = 2;
  auto res = similarity(x, x, Measure::Svcca, fixed);
  EXPECT_EQ(res.dims_x, 2);
  EXPECT_NEAR(res.value, 1.0, 1e-10);
  auto res99 = similarity(x, x + 0.01 * torch::randn_like(x), Measure::Svcca);
  EXPECT_EQ(res99.dims_x, 3);
}

TEST(SvccaProperties, AgreesWithGoogleTutorialPipelineOnNonDegenerateData) {
  auto [x, y] = related(400, 10, 8, 9);
  SimilarityOptions o;
  o.svcca_dims = 4;
  SimilarityOptions g = o;
  g.compat = Compat::Google;
  g.google_epsilon = 1e-10;
  EXPECT_NEAR(similarity(x, y, Measure::Svcca, o).value, similarity(x, y, Measure::Svcca, g).value, 1e-8);
}

TEST(CkaProperties, InvariantToOrthogonalAndIsotropicScalingNotGeneralLinear) {
  auto [x, y] = related(100, 6, 5, 10);
  auto q = random_orthogonal(5, 12);
  for (Measure m : {Measure::CkaLinear, Measure::CkaRbf, Measure::CkaDebiased}) {
    const double base = similarity(x, y, m).value;
    EXPECT_NEAR(similarity(x, y.mm(q), m).value, base, 1e-10) << measure_name(m);
    EXPECT_NEAR(similarity(2.5 * x, 0.1 * y, m).value, base, 1e-10) << measure_name(m);
    EXPECT_NEAR(similarity(x + 4.0, y, m).value, base, 1e-10) << measure_name(m);
  }
  torch::manual_seed(13);
  auto t = torch::randn({5, 5}, torch::kFloat64);
  EXPECT_GT(std::abs(similarity(x, y.mm(t), Measure::CkaLinear).value - similarity(x, y, Measure::CkaLinear).value),
            1e-3);
}

TEST(AllMeasures, SelfSimilarityIsOneAndSymmetric) {
  auto [x, y] = related(90, 5, 4, 14);
  for (Measure m : kSymmetric) {
    EXPECT_NEAR(similarity(x, x, m).value, 1.0, 1e-10) << measure_name(m);
    EXPECT_NEAR(similarity(x, y, m).value, similarity(y, x, m).value, 1e-12) << measure_name(m);
  }
  EXPECT_NEAR(similarity(x, x, Measure::Pwcca).value, 1.0, 1e-10);
}

TEST(CkaForms, FeatureSpaceEqualsGramForm) {
  auto [x, y] = related(50, 7, 4, 15);
  auto xc = x - x.mean(0, true), yc = y - y.mean(0, true);
  EXPECT_NEAR(similarity(x, y, Measure::CkaLinear).value, cka_from_grams(linear_gram(x), linear_gram(y), false),
              1e-12);
  // Debiased: feature space == U-centred Gram == HSIC_1 cosine.
  const double feat = similarity(x, y, Measure::CkaDebiased).value;
  EXPECT_NEAR(feat, cka_from_grams(linear_gram(x), linear_gram(y), true), 1e-12);
  const double h = hsic_unbiased(linear_gram(xc), linear_gram(yc));
  const double hx = hsic_unbiased(linear_gram(xc), linear_gram(xc));
  const double hy = hsic_unbiased(linear_gram(yc), linear_gram(yc));
  EXPECT_NEAR(feat, h / std::sqrt(hx * hy), 1e-12);
  // Biased HSIC cosine == linear CKA.
  const double b = hsic_biased(linear_gram(x), linear_gram(y)) /
                   std::sqrt(hsic_biased(linear_gram(x), linear_gram(x)) * hsic_biased(linear_gram(y), linear_gram(y)));
  EXPECT_NEAR(b, similarity(x, y, Measure::CkaLinear).value, 1e-12);
  // RBF: the cached centred kernel == Kornblith's gram_rbf + centring.
  SimilarityOptions o;
  o.rbf_threshold = 0.7;
  EXPECT_NEAR(similarity(x, y, Measure::CkaRbf, o).value, cka_from_grams(rbf_gram(x, 0.7), rbf_gram(y, 0.7), false),
              1e-12);
}

TEST(CkaForms, GramPathForWideInputsMatchesFeaturePath) {
  // More features than examples: n^2 < p q picks the Gram form; forcing the feature form
  // (max_gram_examples below n) must give the same numbers.
  auto [x, y] = related(12, 40, 30, 16);
  SimilarityOptions feature;
  feature.max_gram_examples = 4;
  for (Measure m : {Measure::CkaLinear, Measure::CkaDebiased}) {
    auto g = similarity(x, y, m);
    EXPECT_EQ(g.details["form"], "gram");
    auto f = similarity(x, y, m, feature);
    EXPECT_EQ(f.details["form"], "feature");
    EXPECT_NEAR(g.value, f.value, 1e-12) << measure_name(m);
    EXPECT_TRUE(std::isfinite(g.value));
  }
}

TEST(Robustness, NanOrInfIsAnErrorNamingTheInput) {
  auto [x, y] = related(30, 3, 3, 17);
  x[4][1] = std::nan("");
  for (Measure m : {Measure::Cca, Measure::CkaLinear}) {
    try {
      similarity(x, y, m, {}, "layer3.npy", "other.npy");
      FAIL() << "no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::BadInput);
      EXPECT_NE(std::string(e.what()).find("layer3.npy"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("NaN"), std::string::npos) << e.what();
    }
  }
  y[0][0] = std::numeric_limits<double>::infinity();
  x[4][1] = 0.0;
  EXPECT_THROW(similarity(x, y, Measure::CkaDebiased), Error);
}

TEST(Robustness, ConstantNeuronsArePrunedWithAWarning) {
  auto [x, y] = related(60, 4, 3, 18);
  auto xz = torch::cat({x, torch::full({60, 2}, 3.0, torch::kFloat64)}, 1);  // two dead neurons
  for (Measure m : {Measure::Cca, Measure::Svcca, Measure::Pwcca}) {
    auto r = similarity(xz, y, m);
    EXPECT_TRUE(std::isfinite(r.value)) << measure_name(m);
    ASSERT_FALSE(r.warnings.empty()) << measure_name(m);
    EXPECT_NE(r.warnings[0].find("constant"), std::string::npos);
  }
  expect_same_coefficients(similarity(x, y, Measure::Cca), similarity(xz, y, Measure::Cca), 1e-10);
  // CKA ignores constant columns (zero after centring).
  EXPECT_NEAR(similarity(xz, y, Measure::CkaLinear).value, similarity(x, y, Measure::CkaLinear).value, 1e-12);
}

TEST(Robustness, RankDeficientInputIsPrunedWithAWarning) {
  auto [x, y] = related(80, 4, 3, 19);
  auto xd = torch::cat({x, x.slice(1, 0, 1) + 2.0 * x.slice(1, 1, 2)}, 1);  // 5th = combination
  auto r = similarity(xd, y, Measure::Cca);
  EXPECT_TRUE(std::isfinite(r.value));
  EXPECT_EQ(r.dims_x, 4);
  bool warned = false;
  for (const auto& w : r.warnings) warned |= w.find("rank 4") != std::string::npos;
  EXPECT_TRUE(warned);
  expect_same_coefficients(r, similarity(x, y, Measure::Cca), 1e-9);
  // Float32 input: the combination is exact only to float32 rounding; the dtype tolerance prunes it.
  auto r32 = similarity(xd.to(torch::kFloat32), y.to(torch::kFloat32), Measure::Cca);
  EXPECT_EQ(r32.dims_x, 4);
}

TEST(Robustness, MoreFeaturesThanExamples) {
  auto [x, y] = related(20, 30, 25, 20);
  try {
    similarity(x, y, Measure::Cca, {}, "wide.npy", "y.npy");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("by construction"), std::string::npos) << e.what();
  }
  SimilarityOptions g;
  g.compat = Compat::Google;
  EXPECT_THROW(similarity(x, y, Measure::Cca, g), Error);
  // SVCCA with few directions and CKA are fine.
  SimilarityOptions k3;
  k3.svcca_dims = 3;
  EXPECT_TRUE(std::isfinite(similarity(x, y, Measure::Svcca, k3).value));
  for (Measure m : {Measure::CkaLinear, Measure::CkaRbf, Measure::CkaDebiased})
    EXPECT_TRUE(std::isfinite(similarity(x, y, m).value)) << measure_name(m);
}

TEST(Robustness, DegenerateInputsAreClearErrors) {
  auto x = torch::ones({10, 3}, torch::kFloat64);
  auto y = torch::randn({10, 2}, torch::kFloat64);
  for (Measure m : all_measures()) EXPECT_THROW(similarity(x, y, m), Error) << measure_name(m);
  EXPECT_THROW(similarity(torch::randn({3, 2}), torch::randn({3, 2}), Measure::CkaDebiased), Error);
  EXPECT_THROW(similarity(torch::randn({5, 2}), torch::randn({6, 2}), Measure::CkaLinear), Error);
  EXPECT_THROW(similarity(torch::randn({5, 2, 2}), torch::randn({5, 2}), Measure::CkaLinear), Error);
  EXPECT_THROW(parse_measure("cka"), Error);
  SimilarityOptions bad;
  bad.svcca_variance = 1.5;
  EXPECT_THROW(similarity(torch::randn({5, 2}), torch::randn({5, 2}), Measure::Svcca, bad), Error);
}

TEST(Compat, GoogleModeLeavesCkaUnchanged) {
  auto [x, y] = related(70, 4, 3, 21);
  SimilarityOptions g;
  g.compat = Compat::Google;
  for (Measure m : {Measure::CkaLinear, Measure::CkaRbf, Measure::CkaDebiased})
    EXPECT_DOUBLE_EQ(similarity(x, y, m, g).value, similarity(x, y, m).value) << measure_name(m);
}
