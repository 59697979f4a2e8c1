#include "similarity/bootstrap.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "similarity/representation.h"
#include "similarity/similarity.h"

namespace closerlook {
namespace {

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// Lemire's nearly divisionless reduction of a 64-bit draw to [0, n), without bias.
uint64_t below(uint64_t& state, uint64_t n) {
  while (true) {
    const unsigned __int128 m = static_cast<unsigned __int128>(splitmix64(state)) * n;
    const uint64_t low = static_cast<uint64_t>(m);
    if (low >= n || low >= (-n) % n) return static_cast<uint64_t>(m >> 64);
  }
}

// Linear CKA on every resample through the example Grams, without gathering them. A resample is
// a vector of multiplicities w (sum m, the rows per resample). With K = X X^T computed once (X
// centred on all examples first, for precision; CKA is translation invariant), the HSIC of the
// resampled rows centred over themselves is tr(P K P L) with P = diag(w) - w w^T / m, i.e.
//   w^T (K o L) w - (2/m) sum_j w_j (Kw)_j (Lw)_j + (w^T K w)(w^T L w) / m^2,
// and linear CKA = hsic(K, L) / sqrt(hsic(K, K) hsic(L, L)): the same number as the feature-space
// form on the resampled rows. For all B resamples at once that is a few [B, n] x [n, n] products
// per pair of representations (K o L, the Hadamard product, is formed once), not B Grams.
std::vector<std::vector<double>> cka_linear_by_grams(const std::vector<torch::Tensor>& x64, const torch::Tensor& y64,
                                                     const torch::Tensor& ix) {
  const int64_t B = ix.size(0), n = y64.size(0), m = ix.size(1);
  const double mb = static_cast<double>(m);
  auto gram = [](const torch::Tensor& x) {
    const torch::Tensor xc = x - x.mean(0, true);
    return xc.mm(xc.t());
  };
  const torch::Tensor W =
      torch::zeros({B, n}, torch::kFloat64).scatter_add_(1, ix, torch::ones({B, m}, torch::kFloat64));
  struct Side {
    torch::Tensor K, kw, wkw;  // Gram, W K (B x n), w^T K w (B)
  };
  auto side = [&](const torch::Tensor& x) {
    Side s;
    s.K = gram(x);
    s.kw = W.mm(s.K);
    s.wkw = (s.kw * W).sum(1);
    return s;
  };
  auto hsic = [&](const Side& a, const Side& b) {
    return (W.mm(a.K * b.K) * W).sum(1) - (2.0 / mb) * (W * a.kw * b.kw).sum(1) + a.wkw * b.wkw / (mb * mb);
  };
  // hsic(K, K) <= (m max|K|)^2; below 1e-12 of that it is rounding noise: no variance, NaN.
  auto floor_of = [&](const Side& s) {
    const double top = mb * s.K.abs().max().item<double>();
    return 1e-12 * top * top;
  };
  const Side y = side(y64);
  const torch::Tensor yy = hsic(y, y);
  const double y_floor = floor_of(y);
  std::vector<std::vector<double>> out(static_cast<size_t>(B), std::vector<double>(x64.size(), NAN));
  const auto ya = yy.accessor<double, 1>();
  for (size_t k = 0; k < x64.size(); ++k) {
    const Side x = side(x64[k]);
    const torch::Tensor xx = hsic(x, x), xy = hsic(x, y);
    const auto xa = xx.accessor<double, 1>(), xya = xy.accessor<double, 1>();
    const double x_floor = floor_of(x);
    for (int64_t b = 0; b < B; ++b)
      if (xa[b] > x_floor && ya[b] > y_floor) out[static_cast<size_t>(b)][k] = xya[b] / std::sqrt(xa[b] * ya[b]);
  }
  return out;
}

}  // namespace

torch::Tensor bootstrap_indices(int64_t n, int64_t resamples, uint64_t seed) {
  CL_CHECK_INPUT(n >= 1, "bootstrap_indices: need at least one example");
  CL_CHECK_INPUT(resamples >= 1, "bootstrap_indices: need at least one resample");
  torch::Tensor idx = torch::empty({resamples, n}, torch::kInt64);
  int64_t* p = idx.data_ptr<int64_t>();
  uint64_t state = seed;
  for (int64_t i = 0; i < resamples * n; ++i) p[i] = static_cast<int64_t>(below(state, static_cast<uint64_t>(n)));
  return idx;
}

std::vector<std::vector<double>> bootstrap_similarities(const std::vector<torch::Tensor>& xs, const torch::Tensor& y,
                                                        const torch::Tensor& idx, Measure measure,
                                                        const SimilarityOptions& opts) {
  validate_options(opts);
  if (is_spatial(measure))
    throw_bad_input("bootstrap_similarities: dft-cca compares 4-D activations; the bootstrap takes 2-D matrices");
  CL_CHECK_INPUT(y.dim() == 2, "bootstrap_similarities: the reference must be a 2-D (examples x features) matrix");
  CL_CHECK_INPUT(idx.dim() == 2 && idx.scalar_type() == torch::kInt64,
                 "bootstrap_similarities: indices must be an int64 [B, n] tensor");
  const int64_t n = y.size(0);
  torch::NoGradGuard no_grad;
  const torch::Tensor ix = idx.to(torch::kCPU).contiguous();
  if (ix.numel() > 0)
    CL_CHECK_INPUT(ix.min().item<int64_t>() >= 0 && ix.max().item<int64_t>() < n,
                   fmt::format("bootstrap_similarities: indices must lie in [0, {})", n));
  auto prepare = [&](const torch::Tensor& t, const std::string& what) {
    CL_CHECK_INPUT(t.dim() == 2 && t.size(0) == n,
                   fmt::format("bootstrap_similarities: {} must be 2-D with {} rows (the reference's examples)", what, n));
    torch::Tensor d = t.to(torch::kCPU, torch::kFloat64).contiguous();
    CL_CHECK_INPUT(torch::isfinite(d).all().item<bool>(), "bootstrap_similarities: " + what + " has NaN or inf values");
    return d;
  };
  const torch::Tensor y64 = prepare(y, "the reference");
  std::vector<torch::Tensor> x64;
  for (size_t k = 0; k < xs.size(); ++k) x64.push_back(prepare(xs[k], "representation " + std::to_string(k)));
  // Linear CKA: the Gram route (the same value, O(n^2) per resample) while n x n fits.
  if (measure == Measure::CkaLinear && opts.center && n <= opts.max_gram_examples)
    return cka_linear_by_grams(x64, y64, ix);
  const auto ro = representation_options(opts);
  std::vector<std::vector<double>> out(static_cast<size_t>(ix.size(0)), std::vector<double>(xs.size(), NAN));
  for (int64_t b = 0; b < ix.size(0); ++b) {
    const torch::Tensor rows = ix[b];
    std::unique_ptr<Representation> ry;
    try {
      ry = std::make_unique<Representation>(y64.index_select(0, rows), "Y", ro);
    } catch (const Error&) {
      continue;  // a degenerate resample: every similarity of this replicate is NaN
    }
    for (size_t k = 0; k < x64.size(); ++k) {
      try {
        const Representation rx(x64[k].index_select(0, rows), "X", ro);
        out[b][k] = similarity(rx, *ry, measure, opts).value;
      } catch (const Error&) {
        out[b][k] = NAN;
      }
    }
  }
  return out;
}

int64_t finite_count(const std::vector<double>& r) {
  return std::count_if(r.begin(), r.end(), [](double v) { return std::isfinite(v); });
}

double bootstrap_se(const std::vector<double>& r) {
  double sum = 0;
  int64_t k = 0;
  for (double v : r)
    if (std::isfinite(v)) sum += v, ++k;
  if (k < 2) return NAN;
  const double m = sum / double(k);
  double ss = 0;
  for (double v : r)
    if (std::isfinite(v)) ss += (v - m) * (v - m);
  return std::sqrt(ss / double(k - 1));
}

std::pair<double, double> bootstrap_percentile_interval(const std::vector<double>& r, double level) {
  CL_CHECK_INPUT(level > 0 && level < 1, "bootstrap_percentile_interval: level must be in (0, 1)");
  std::vector<double> v;
  for (double x : r)
    if (std::isfinite(x)) v.push_back(x);
  if (v.size() < 2) return {NAN, NAN};
  std::sort(v.begin(), v.end());
  auto q = [&](double p) {
    const double h = p * double(v.size() - 1);
    const size_t lo = static_cast<size_t>(std::floor(h));
    const size_t hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (h - double(lo)) * (v[hi] - v[lo]);
  };
  return {q((1 - level) / 2), q((1 + level) / 2)};
}

}  // namespace closerlook
