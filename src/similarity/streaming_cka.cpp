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
                               std::vector<std::pair<int64_t, int64_t>> pairs)
    : names_(std::move(names)), widths_(std::move(widths)), pairs_(std::move(pairs)) {
  if (names_.size() != widths_.size())
    throw Error(ExitCode::Internal, "CkaAccumulator: names and widths differ in length");
  for (auto [i, j] : pairs_)
    if (i < 0 || j < 0 || i >= int64_t(widths_.size()) || j >= int64_t(widths_.size()))
      throw Error(ExitCode::Internal, fmt::format("CkaAccumulator: pair ({}, {}) out of range", i, j));
  reps_.resize(widths_.size());
  pair_sums_.resize(pairs_.size());
}

void CkaAccumulator::add(const std::vector<torch::Tensor>& batch) {
  if (batch.size() != widths_.size())
    throw_bad_input(fmt::format("CKA accumulator: got {} batches for {} representations", batch.size(),
                                widths_.size()));
  torch::NoGradGuard no_grad;
  const int64_t b = batch.empty() ? 0 : batch[0].size(0);
  std::vector<torch::Tensor> xs(batch.size()), norms(batch.size());
  for (size_t r = 0; r < batch.size(); ++r) {
    const auto& t = batch[r];
    if (t.dim() != 2 || t.size(0) != b || t.size(1) != widths_[r])
      throw_bad_input(fmt::format("{}: batch of shape {} does not match ({} x {})", names_[r],
                                  fmt::join(t.sizes(), "x"), b, widths_[r]));
    auto x = t.detach().to(torch::kFloat64);
    if (!torch::isfinite(x).all().item<bool>())
      throw_bad_input(fmt::format("{}: contains NaN or inf (in examples {}..{})", names_[r], n_, n_ + b - 1));
    RepSums& s = reps_[r];
    if (!s.shift.defined()) {
      s.shift = x.mean(0);
      s.colsum = torch::zeros({widths_[r]}, x.options());
      s.gram = torch::zeros({widths_[r], widths_[r]}, x.options());
      s.xta = torch::zeros({widths_[r]}, x.options());
    }
    x = x - s.shift;
    auto a = x.pow(2).sum(1);
    s.colsum += x.sum(0);
    s.gram.addmm_(x.t(), x);
    s.xta.addmv_(x.t(), a);
    s.sum_a += a.sum().item<double>();
    s.sum_a2 += a.pow(2).sum().item<double>();
    xs[r] = x;
    norms[r] = a;
  }
  // Cross terms, grouped by left representation so that each group is one GEMM.
  std::map<int64_t, std::vector<size_t>> by_left;
  for (size_t k = 0; k < pairs_.size(); ++k)
    if (pairs_[k].first != pairs_[k].second) by_left[pairs_[k].first].push_back(k);
  // A full map pairs every left representation with the same right ones: concatenate those once.
  std::map<std::vector<int64_t>, std::pair<torch::Tensor, torch::Tensor>> concatenated;
  for (const auto& [i, ks] : by_left) {
    std::vector<int64_t> right_ids;
    for (size_t k : ks) right_ids.push_back(pairs_[k].second);
    auto it = concatenated.find(right_ids);
    if (it == concatenated.end()) {
      std::vector<torch::Tensor> rights, right_norms;
      for (int64_t j : right_ids) {
        rights.push_back(xs[j]);
        right_norms.push_back(norms[j].unsqueeze(1));
      }
      it = concatenated.emplace(right_ids, std::make_pair(torch::cat(rights, 1), torch::cat(right_norms, 1))).first;
    }
    const auto cross = xs[i].t().mm(it->second.first);   // p_i x sum(q)
    const auto xtb = xs[i].t().mm(it->second.second);    // p_i x |ks|
    int64_t off = 0;
    for (size_t m = 0; m < ks.size(); ++m) {
      const size_t k = ks[m];
      const int64_t j = pairs_[k].second, q = widths_[j];
      PairSums& ps = pair_sums_[k];
      if (!ps.cross.defined()) {
        ps.cross = torch::zeros({widths_[i], q}, cross.options());
        ps.xtb = torch::zeros({widths_[i]}, cross.options());
        ps.yta = torch::zeros({q}, cross.options());
      }
      ps.cross += cross.slice(1, off, off + q);
      ps.xtb += xtb.select(1, int64_t(m));
      ps.yta.addmv_(xs[j].t(), norms[i]);
      ps.sum_ab += norms[i].dot(norms[j]).item<double>();
      off += q;
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
