// Centered kernel alignment (Kornblith et al. 2019): linear, RBF and debiased linear.
//
// Linear CKA uses the feature-space form ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F) on centred
// data (O(n p q)), or the equal Gram form when n^2 < p q. Debiased CKA uses the feature-space
// form of the unbiased HSIC estimator (Song et al. 2012; Kornblith's
// feature_space_linear_cka(debiased=True)), never an n x n matrix. RBF CKA needs the n x n
// kernel (bandwidth by Kornblith's full-matrix median rule).
#pragma once
#include <torch/torch.h>

#include "similarity/measure.h"
#include "similarity/representation.h"

namespace closerlook {

// measure must be CkaLinear, CkaRbf or CkaDebiased; both representations centred.
SimilarityResult cka_similarity(const Representation& x, const Representation& y, Measure measure,
                                const SimilarityOptions& opts);

// The unbiased-HSIC numerator of Kornblith's feature-space form (without 1/(n(n-3))):
// xty - n/(n-2) * (sx . sy) + Sx Sy / ((n-1)(n-2)), for centred data.
double debiased_hsic_numerator(double xty, double sx_dot_sy, double sum_sx, double sum_sy, int64_t n);

// Gram-matrix forms (n x n, symmetric, float64), the reference the feature-space forms are
// tested against and the building blocks of Gram-level tools.
torch::Tensor linear_gram(const torch::Tensor& x);                    // X X^T
torch::Tensor rbf_gram(const torch::Tensor& x, double threshold);     // Kornblith gram_rbf
torch::Tensor center_gram(const torch::Tensor& k);                    // H K H
torch::Tensor u_center_gram(const torch::Tensor& k);                  // Szekely-Rizzo U-centring
double hsic_biased(const torch::Tensor& k, const torch::Tensor& l);   // tr(K H L H) / (n-1)^2
double hsic_unbiased(const torch::Tensor& k, const torch::Tensor& l); // HSIC_1, needs n > 3
// CKA from Grams: biased (centring) or debiased (U-centring) cosine similarity.
double cka_from_grams(const torch::Tensor& k, const torch::Tensor& l, bool debiased);

}  // namespace closerlook
