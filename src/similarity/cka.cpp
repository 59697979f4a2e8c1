#include "similarity/cka.h"

#include <fmt/format.h>

#include <cmath>

#include "core/error.h"
#include "similarity/pair_checks.h"

namespace closerlook {
namespace {

void require_variance(const Representation& r, double self_norm, const std::string& what) {
  if (!(self_norm > 0.0))
    throw_bad_input(fmt::format("{}: all features are constant (zero variance after centring); {} is undefined",
                                r.name(), what));
}

// ||X^T Y||_F^2 for centred X, Y: feature space O(n p q) or Gram space O(n^2) per pair (the
// Grams are cached per representation), whichever is cheaper.
double cross_sq_norm(const Representation& x, const Representation& y, const SimilarityOptions& opts,
                     std::string& form) {
  const int64_t n = x.n();
  if (n <= opts.max_gram_examples && n * n < x.p() * y.p()) {
    form = "gram";
    return (x.example_gram() * y.example_gram()).sum().item<double>();
  }
  form = "feature";
  return x.data().t().mm(y.data()).pow(2).sum().item<double>();
}

}  // namespace

double debiased_hsic_numerator(double xty, double sx_dot_sy, double sum_sx, double sum_sy, int64_t n) {
  const double nd = static_cast<double>(n);
  return xty - nd / (nd - 2.0) * sx_dot_sy + sum_sx * sum_sy / ((nd - 1.0) * (nd - 2.0));
}

SimilarityResult cka_similarity(const Representation& x, const Representation& y, Measure measure,
                                const SimilarityOptions& opts) {
  check_same_examples(x, y);
  if (!x.centred() || !y.centred())
    throw_bad_input("CKA needs centred representations (center = false applies to the CCA family only)");
  torch::NoGradGuard no_grad;
  SimilarityResult r;
  r.measure = measure;
  r.n = x.n();
  r.p = x.p();
  r.q = y.p();
  const int64_t n = x.n();

  if (measure == Measure::CkaLinear) {
    const double xx = x.feature_gram_sq_norm(), yy = y.feature_gram_sq_norm();
    require_variance(x, xx, "linear CKA");
    require_variance(y, yy, "linear CKA");
    std::string form;
    const double xy = cross_sq_norm(x, y, opts, form);
    r.value = xy / std::sqrt(xx * yy);
    r.details["form"] = form;
  } else if (measure == Measure::CkaDebiased) {
    if (n <= 3)
      throw_bad_input(fmt::format("debiased CKA needs more than 3 examples (unbiased HSIC divides by n(n-3)); "
                                  "{} has n = {}",
                                  x.name(), n));
    const auto& sx = x.row_sq_norms();
    const auto& sy = y.row_sq_norms();
    const double sum_x = sx.sum().item<double>(), sum_y = sy.sum().item<double>();
    require_variance(x, sum_x, "debiased CKA");
    require_variance(y, sum_y, "debiased CKA");
    std::string form;
    const double xy = cross_sq_norm(x, y, opts, form);
    const double hxy = debiased_hsic_numerator(xy, sx.dot(sy).item<double>(), sum_x, sum_y, n);
    const double hxx = debiased_hsic_numerator(x.feature_gram_sq_norm(), sx.dot(sx).item<double>(), sum_x, sum_x, n);
    const double hyy = debiased_hsic_numerator(y.feature_gram_sq_norm(), sy.dot(sy).item<double>(), sum_y, sum_y, n);
    const double scale = 1.0 / (double(n) * double(n - 3));
    for (auto [rep, h] : {std::make_pair(&x, hxx), std::make_pair(&y, hyy)})
      if (!(h > 0.0))
        throw_bad_input(fmt::format("{}: unbiased HSIC(X, X) = {:.3g} <= 0 with n = {}; debiased CKA is undefined "
                                    "(too few examples for this many features?)",
                                    rep->name(), h * scale, n));
    r.value = hxy / std::sqrt(hxx * hyy);
    r.details["form"] = form;
    r.details["hsic_xy"] = hxy * scale;
    r.details["hsic_xx"] = hxx * scale;
    r.details["hsic_yy"] = hyy * scale;
  } else if (measure == Measure::CkaRbf) {
    if (n > opts.max_gram_examples)
      throw_bad_input(fmt::format("RBF CKA needs the {} x {} kernel matrix; n = {} exceeds the limit of {} "
                                  "examples (subsample the examples or raise the limit)",
                                  n, n, n, opts.max_gram_examples));
    double s2x = 0.0, s2y = 0.0;
    const auto& kx = x.centred_rbf_gram(opts.rbf_threshold, &s2x);
    const auto& ky = y.centred_rbf_gram(opts.rbf_threshold, &s2y);
    const double xy = (kx * ky).sum().item<double>();
    const double xx = kx.pow(2).sum().item<double>(), yy = ky.pow(2).sum().item<double>();
    require_variance(x, xx, "RBF CKA");
    require_variance(y, yy, "RBF CKA");
    r.value = xy / std::sqrt(xx * yy);
    r.details["sigma2_x"] = s2x;
    r.details["sigma2_y"] = s2y;
    r.details["threshold"] = opts.rbf_threshold;
  } else {
    throw Error(ExitCode::Internal, "cka_similarity called with " + measure_name(measure));
  }
  return r;
}

torch::Tensor linear_gram(const torch::Tensor& x) {
  auto d = x.to(torch::kFloat64);
  return d.mm(d.t());
}

torch::Tensor rbf_gram(const torch::Tensor& x, double threshold) {
  auto d = x.to(torch::kFloat64);
  auto k = d.mm(d.t());
  auto sq = k.diagonal();
  auto d2 = -2.0 * k + sq.unsqueeze(1) + sq.unsqueeze(0);
  // numpy.median over the full matrix.
  auto sorted = std::get<0>(d2.reshape({-1}).sort());
  const int64_t m = sorted.numel();
  const double median = m % 2 ? sorted[m / 2].item<double>()
                              : 0.5 * (sorted[m / 2 - 1].item<double>() + sorted[m / 2].item<double>());
  return torch::exp(-d2 / (2.0 * threshold * threshold * median));
}

torch::Tensor center_gram(const torch::Tensor& k) {
  auto means = k.mean(0);
  means = means - means.mean() / 2.0;
  return k - means.unsqueeze(1) - means.unsqueeze(0);
}

torch::Tensor u_center_gram(const torch::Tensor& k) {
  const int64_t n = k.size(0);
  if (n <= 2) throw_bad_input(fmt::format("U-centring needs more than 2 examples, got {}", n));
  auto g = k.clone();
  g.fill_diagonal_(0.0);
  auto means = g.sum(0) / double(n - 2);
  means = means - means.sum() / (2.0 * double(n - 1));
  g = g - means.unsqueeze(1) - means.unsqueeze(0);
  g.fill_diagonal_(0.0);
  return g;
}

double hsic_biased(const torch::Tensor& k, const torch::Tensor& l) {
  const double n = double(k.size(0));
  return (center_gram(k) * center_gram(l)).sum().item<double>() / ((n - 1.0) * (n - 1.0));
}

double hsic_unbiased(const torch::Tensor& k_in, const torch::Tensor& l_in) {
  const int64_t n = k_in.size(0);
  if (n <= 3) throw_bad_input(fmt::format("unbiased HSIC needs more than 3 examples, got {}", n));
  auto k = k_in.clone(), l = l_in.clone();
  k.fill_diagonal_(0.0);
  l.fill_diagonal_(0.0);
  const double nd = double(n);
  const double trace_kl = (k * l).sum().item<double>();
  const double sum_k = k.sum().item<double>(), sum_l = l.sum().item<double>();
  const double cross = k.sum(1).dot(l.sum(1)).item<double>();
  return (trace_kl + sum_k * sum_l / ((nd - 1.0) * (nd - 2.0)) - 2.0 / (nd - 2.0) * cross) / (nd * (nd - 3.0));
}

double cka_from_grams(const torch::Tensor& k, const torch::Tensor& l, bool debiased) {
  const auto kc = debiased ? u_center_gram(k) : center_gram(k);
  const auto lc = debiased ? u_center_gram(l) : center_gram(l);
  const double xy = (kc * lc).sum().item<double>();
  return xy / std::sqrt((kc * kc).sum().item<double>() * (lc * lc).sum().item<double>());
}

}  // namespace closerlook
