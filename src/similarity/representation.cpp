#include "similarity/representation.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace closerlook {
namespace {

// Directions whose Gram eigenvalue is at least this fraction of the largest are handled by the
// Gram route: its first pass is orthonormal to ~eps * cond^2 <= 2e-8 and one re-orthonormalisation
// pass brings that to ~eps. Anything worse conditioned goes through Householder QR.
constexpr double kGramRouteMinRatio = 1e-8;
// Skip the re-orthonormalisation pass when cond^2 <= this (first pass already ~1e-14).
constexpr double kSinglePassMaxCond2 = 100.0;

double default_rtol(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat32: return 1e-6;   // float32 rounding noise sits at ~1e-7 of the largest value
    case torch::kFloat16: return 1e-3;
    case torch::kBFloat16: return 1e-2;
    default: return 1e-12;
  }
}

std::string shape_str(const torch::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

}  // namespace

Representation::Representation(const torch::Tensor& acts, std::string name, RepresentationOptions opts)
    : name_(std::move(name)), opts_(opts) {
  if (!acts.defined()) throw_bad_input(name_ + ": no activations (undefined tensor)");
  if (acts.dim() != 2)
    throw_bad_input(fmt::format("{}: expected a 2-D array (examples x features), got shape {}", name_,
                                shape_str(acts)));
  if (!acts.is_floating_point())
    throw_bad_input(fmt::format("{}: expected floating-point activations, got dtype {}", name_,
                                std::string(c10::toString(acts.scalar_type()))));
  n_ = acts.size(0);
  p_ = acts.size(1);
  if (n_ < 2) throw_bad_input(fmt::format("{}: need at least 2 examples, got {}", name_, n_));
  if (p_ < 1) throw_bad_input(fmt::format("{}: has no features (shape {})", name_, shape_str(acts)));
  if (!(opts_.rank_rtol >= 0.0 && opts_.rank_rtol < 1.0))
    throw_bad_input(fmt::format("{}: rank tolerance must be in [0, 1), got {}", name_, opts_.rank_rtol));
  rtol_ = opts_.rank_rtol > 0.0 ? opts_.rank_rtol : default_rtol(acts.scalar_type());

  torch::NoGradGuard no_grad;
  input_ = acts.detach();
  const auto finite = torch::isfinite(input_);
  if (!finite.all().item<bool>()) {
    auto bad = torch::nonzero(finite.logical_not())[0];
    const int64_t r = bad[0].item<int64_t>(), c = bad[1].item<int64_t>();
    const int64_t count = finite.numel() - finite.sum().item<int64_t>();
    throw_bad_input(fmt::format("{}: contains NaN or inf ({} values; first at example {}, feature {}: {})", name_,
                                count, r, c, acts[r][c].item<double>()));
  }

  if (opts_.center) {
    const auto constant = (std::get<0>(input_.max(0)) == std::get<0>(input_.min(0)));
    active_idx_ = torch::nonzero(constant.logical_not()).view({-1});
    active_count_ = active_idx_.numel();
    const int64_t n_const = p_ - active_count_;
    if (n_const > 0) {
      const int64_t first = torch::nonzero(constant)[0][0].item<int64_t>();
      warnings_.push_back(fmt::format(
          "{}: {} of {} features are constant over the {} examples (first: feature {}); the CCA family drops them",
          name_, n_const, p_, n_, first));
    }
  } else {
    active_idx_ = torch::arange(p_, torch::TensorOptions().dtype(torch::kLong).device(input_.device()));
    active_count_ = p_;
  }
}

const torch::Tensor& Representation::data() const {
  if (!data_.defined()) {
    torch::NoGradGuard no_grad;
    if (opts_.center) {
      const auto x = input_.to(torch::kFloat64);
      data_ = x - x.mean(0, /*keepdim=*/true);
      if (active_count_ < p_) {
        // Centring leaves rounding residue (~1e-16 * value) in constant columns; make them exact zeros.
        auto mask = torch::ones({p_}, input_.options().dtype(torch::kBool));
        mask.index_put_({active_idx_}, false);
        data_.index_put_({torch::indexing::Slice(), mask}, 0.0);
      }
    } else {
      data_ = input_.to(torch::kFloat64).contiguous();
    }
  }
  return data_;
}

const torch::Tensor& Representation::active_columns() const { return active_idx_; }

const torch::Tensor& Representation::active_data() const {
  if (!active_data_.defined()) {
    active_data_ = active_count_ == p_ ? data() : data().index_select(1, active_idx_).contiguous();
  }
  return active_data_;
}

const torch::Tensor& Representation::feature_gram() const {
  if (!gram_.defined()) {
    if (active_count_ > n_)
      throw Error(ExitCode::Internal, name_ + ": feature Gram requested with more features than examples");
    torch::NoGradGuard no_grad;
    const auto& x = active_data();
    gram_ = x.t().mm(x);
  }
  return gram_;
}

