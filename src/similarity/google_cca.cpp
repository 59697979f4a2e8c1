#include "similarity/google_cca.h"

#include <fmt/format.h>

#include <cmath>

#include "core/error.h"

namespace closerlook {
namespace {

using torch::indexing::Slice;

torch::Tensor as_f64_cpu(const torch::Tensor& t) { return t.detach().to(torch::kCPU, torch::kFloat64).contiguous(); }
// float64, or complex128 for complex input (DFT-CCA's per-frequency data), on the CPU.
torch::Tensor as_f64_or_c128_cpu(const torch::Tensor& t) {
  return t.detach().to(torch::kCPU, t.is_complex() ? torch::kComplexDouble : torch::kFloat64).contiguous();
}

// positivedef_matrix_sqrt(pinv(a)): V diag(sqrt(w)) V^H from eigh (V^T for real a). numpy returns
// NaN for the square root of a (rounding-)negative eigenvalue; those are clamped to 0 and counted.
torch::Tensor inverse_sqrt(const torch::Tensor& a, int64_t& clamped) {
  auto inv = torch::linalg_pinv(a, 1e-15, false);
  auto [w, v] = torch::linalg_eigh(inv, "L");
  clamped += (w < 0).sum().item<int64_t>();
  return v.mm(torch::diag(w.clamp_min(0.0).sqrt()).to(v.scalar_type())).mm(v.mH());
}

std::vector<double> to_vector(const torch::Tensor& t) {
  auto c = as_f64_cpu(t);
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

}  // namespace

double google_threshold_mean(const std::vector<double>& s, double threshold, int64_t* index) {
  double total = 0.0;
  for (double v : s) total += v;
  int64_t idx = static_cast<int64_t>(s.size());  // "None": s[:None] is the whole array
  double prefix = 0.0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (prefix / total >= threshold) {  // NaN (total == 0) compares false, as in numpy
      idx = static_cast<int64_t>(i);
      break;
    }
    prefix += s[i];
  }
  if (index) *index = idx;
  if (idx == 0) return 0.0;
  double sum = 0.0;
  for (int64_t i = 0; i < idx; ++i) sum += s[i];
  return sum / idx;
}

GoogleCca google_cca(const torch::Tensor& x_in, const torch::Tensor& y_in, double epsilon, double threshold,
                     const std::string& x_name) {
  torch::NoGradGuard no_grad;
  // Complex input (either side) stays complex: numpy's cov/pinv/eigh/svd handle it as Hermitian.
  const bool complex = x_in.is_complex() || y_in.is_complex();
  auto x = as_f64_or_c128_cpu(x_in), y = as_f64_or_c128_cpu(y_in);
  if (complex) {
    x = x.to(torch::kComplexDouble);
    y = y.to(torch::kComplexDouble);
  }
  const int64_t n = x.size(0), nx = x.size(1), ny = y.size(1);
  if (y.size(0) != n) throw_bad_input(fmt::format("google cca: X has {} examples but Y has {}", n, y.size(0)));
  if (!(nx < n))
    throw_bad_input(fmt::format("google cca: {} has {} neurons but only {} datapoints; google/svcca requires "
                                "fewer neurons than datapoints (use clean svcca with fewer dimensions, or CKA)",
                                x_name, nx, n));
  // np.cov(acts1, acts2): joint covariance of all neurons, ddof = 1; complex: C_ij = sum_k z_ki conj(z_kj).
  auto z = torch::cat({x, y}, 1);
  z = z - z.mean(0, true);
  auto cov = z.t().mm(complex ? z.conj() : z) / double(n - 1);
  auto sxx = cov.index({Slice(0, nx), Slice(0, nx)}).clone();
  auto sxy = cov.index({Slice(0, nx), Slice(nx, nx + ny)}).clone();
  auto syy = cov.index({Slice(nx, nx + ny), Slice(nx, nx + ny)}).clone();
  const double xmax = sxx.abs().max().item<double>(), ymax = syy.abs().max().item<double>();

  GoogleCca g;
  if (!(xmax > 0.0) || !(ymax > 0.0)) {  // numpy: 0/0 = NaN, every neuron fails remove_small
    g.empty = true;
    g.x_keep = torch::zeros({nx}, torch::kBool);
    g.y_keep = torch::zeros({ny}, torch::kBool);
    g.coefficients = torch::zeros({0}, torch::kFloat64);
    return g;
  }
  sxx /= xmax;
  syy /= ymax;
  sxy /= std::sqrt(xmax * ymax);

  // remove_small: keep neurons whose rescaled variance is >= epsilon.
  g.x_keep = sxx.diagonal().abs() >= epsilon;
  g.y_keep = syy.diagonal().abs() >= epsilon;
  const auto xi = torch::nonzero(g.x_keep).view({-1}), yi = torch::nonzero(g.y_keep).view({-1});
  if (xi.numel() == 0 || yi.numel() == 0) {
    g.empty = true;
    g.coefficients = torch::zeros({0}, torch::kFloat64);
    return g;
  }
  sxx = sxx.index_select(0, xi).index_select(1, xi);
  syy = syy.index_select(0, yi).index_select(1, yi);
  sxy = sxy.index_select(0, xi).index_select(1, yi);
  sxx += epsilon * torch::eye(xi.numel(), sxx.scalar_type());
  syy += epsilon * torch::eye(yi.numel(), syy.scalar_type());
  const auto ixx = inverse_sqrt(sxx, g.clamped_eigenvalues);
  const auto iyy = inverse_sqrt(syy, g.clamped_eigenvalues);
  const auto arr = ixx.mm(sxy).mm(iyy);
  auto [u, s, vh] = torch::linalg_svd(arr, true);
  // Singular vectors have no sign of their own, and PWCCA's weights depend on it (Google adds the
  // neuron means back after projecting). LAPACKs differ (numpy's OpenBLAS vs the wheel's MKL), so
  // fix it: the largest-magnitude entry of each right vector (row of vh) is positive (sklearn's
  // svd_flip with u_based_decision=False; numpy's output on the reference fixture follows it).
  // Complex: the phase of that entry is removed instead (u times the phase, vh times its conjugate).
  {
    const auto k = std::min(u.size(1), vh.size(0));
    const auto rows = vh.slice(0, 0, k);
    const auto idx = rows.abs().argmax(1);
    auto sign = rows.gather(1, idx.unsqueeze(1)).sgn().squeeze(1);
    sign = torch::where(sign == 0, torch::ones_like(sign), sign);
    u.slice(1, 0, k).mul_(sign.unsqueeze(0));
    vh.slice(0, 0, k).mul_(sign.conj().unsqueeze(1));
  }
  g.u = u;
  g.vh = vh;
  g.coefficients = s.abs();
  const auto coefs = to_vector(g.coefficients);
  g.mean = google_threshold_mean(coefs, threshold, &g.threshold_index);
  for (double v : coefs) g.sum += v;
  return g;
}

SimilarityResult google_similarity(const torch::Tensor& x_in, const torch::Tensor& y_in, Measure measure,
                                   const SimilarityOptions& opts, const std::string& x_name,
                                   const std::string& y_name) {
  if (!is_cca_family(measure))
    throw Error(ExitCode::Internal, "google_similarity called with " + measure_name(measure));
  torch::NoGradGuard no_grad;
  auto x = as_f64_cpu(x_in), y = as_f64_cpu(y_in);
  SimilarityResult r;
  r.measure = measure;
  r.compat = Compat::Google;
  r.n = x.size(0);
  r.p = x.size(1);
  r.q = y.size(1);
  double epsilon = opts.google_epsilon;

  if (measure == Measure::Svcca) {
    // Tutorial 001: centre each neuron, SVD, keep k directions as s[:k] * V[:k] (neuron-major),
    // i.e. the principal-component scores U_k S_k here; then get_cca_similarity.
    auto reduce = [&](const torch::Tensor& a, const std::string& name) {
      auto c = a - a.mean(0, true);
      auto [u, s, vh] = torch::linalg_svd(c, false);
      int64_t k = opts.svcca_dims;
      if (k <= 0) {
        const auto frac = (s * s).cumsum(0) / (s * s).sum();
        k = (frac < opts.svcca_variance).sum().item<int64_t>() + 1;
      }
      k = std::min<int64_t>(k, s.numel());
      r.details["dims_" + name] = k;
      return (u.slice(1, 0, k) * s.slice(0, 0, k).unsqueeze(0)).contiguous();
    };
    x = reduce(x, "x");
    y = reduce(y, "y");
  }

  GoogleCca g = google_cca(x, y, epsilon, opts.google_threshold, x_name);
  r.dims_x = g.x_keep.sum().item<int64_t>();
  r.dims_y = g.y_keep.sum().item<int64_t>();
  if (g.clamped_eigenvalues > 0)
    r.warnings.push_back(fmt::format(
        "google compat: clamped {} negative eigenvalues of pinv(Sigma) to 0 in the inverse square root "
        "(google/svcca would produce NaN here); consider epsilon > 0",
        g.clamped_eigenvalues));
  if (r.dims_x < r.p)
    r.warnings.push_back(fmt::format("google compat: remove_small dropped {} of {} neurons of {} (epsilon {:g})",
                                     r.p - r.dims_x, r.p, x_name, epsilon));
  if (r.dims_y < y.size(1))
    r.warnings.push_back(fmt::format("google compat: remove_small dropped {} of {} neurons of {} (epsilon {:g})",
                                     y.size(1) - r.dims_y, y.size(1), y_name, epsilon));
  if (g.empty) {
    r.warnings.push_back("google compat: no neuron survived remove_small; google returns its zero dict (mean 0)");
    r.value = 0.0;
    return r;
  }
  r.coefficients = to_vector(g.coefficients);
  const auto& c = r.coefficients;
  double sum = 0.0, sum2 = 0.0;
  for (double v : c) {
    sum += v;
    sum2 += v * v;
  }
  r.mean_rho = sum / c.size();
  r.mean_rho2 = sum2 / c.size();
  r.details["google_mean"] = g.mean;
  r.details["threshold_index"] = g.threshold_index;
  r.details["threshold"] = opts.google_threshold;
  r.details["sum"] = g.sum;
  r.details["epsilon"] = epsilon;

  if (measure == Measure::Cca) {
    r.value = g.mean;
  } else if (measure == Measure::Svcca) {
    r.value = r.mean_rho;  // the tutorial reports np.mean(cca_coef1)
  } else {
    // pwcca.compute_pwcca: variates of the side with fewer kept neurons.
    const bool use_x = r.dims_x <= r.dims_y;
    const auto& acts = use_x ? x : y;
    const auto keep = torch::nonzero(use_x ? g.x_keep : g.y_keep).view({-1});
    const auto sel = acts.index_select(1, keep);      // n x k (neuron-major acts[idxs], transposed)
    const auto mu = sel.mean(0, true);                // neuron means over datapoints
    const auto coef = use_x ? g.u.t() : g.vh;         // coef_x = u.T, coef_y = v (numpy's V^H)
    const auto dirns_t = (sel - mu).mm(coef.t()) + mu;  // (coef @ (acts - mu) + mu)^T
    auto [pq, pr] = torch::linalg_qr(dirns_t, "reduced");
    auto weights = pq.t().mm(sel).abs().sum(1);
    weights = weights / weights.sum();
    r.weights = to_vector(weights);
    r.weighted_side = use_x ? "x" : "y";
    double v = 0.0;
    for (size_t i = 0; i < r.weights.size() && i < c.size(); ++i) v += r.weights[i] * c[i];
    r.value = v;
  }
  return r;
}

}  // namespace closerlook
