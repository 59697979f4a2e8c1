// A layer's activations prepared once for every comparison it takes part in.
//
// The expensive per-representation work -- conversion to float64, centring, the feature Gram
// X^T X and its eigen-decomposition, orthonormal bases of the column space (CCA) and of the
// leading directions (SVCCA), row norms and example Grams (CKA) -- is computed lazily, on first
// use, and cached. A layer map over L x M layers therefore does L + M of these, not 2 L M.
//
// Not thread-safe: share one Representation between threads only after warming its caches.
#pragma once
#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace closerlook {

struct RepresentationOptions {
  bool center = true;      // subtract column means (false only for the uncentred-QR oracle)
  double rank_rtol = 0.0;  // see SimilarityOptions::rank_rtol; 0 = by input dtype
};

// An orthonormal basis of (part of) a representation's column space.
struct Subspace {
  torch::Tensor basis;            // n x k, float64, orthonormal columns
  torch::Tensor singular_values;  // k, descending: the data's singular values along the basis
  int64_t k = 0;
  std::string route;              // "gram-eigh" (well conditioned) or "householder-qr"
  double explained = 1.0;         // fraction of the total variance the k directions carry
  std::vector<std::string> warnings;
  // basis^T X_active (k x p'): coordinates of every neuron in the basis; lazily filled (PWCCA).
  mutable torch::Tensor coordinates;
};

// The Gram whitening of k leading directions: W = V_k diag(lambda_k)^(-1/2) (p' x k), so that
// X_active W is an orthonormal basis of those directions and canonical correlations become
// singular values of W_x^T (X^T Y) W_y, all in feature space (no n x k basis is formed).
struct Whitening {
  torch::Tensor w;         // p' x k, float64
  int64_t k = 0;
  double explained = 1.0;  // as Subspace::explained
};

class Representation {
 public:
  // `acts` is (examples x features), any floating dtype, any device. Error(BadInput) naming
  // `name` if it is not 2-D, has fewer than 2 examples or no feature, or contains NaN/inf.
  Representation(const torch::Tensor& acts, std::string name, RepresentationOptions opts = {});

  const std::string& name() const { return name_; }
  int64_t n() const { return n_; }
  int64_t p() const { return p_; }
  bool centred() const { return opts_.center; }
  double rank_rtol() const { return rtol_; }
  torch::Device device() const { return input_.device(); }

  // The input as float64 (n x p), not centred (a fresh copy unless the input is float64).
  torch::Tensor raw() const { return input_.to(torch::kFloat64); }
  // n x p float64, centred if centred(); constant columns are exactly zero after centring.
  const torch::Tensor& data() const;
  // Indices of the non-constant columns and the data restricted to them (n x p').
  const torch::Tensor& active_columns() const;
  const torch::Tensor& active_data() const;
  int64_t active_features() const { return active_count_; }
  // "X: 3 of 64 features are constant ..." etc. (validation-level warnings only).
  const std::vector<std::string>& warnings() const { return warnings_; }

  // X_a^T X_a (p' x p') and its eigenvalues (descending, clamped at 0) / eigenvectors.
  const torch::Tensor& feature_gram() const;
  const torch::Tensor& eigenvalues() const;
  const torch::Tensor& eigenvectors() const;
  // Fraction of variance of the leading k directions; smallest k reaching `fraction`.
  int64_t directions_for_variance(double fraction) const;

  // Basis of the whole column space, directions below the rank tolerance dropped (warned).
  const Subspace& column_space() const;
  // Basis of the k leading directions (left singular vectors of the centred data); k is
  // clipped to the rank (warned). Cached per k.
  const Subspace& leading_directions(int64_t k) const;

  // The whitening of the k leading directions (k clipped to the active features), or nullptr when
  // the Gram eigen-decomposition is not available (more features than examples) or
  // lambda_k < min_ratio * lambda_1 (then the feature-space route loses accuracy: see
  // docs/similarity.md, "Fast maps"). Where it is returned, leading_directions(k) (or
  // column_space() when k covers every active feature) takes the Gram route with the same k.
  // Cached per k.
  const Whitening* gram_whitening(int64_t k, double min_ratio) const;

  // CKA statistics of the centred data (all columns).
  double feature_gram_sq_norm() const;         // ||X^T X||_F^2
  const torch::Tensor& row_sq_norms() const;   // ||x_i||^2, length n
  const torch::Tensor& example_gram() const;   // X X^T (n x n); callers bound n
  // Double-centred RBF Gram with sigma^2 = threshold^2 * median(D2 over the full n x n matrix).
  const torch::Tensor& centred_rbf_gram(double threshold, double* sigma2 = nullptr) const;

 private:
  void compute_spectrum() const;
  Subspace make_subspace(int64_t k, bool whole_space) const;

  std::string name_;
  RepresentationOptions opts_;
  torch::Tensor input_;  // the caller's tensor as given (shares its memory; no float64 copy kept)
  int64_t n_ = 0, p_ = 0, active_count_ = 0;
  double rtol_ = 0.0;
  std::vector<std::string> warnings_;

  mutable torch::Tensor data_, active_idx_, active_data_, gram_, eigvals_, eigvecs_;
  mutable torch::Tensor row_norms_, example_gram_;
  mutable std::unique_ptr<Subspace> column_space_;
  mutable std::map<int64_t, std::unique_ptr<Subspace>> leading_;
  mutable std::map<int64_t, std::unique_ptr<Whitening>> whitening_;
  mutable std::map<double, std::pair<torch::Tensor, double>> rbf_;
  mutable double gram_sq_norm_ = -1.0;
  mutable torch::Tensor qr_q_, qr_u_, qr_s_;  // Householder route, computed at most once
};

using RepresentationPtr = std::shared_ptr<Representation>;

}  // namespace closerlook