void Representation::compute_spectrum() const {
  if (eigvals_.defined()) return;
  if (active_count_ == 0)
    throw_bad_input(fmt::format("{}: all {} features are constant; nothing to compare", name_, p_));
  torch::NoGradGuard no_grad;
  if (active_count_ <= n_) {
    const auto& g = feature_gram();
    auto [w, v] = torch::linalg_eigh(g, "L");
    eigvals_ = w.flip(0).clamp_min(0.0).contiguous();
    eigvecs_ = v.flip(1).contiguous();
  } else {
    // More features than examples: the p' x p' Gram would be rank deficient and large; the
    // spectrum comes from Householder QR + SVD of R (n x p') instead.
    auto [q, r] = torch::linalg_qr(active_data(), "reduced");
    auto [u, s, vh] = torch::linalg_svd(r, false);
    qr_q_ = q;
    qr_u_ = u;
    qr_s_ = s;
    eigvals_ = (s * s).contiguous();
  }
}

const torch::Tensor& Representation::eigenvalues() const {
  compute_spectrum();
  return eigvals_;
}

const torch::Tensor& Representation::eigenvectors() const {
  compute_spectrum();
  if (!eigvecs_.defined())
    throw Error(ExitCode::Internal, name_ + ": Gram eigenvectors are not computed when features exceed examples");
  return eigvecs_;
}

int64_t Representation::directions_for_variance(double fraction) const {
  const auto lam = eigenvalues().cpu();
  const double total = lam.sum().item<double>();
  if (!(total > 0.0)) throw_bad_input(fmt::format("{}: all features are constant; no variance to explain", name_));
  const auto frac = lam.cumsum(0) / total;
  const auto* f = frac.data_ptr<double>();
  for (int64_t i = 0; i < frac.numel(); ++i)
    if (f[i] >= fraction) return i + 1;
  return frac.numel();  // rounding can leave the full sum a hair below 1
}

Subspace Representation::make_subspace(int64_t k, bool whole_space) const {
  torch::NoGradGuard no_grad;
  compute_spectrum();
  const auto lam = eigvals_.cpu();
  const auto* l = lam.data_ptr<double>();
  const int64_t m = lam.numel();
  const double lam1 = l[0];
  if (!(lam1 > 0.0))
    throw_bad_input(fmt::format("{}: all features are constant (zero variance){}", name_,
                                opts_.center ? " after centring" : ""));
  const double total = lam.sum().item<double>();
  Subspace sub;
  if (whole_space) k = m;
  k = std::min(k, m);

  const double gram_ratio = std::max(kGramRouteMinRatio, 100.0 * rtol_ * rtol_);
  if (eigvecs_.defined() && l[k - 1] >= gram_ratio * lam1) {
    // Gram route: B = X V_k diag(lambda_k)^(-1/2), re-orthonormalised once if needed.
    auto lam_k = eigvals_.slice(0, 0, k);
    auto w = eigvecs_.slice(1, 0, k) / lam_k.sqrt().unsqueeze(0);
    auto b = active_data().mm(w);
    if (lam1 / l[k - 1] > kSinglePassMaxCond2) {
      auto g2 = b.t().mm(b);
      auto [e2, v2] = torch::linalg_eigh(g2, "L");
      b = b.mm(v2 / e2.sqrt().unsqueeze(0));
    }
    sub.basis = b;
    sub.singular_values = lam_k.sqrt();
    sub.route = "gram-eigh";
    sub.k = k;
  } else {
    // Householder route: X = Q R, R = U S V^T, so the left singular vectors are Q U.
    if (!qr_q_.defined()) {
      auto [q, r] = torch::linalg_qr(active_data(), "reduced");
      auto [u, s, vh] = torch::linalg_svd(r, false);
      qr_q_ = q;
      qr_u_ = u;
      qr_s_ = s;
    }
    const auto s = qr_s_.cpu();
    const auto* sv = s.data_ptr<double>();
    int64_t rank = 0;
    while (rank < s.numel() && sv[rank] > rtol_ * sv[0]) ++rank;
    if (opts_.center) rank = std::min(rank, n_ - 1);  // centred data has rank <= n - 1
    if (whole_space) {
      if (rank < active_count_)
        sub.warnings.push_back(fmt::format(
            "{}: rank {} < {} non-constant features{}; dropped {} directions with singular value <= {:g} x the "
            "largest",
            name_, rank, active_count_, opts_.center ? " (centred)" : "", active_count_ - rank, rtol_));
      k = rank;
    } else if (k > rank) {
      sub.warnings.push_back(
          fmt::format("{}: asked for {} leading directions but the rank is {}; using {}", name_, k, rank, rank));
      k = rank;
    }
    sub.basis = qr_q_.mm(qr_u_.slice(1, 0, k));
    sub.singular_values = qr_s_.slice(0, 0, k);
    sub.route = "householder-qr";
    sub.k = k;
  }
  const double kept = lam.slice(0, 0, sub.k).sum().item<double>();
  sub.explained = total > 0.0 ? kept / total : 1.0;
  return sub;
}

