// Linear and debiased CKA over any number of examples, in one pass over row batches.
//
// Only feature-space sums are kept (per representation: column sums, X^T X, row-norm sums;
// per compared pair: X^T Y and two vectors), so memory grows with the feature counts, never with
// the number of examples. The result is the exact full-data CKA -- not the minibatch average of
// Nguyen et al. -- whatever the batch sizes: biased CKA is recovered from uncentred sums, and the
// debiased one from the general (uncentred) form of the unbiased HSIC estimator, which is
// invariant to shifting features. Every column is shifted by its mean over the first batch so that
// the uncentred sums do not cancel catastrophically.
#pragma once
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

namespace closerlook {

class CkaAccumulator {
 public:
  // names/widths: one entry per representation; pairs: (i, j) indices to compare (i == j allowed).
  // float32: each batch's products in float32 GEMMs (the data converted to float32, shifted in
  // float32), every sum accumulated across batches in float64; otherwise float64 throughout.
  // linear_only: keep only what linear CKA needs (column sums, X^T X, X^T Y): no row norms and
  // none of the debiased estimator's extra products, which at small widths cost about as much as
  // the GEMMs; debiased_cka() is then an internal error.
  CkaAccumulator(std::vector<std::string> names, std::vector<int64_t> widths,
                 std::vector<std::pair<int64_t, int64_t>> pairs, bool float32 = false, bool linear_only = false);

  // One row batch per representation, same rows (examples) in each, shapes (b x width).
  // Error(BadInput) naming the representation for a wrong shape or NaN/inf values.
  void add(const std::vector<torch::Tensor>& batch);

  int64_t examples() const { return n_; }
  const std::vector<std::pair<int64_t, int64_t>>& pairs() const { return pairs_; }

  // Results in the order of pairs(). Error(BadInput) when a representation has no variance, or
  // (debiased) when n <= 3 or an unbiased self-HSIC is not positive.
  std::vector<double> linear_cka() const;
  std::vector<double> debiased_cka() const;

 private:
  struct RepSums {
    torch::Tensor shift, colsum, gram, xta;  // xta = sum_i a_i x'_i, a_i = ||x'_i||^2
    double sum_a = 0.0, sum_a2 = 0.0;
  };
  struct PairSums {
    torch::Tensor cross, xtb, yta;  // X'^T Y', sum_i b_i x'_i, sum_i a_i y'_i (cross, xtb: views of a group's sums)
    double sum_ab = 0.0;
  };
  // Pairs sharing a left representation: their cross sums are one (p_i x sum q) GEMM per batch.
  struct Group {
    int64_t left = 0;
    std::vector<size_t> ks;        // indices into pairs_
    std::vector<int64_t> right;    // right representation of each
    bool contiguous = false;       // right reps are consecutive: their batch columns are one view
    torch::Tensor cross, xtb;      // p_i x sum(q), p_i x |ks| (float64)
  };
  double self_hsic1(int64_t i) const;
  void check_ready(const char* what) const;

  std::vector<std::string> names_;
  std::vector<int64_t> widths_;
  std::vector<std::pair<int64_t, int64_t>> pairs_;
  std::vector<RepSums> reps_;
  std::vector<PairSums> pair_sums_;
  std::vector<Group> groups_;
  std::vector<int64_t> offsets_;  // column of each representation in the batch buffer
  bool float32_ = false;
  bool linear_only_ = false;
  int64_t n_ = 0;
};

}  // namespace closerlook
