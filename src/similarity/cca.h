// The CCA family: CCA, SVCCA (Raghu et al. 2017) and PWCCA (Morcos et al. 2018).
//
// Clean mode: canonical correlations are the singular values of Bx^T By, where Bx and By are
// orthonormal bases of the (centred) column spaces, or of the leading directions for SVCCA
// (Representation does the per-layer work once). Google mode replays google/svcca's cca_core
// and pwcca step by step on the same data (see google_cca.h).
#pragma once
#include <string>
#include <vector>

#include "similarity/measure.h"
#include "similarity/representation.h"

namespace closerlook {

// measure must be Cca, Svcca or Pwcca. Inputs must have the same number of examples.
// `basis_product`, when given, is cca_subspace(x)^T cca_subspace(y) computed by the caller (maps
// batch these products into one GEMM per row); otherwise it is computed here.
SimilarityResult cca_similarity(const Representation& x, const Representation& y, Measure measure,
                                const SimilarityOptions& opts, const torch::Tensor& basis_product = {});

// What cca_similarity reports of a side's subspace, without the basis itself.
struct SubspaceInfo {
  int64_t k = 0;
  double explained = 1.0;
  std::string route;
  std::vector<std::string> warnings;
};

// CCA or SVCCA (not PWCCA) from `product`, the kx x ky matrix whose singular values are the
// canonical correlations (B_x^T B_y, or W_x^T X^T Y W_y in feature space); the same result,
// warnings and errors as cca_similarity otherwise.
SimilarityResult cca_similarity_from_product(const Representation& x, const Representation& y, Measure measure,
                                             const SimilarityOptions& opts, const SubspaceInfo& sx,
                                             const SubspaceInfo& sy, const torch::Tensor& product);

// Number of leading directions SVCCA keeps for `rep` under `opts` (fixed k or variance fraction).
int64_t svcca_directions(const Representation& rep, const SimilarityOptions& opts);

// The subspace a CCA-family measure compares for `rep`: the whole column space (CCA, PWCCA) or
// the SVCCA directions. Cached inside `rep`.
const Subspace& cca_subspace(const Representation& rep, Measure measure, const SimilarityOptions& opts);

}  // namespace closerlook