const Whitening* Representation::gram_whitening(int64_t k, double min_ratio) const {
  if (k < 1) throw_bad_input(fmt::format("{}: number of leading directions must be >= 1, got {}", name_, k));
  compute_spectrum();
  if (!eigvecs_.defined()) return nullptr;
  const int64_t m = eigvals_.numel();
  k = std::min(k, m);
  auto it = whitening_.find(k);
  if (it != whitening_.end()) return it->second.get();
  const auto lam = eigvals_.cpu();
  const auto* l = lam.data_ptr<double>();
  // Never looser than make_subspace's own Gram-route test, so that k and the route agree with it.
  const double ratio = std::max({min_ratio, kGramRouteMinRatio, 100.0 * rtol_ * rtol_});
  if (!(l[0] > 0.0) || l[k - 1] < ratio * l[0]) return nullptr;
  torch::NoGradGuard no_grad;
  auto wh = std::make_unique<Whitening>();
  wh->w = (eigvecs_.slice(1, 0, k) / eigvals_.slice(0, 0, k).sqrt().unsqueeze(0)).contiguous();
  wh->k = k;
  const double total = lam.sum().item<double>();
  wh->explained = total > 0.0 ? lam.slice(0, 0, k).sum().item<double>() / total : 1.0;
  return whitening_.emplace(k, std::move(wh)).first->second.get();
}

const Subspace& Representation::column_space() const {
  if (!column_space_) column_space_ = std::make_unique<Subspace>(make_subspace(0, true));
  return *column_space_;
}

const Subspace& Representation::leading_directions(int64_t k) const {
  if (k < 1) throw_bad_input(fmt::format("{}: number of leading directions must be >= 1, got {}", name_, k));
  auto it = leading_.find(k);
  if (it == leading_.end()) it = leading_.emplace(k, std::make_unique<Subspace>(make_subspace(k, false))).first;
  return *it->second;
}

const torch::Tensor& Representation::row_sq_norms() const {
  if (!row_norms_.defined()) row_norms_ = data().pow(2).sum(1);
  return row_norms_;
}

const torch::Tensor& Representation::example_gram() const {
  if (!example_gram_.defined()) {
    torch::NoGradGuard no_grad;
    example_gram_ = data().mm(data().t());
  }
  return example_gram_;
}

double Representation::feature_gram_sq_norm() const {
  if (gram_sq_norm_ < 0.0) {
    torch::NoGradGuard no_grad;
    if (active_count_ == 0) {
      gram_sq_norm_ = 0.0;
    } else if (active_count_ <= n_) {
      gram_sq_norm_ = feature_gram().pow(2).sum().item<double>();
    } else {
      gram_sq_norm_ = example_gram().pow(2).sum().item<double>();  // ||X^T X||_F = ||X X^T||_F
    }
  }
  return gram_sq_norm_;
}

const torch::Tensor& Representation::centred_rbf_gram(double threshold, double* sigma2) const {
  auto it = rbf_.find(threshold);
  if (it == rbf_.end()) {
    torch::NoGradGuard no_grad;
    const auto& k = example_gram();
    const auto sq = row_sq_norms();
    auto d2 = (sq.unsqueeze(1) + sq.unsqueeze(0) - 2.0 * k).clamp_min(0.0);
    d2.fill_diagonal_(0.0);
    // numpy.median over all n^2 entries (zero diagonal included), as Kornblith's gram_rbf.
    const auto flat = d2.reshape({-1});
    const int64_t m = flat.numel();
    double median;
    if (m % 2 == 1) {
      median = std::get<0>(torch::kthvalue(flat, (m + 1) / 2)).item<double>();
    } else {
      const double lo = std::get<0>(torch::kthvalue(flat, m / 2)).item<double>();
      const double hi = std::get<0>(torch::kthvalue(flat, m / 2 + 1)).item<double>();
      median = 0.5 * (lo + hi);
    }
    if (!(median > 0.0))
      throw_bad_input(fmt::format(
          "{}: the median squared distance between examples is 0 (most examples are identical); the RBF "
          "bandwidth is undefined",
          name_));
    const double s2 = threshold * threshold * median;
    auto g = torch::exp(d2 / (-2.0 * s2));
    auto col_means = g.mean(0, true);
    auto row_means = g.mean(1, true);
    auto centred = g - col_means - row_means + g.mean();
    it = rbf_.emplace(threshold, std::make_pair(centred, s2)).first;
  }
  if (sigma2) *sigma2 = it->second.second;
  return it->second.first;
}

}  // namespace closerlook
