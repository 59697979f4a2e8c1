// google/svcca compatibility: cca_core.get_cca_similarity and pwcca.compute_pwcca replayed on
// data-major inputs (google's neuron-major acts1 is our X^T), so that published numbers
// reproduce. Deliberate differences, each recorded as a warning when it matters:
//  * eigh(pinv(Sxx)) can return tiny negative eigenvalues, whose square roots are NaN in numpy;
//    they are clamped to 0 here.
//  * pwcca's else-branch indexes acts1 with y_idxs (google/svcca PR #9, unmerged); the fix (acts2)
//    is used, and neuron means are taken over the kept neurons (numpy would fail to broadcast).
#pragma once
#include <torch/torch.h>

#include <vector>

#include "similarity/measure.h"

namespace closerlook {

struct GoogleCca {
  torch::Tensor coefficients;  // |s| of svd(invsqrt_xx Sxy invsqrt_yy), descending, float64 (CPU)
  torch::Tensor u, vh;         // full SVD factors: coef_x = u^T, coef_y = vh (numpy's v); complex for complex input
  torch::Tensor x_keep, y_keep;  // bool masks of the neurons remove_small kept
  bool empty = false;          // nothing survived remove_small: google's create_zero_dict
  int64_t clamped_eigenvalues = 0;
  double mean = 0.0;           // google's "mean": mean of the sum_threshold prefix
  int64_t threshold_index = 0; // prefix length used by "mean"
  double sum = 0.0;
};

// x: (n x p), y: (n x q), data-major, real (computed in float64) or complex (complex128: numpy's
// complex covariance, pinv, eigh and SVD, as google's code runs on the DFT of conv layers; used by
// dft_cca.h). Error(BadInput) when p >= n (google asserts neurons < datapoints) -- `x_name` names
// the input.
GoogleCca google_cca(const torch::Tensor& x, const torch::Tensor& y, double epsilon, double threshold,
                     const std::string& x_name = "X");

// sum_threshold semantics: the first i in [0, len) with sum(s[:i]) / sum(s) >= t, else len
// (numpy's s[:None]); returns mean(s[:i]). `index` receives i.
double google_threshold_mean(const std::vector<double>& s, double threshold, int64_t* index = nullptr);

// measure: Cca (value = google mean), Svcca (tutorial 001: SVD-reduce each side, epsilon CCA,
// value = mean of all coefficients) or Pwcca. x, y float64 data-major; names for messages.
SimilarityResult google_similarity(const torch::Tensor& x, const torch::Tensor& y, Measure measure,
                                   const SimilarityOptions& opts, const std::string& x_name = "X",
                                   const std::string& y_name = "Y");

}  // namespace closerlook
