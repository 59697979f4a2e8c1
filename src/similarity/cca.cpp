#include "similarity/cca.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/error.h"
#include "similarity/pair_checks.h"

namespace closerlook {

int64_t svcca_directions(const Representation& rep, const SimilarityOptions& opts) {
  if (opts.svcca_dims > 0) return opts.svcca_dims;
  return rep.directions_for_variance(opts.svcca_variance);
}

const Subspace& cca_subspace(const Representation& rep, Measure measure, const SimilarityOptions& opts) {
  return measure == Measure::Svcca ? rep.leading_directions(svcca_directions(rep, opts)) : rep.column_space();
}

namespace {

SubspaceInfo info_of(const Subspace& s) { return {s.k, s.explained, s.route, s.warnings}; }

// Everything but the product: result header, warnings, details, the examples-vs-directions
// checks. Shared by the basis route and the feature-space route of the maps.
SimilarityResult cca_header(const Representation& x, const Representation& y, Measure measure,
                            const SimilarityOptions& opts, const SubspaceInfo& sx, const SubspaceInfo& sy) {
  if (!is_cca_family(measure))
    throw Error(ExitCode::Internal, "cca_similarity called with " + measure_name(measure));
  check_same_examples(x, y);
  SimilarityResult r;
  r.measure = measure;
  r.compat = Compat::Clean;
  r.n = x.n();
  r.p = x.p();
  r.q = y.p();
  for (const auto* rep : {&x, &y})
    r.warnings.insert(r.warnings.end(), rep->warnings().begin(), rep->warnings().end());
  if (measure == Measure::Svcca) {
    for (const auto* rep : {&x, &y})
      if (opts.svcca_dims > 0 && opts.svcca_dims > rep->active_features())
        r.warnings.push_back(fmt::format("{}: SVCCA asked for {} directions but it has {} non-constant features",
                                         rep->name(), opts.svcca_dims, rep->active_features()));
    r.details["explained_variance_x"] = sx.explained;
    r.details["explained_variance_y"] = sy.explained;
  }
  r.warnings.insert(r.warnings.end(), sx.warnings.begin(), sx.warnings.end());
  r.warnings.insert(r.warnings.end(), sy.warnings.begin(), sy.warnings.end());
  r.dims_x = sx.k;
  r.dims_y = sy.k;
  r.details["route_x"] = sx.route;
  r.details["route_y"] = sy.route;

  // Two subspaces of dimensions a and b in a d-dimensional space share >= a + b - d directions,
  // which would show up as canonical correlations of exactly 1 whatever the data.
  const int64_t d = x.centred() ? x.n() - 1 : x.n();
  if (sx.k + sy.k > d)
    throw_bad_input(fmt::format(
        "{}: {} keeps {} directions and {} keeps {}, but {} examples span only {} dimensions{}, so at least {} "
        "canonical correlations would be 1 by construction; use more examples, fewer directions "
        "(svcca with a fixed number of dimensions) or a CKA measure",
        measure_name(measure), x.name(), sx.k, y.name(), sy.k, x.n(), d, x.centred() ? " after centring" : "",
        sx.k + sy.k - d));
  const int64_t kmax = std::max(sx.k, sy.k);
  if (5 * kmax > x.n())
    r.warnings.push_back(fmt::format(
        "{}: only {:.1f} examples per compared direction (n = {}, {} directions); CCA is biased upward on few "
        "examples -- the random-data baseline for mean rho^2 is about {:.3f}",
        measure_name(measure), double(x.n()) / kmax, x.n(), kmax, double(kmax) / double(x.n() - 1)));
  return r;
}

// Rounding can put a coefficient a few ulps above 1 (identical subspaces); returns the clamped
// coefficients on the CPU.
torch::Tensor set_coefficients(SimilarityResult& r, const torch::Tensor& s) {
  const auto s_cpu = s.clamp(0.0, 1.0).cpu().contiguous();
  r.coefficients.assign(s_cpu.data_ptr<double>(), s_cpu.data_ptr<double>() + s_cpu.numel());
  r.mean_rho = s_cpu.mean().item<double>();
  r.mean_rho2 = s_cpu.pow(2).mean().item<double>();
  r.value = r.mean_rho;
  return s_cpu;
}

}  // namespace

SimilarityResult cca_similarity_from_product(const Representation& x, const Representation& y, Measure measure,
                                             const SimilarityOptions& opts, const SubspaceInfo& sx,
                                             const SubspaceInfo& sy, const torch::Tensor& product) {
  if (measure == Measure::Pwcca)
    throw Error(ExitCode::Internal, "cca_similarity_from_product: PWCCA needs the bases (use cca_similarity)");
  torch::NoGradGuard no_grad;
  auto r = cca_header(x, y, measure, opts, sx, sy);
  if (product.size(0) != sx.k || product.size(1) != sy.k)
    throw Error(ExitCode::Internal, "cca_similarity_from_product: product has the wrong shape");
  set_coefficients(r, torch::linalg_svdvals(product));
  return r;
}

SimilarityResult cca_similarity(const Representation& x, const Representation& y, Measure measure,
                                const SimilarityOptions& opts, const torch::Tensor& basis_product) {
  if (!is_cca_family(measure))
    throw Error(ExitCode::Internal, "cca_similarity called with " + measure_name(measure));
  check_same_examples(x, y);
  torch::NoGradGuard no_grad;
  const Subspace* sx = &cca_subspace(x, measure, opts);
  const Subspace* sy = &cca_subspace(y, measure, opts);
  auto r = cca_header(x, y, measure, opts, info_of(*sx), info_of(*sy));

  const auto m = basis_product.defined() ? basis_product : sx->basis.t().mm(sy->basis);  // kx x ky
  if (m.size(0) != sx->k || m.size(1) != sy->k)
    throw Error(ExitCode::Internal, "cca_similarity: basis product has the wrong shape");
  torch::Tensor s, u, vh;
  if (measure == Measure::Pwcca) {
    std::tie(u, s, vh) = torch::linalg_svd(m, false);
  } else {
    s = torch::linalg_svdvals(m);
  }
  const auto s_cpu = set_coefficients(r, s);

  if (measure == Measure::Pwcca) {
    // Weigh by the side with fewer directions (x on a tie), as pwcca.compute_pwcca does:
    // a_i = sum_j |<h_i, x_j>| with h_i the unit canonical variates and x_j the centred neurons.
    const bool use_x = sx->k <= sy->k;
    const Subspace& side = use_x ? *sx : *sy;
    const Representation& rep = use_x ? x : y;
    if (!side.coordinates.defined()) side.coordinates = side.basis.t().mm(rep.active_data());
    const auto dirs = use_x ? u : vh.t();  // k x k canonical directions in the basis
    auto a = dirs.t().mm(side.coordinates).abs().sum(1);
    const double total = a.sum().item<double>();
    if (!(total > 0.0)) throw Error(ExitCode::Internal, "pwcca: all projection weights are zero");
    const auto w = (a / total).cpu().contiguous();
    r.weights.assign(w.data_ptr<double>(), w.data_ptr<double>() + w.numel());
    r.weighted_side = use_x ? "x" : "y";
    r.value = (w * s_cpu).sum().item<double>();
  }
  return r;
}

}  // namespace closerlook
