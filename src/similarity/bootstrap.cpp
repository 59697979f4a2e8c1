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
