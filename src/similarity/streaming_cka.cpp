#include "similarity/streaming_cka.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <map>

#include "core/error.h"

namespace closerlook {
namespace {

// The unbiased HSIC estimator (Song et al. 2012) times n(n-3), from sums over uncentred data.
double hsic1_scaled(double cross_sq, double sum_ab, double sk, double sl, double k1_dot_l1, double n) {
  return cross_sq - sum_ab + sk * sl / ((n - 1.0) * (n - 2.0)) - 2.0 / (n - 2.0) * k1_dot_l1;
}

}  // namespace

CkaAccumulator::CkaAccumulator(std::vector<std::string> names, std::vector<int64_t> widths,
                               std::vector<std::pair<int64_t, int64_t>> pairs, bool float32, bool linear_only)
    : names_(std::move(names)),
      widths_(std::move(widths)),
      pairs_(std::move(pairs)),
      float32_(float32),
      linear_only_(linear_only) {
  if (names_.size() != widths_.size())
    throw Error(ExitCode::Internal, "CkaAccumulator: names and widths differ in length");
  for (auto [i, j] : pairs_)
    if (i < 0 || j < 0 || i >= int64_t(widths_.size()) || j >= int64_t(widths_.size()))
      throw Error(ExitCode::Internal, fmt::format("CkaAccumulator: pair ({}, {}) out of range", i, j));
  reps_.resize(widths_.size());
  pair_sums_.resize(pairs_.size());
  offsets_.assign(widths_.size() + 1, 0);
  for (size_t r = 0; r < widths_.size(); ++r) offsets_[r + 1] = offsets_[r] + widths_[r];
  // Cross terms, grouped by left representation so that each group is one GEMM per batch.
  std::map<int64_t, size_t> group_of;
  for (size_t k = 0; k < pairs_.size(); ++k) {
    const auto [i, j] = pairs_[k];
    if (i == j) continue;
    auto it = group_of.find(i);
    if (it == group_of.end()) {
      it = group_of.emplace(i, groups_.size()).first;
      groups_.push_back(Group{});
      groups_.back().left = i;
    }
    groups_[it->second].ks.push_back(k);
    groups_[it->second].right.push_back(j);
  }
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  for (auto& g : groups_) {
    g.contiguous = true;
    int64_t total = 0;
    for (size_t m = 0; m < g.right.size(); ++m) {
      if (m > 0 && g.right[m] != g.right[m - 1] + 1) g.contiguous = false;
      total += widths_[g.right[m]];
    }
    g.cross = torch::zeros({widths_[g.left], total}, f64);
    g.xtb = torch::zeros({widths_[g.left], int64_t(g.ks.size())}, f64);
    int64_t off = 0;
    for (size_t m = 0; m < g.ks.size(); ++m) {
      PairSums& ps = pair_sums_[g.ks[m]];
      const int64_t q = widths_[g.right[m]];
      ps.cross = g.cross.slice(1, off, off + q);
      ps.xtb = g.xtb.select(1, int64_t(m));
      ps.yta = torch::zeros({q}, f64);
      off += q;
    }
  }
}

void CkaAccumulator::add(const std::vector<torch::Tensor>& batch) {
  if (batch.size() != widths_.size())
    throw_bad_input(fmt::format("CKA accumulator: got {} batches for {} representations", batch.size(),
                                widths_.size()));
  torch::NoGradGuard no_grad;
  const int64_t b = batch.empty() ? 0 : batch[0].size(0);
  const auto dtype = float32_ ? torch::kFloat32 : torch::kFloat64;
  // Every representation's shifted batch side by side in one buffer (b x sum widths), so that a
  // group's right-hand representations, when consecutive, are one strided view (no copy).
  auto buf = torch::empty({b, offsets_.back()}, torch::TensorOptions().dtype(dtype));
  std::vector<torch::Tensor> xs(batch.size()), norms(batch.size()), norms_c(batch.size());
  // sum += lhs rhs: in float32 mode the product is a float32 GEMM added into the float64 sum.
  auto add_product = [this](torch::Tensor& sum, const torch::Tensor& lhs, const torch::Tensor& rhs) {
    if (float32_)
      sum += lhs.mm(rhs);
    else
      sum.addmm_(lhs, rhs);
  };
  for (size_t r = 0; r < batch.size(); ++r) {
    const auto& t = batch[r];
    if (t.dim() != 2 || t.size(0) != b || t.size(1) != widths_[r])
      throw_bad_input(fmt::format("{}: batch of shape {} does not match ({} x {})", names_[r],
                                  fmt::join(t.sizes(), "x"), b, widths_[r]));
    if (!torch::isfinite(t).all().item<bool>())
      throw_bad_input(fmt::format("{}: contains NaN or inf (in examples {}..{})", names_[r], n_, n_ + b - 1));
    RepSums& s = reps_[r];
    if (!s.shift.defined()) {
      // The shift is rounded to the working precision so that it is exactly what is subtracted.
      s.shift = t.detach().to(torch::kFloat64).mean(0).to(dtype).to(torch::kFloat64);
      const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
      s.colsum = torch::zeros({widths_[r]}, f64);
      s.gram = torch::zeros({widths_[r], widths_[r]}, f64);
      s.xta = torch::zeros({widths_[r]}, f64);
    }
    auto x = buf.slice(1, offsets_[r], offsets_[r + 1]);
    x.copy_(t.detach());
    x.sub_(s.shift.to(dtype));
    s.colsum += x.sum(0, /*keepdim=*/false, torch::kFloat64);
    xs[r] = x;
    add_product(s.gram, x.t(), x);
    if (linear_only_) continue;
    auto a = x.pow(2).sum(1, /*keepdim=*/false, torch::kFloat64);  // float64 row norms
    if (float32_)
      s.xta += x.t().mv(a.to(dtype));
    else
      s.xta.addmv_(x.t(), a);
    s.sum_a += a.sum().item<double>();
    s.sum_a2 += a.pow(2).sum().item<double>();
    norms[r] = a;
    norms_c[r] = float32_ ? a.to(dtype) : a;
  }
  for (auto& g : groups_) {
    torch::Tensor rights, right_norms;
    if (g.contiguous) {
      rights = buf.slice(1, offsets_[g.right.front()], offsets_[g.right.back() + 1]);
    } else {
      std::vector<torch::Tensor> parts;
      for (int64_t j : g.right) parts.push_back(xs[j]);
      rights = torch::cat(parts, 1);
    }
    const auto& x = xs[g.left];
    add_product(g.cross, x.t(), rights);
    if (linear_only_) continue;
    std::vector<torch::Tensor> nparts;
    for (int64_t j : g.right) nparts.push_back(norms_c[j].unsqueeze(1));
    right_norms = torch::cat(nparts, 1);
    add_product(g.xtb, x.t(), right_norms);
    for (size_t m = 0; m < g.ks.size(); ++m) {
      PairSums& ps = pair_sums_[g.ks[m]];
      const int64_t j = g.right[m];
      if (float32_) {
        ps.yta += xs[j].t().mv(norms_c[g.left]);
      } else {
        ps.yta.addmv_(xs[j].t(), norms[g.left]);
      }
      ps.sum_ab += norms[g.left].dot(norms[j]).item<double>();
    }
  }
  n_ += b;
}

void CkaAccumulator::check_ready(const char* what) const {
  if (n_ < 2) throw_bad_input(fmt::format("{} needs at least 2 examples, got {}", what, n_));
}

std::vector<double> CkaAccumulator::linear_cka() const {
  check_ready("linear CKA");
  torch::NoGradGuard no_grad;
  const double n = double(n_);
  std::vector<double> self(reps_.size(), -1.0);
  auto self_norm = [&](int64_t i) {
    if (self[i] < 0.0) {
      const auto& s = reps_[i];
      self[i] = std::sqrt((s.gram - torch::outer(s.colsum, s.colsum) / n).pow(2).sum().item<double>());
      if (!(self[i] > 0.0))
        throw_bad_input(fmt::format("{}: all features are constant (zero variance); linear CKA is undefined",
                                    names_[i]));
    }
    return self[i];
  };
  std::vector<double> out;
  for (size_t k = 0; k < pairs_.size(); ++k) {
    const auto [i, j] = pairs_[k];
    const double nx = self_norm(i), ny = self_norm(j);
    if (i == j) {
      out.push_back(1.0);
      continue;
    }
    // Shifts differ per representation, but centring removes any shift: X_c^T Y_c = C' - s_x s_y^T / n.
    const auto c = pair_sums_[k].cross - torch::outer(reps_[i].colsum, reps_[j].colsum) / n;
    out.push_back(c.pow(2).sum().item<double>() / (nx * ny));
  }
  return out;
}

double CkaAccumulator::self_hsic1(int64_t i) const {
  const auto& s = reps_[i];
  const double n = double(n_);
  const double g2 = s.gram.pow(2).sum().item<double>();
  const double sk = s.colsum.dot(s.colsum).item<double>() - s.sum_a;  // 1^T K~ 1
  // (K~1).(K~1) = sX^T G sX - 2 sX^T (X'^T a) + sum a^2
  const double k1k1 = s.colsum.dot(s.gram.mv(s.colsum)).item<double>() - 2.0 * s.colsum.dot(s.xta).item<double>() +
                      s.sum_a2;
  return hsic1_scaled(g2, s.sum_a2, sk, sk, k1k1, n);
}

std::vector<double> CkaAccumulator::debiased_cka() const {
  if (linear_only_) throw Error(ExitCode::Internal, "CkaAccumulator: debiased CKA asked of a linear-only accumulator");
  if (n_ <= 3)
    throw_bad_input(fmt::format("debiased CKA needs more than 3 examples (unbiased HSIC divides by n(n-3)), got {}",
                                n_));
  torch::NoGradGuard no_grad;
  const double n = double(n_);
  std::vector<double> self(reps_.size(), std::nan(""));
  auto self_h = [&](int64_t i) {
    if (std::isnan(self[i])) {
      self[i] = self_hsic1(i);
      if (!(self[i] > 0.0))
        throw_bad_input(fmt::format("{}: unbiased HSIC(X, X) = {:.3g} <= 0 with n = {}; debiased CKA is undefined",
                                    names_[i], self[i] / (n * (n - 3.0)), n_));
    }
    return self[i];
  };
  std::vector<double> out;
  for (size_t k = 0; k < pairs_.size(); ++k) {
    const auto [i, j] = pairs_[k];
    const double hx = self_h(i), hy = self_h(j);
    if (i == j) {
      out.push_back(1.0);
      continue;
    }
    const auto& sx = reps_[i];
    const auto& sy = reps_[j];
    const auto& ps = pair_sums_[k];
    const double sk = sx.colsum.dot(sx.colsum).item<double>() - sx.sum_a;
    const double sl = sy.colsum.dot(sy.colsum).item<double>() - sy.sum_a;
    const double k1l1 = sx.colsum.dot(ps.cross.mv(sy.colsum)).item<double>() - sx.colsum.dot(ps.xtb).item<double>() -
                        sy.colsum.dot(ps.yta).item<double>() + ps.sum_ab;
    const double hxy = hsic1_scaled(ps.cross.pow(2).sum().item<double>(), ps.sum_ab, sk, sl, k1l1, n);
    out.push_back(hxy / std::sqrt(hx * hy));
  }
  return out;
}

}  // namespace closerlook
