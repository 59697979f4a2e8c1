// The CCA family: CCA, SVCCA (Raghu et al. 2017) and PWCCA (Morcos et al. 2018).
//
// Clean mode: canonical correlations are the singular values of Bx^T By, where Bx and By are
// orthonormal bases of the (centred) column spaces, or of the leading directions for SVCCA
// (Representation does the per-layer work once). Google mode replays google/svcca's cca_core
// and pwcca step by step on the same data (see google_cca.h).
#pragma once
#include <vector>

#include "similarity/measure.h"
#include "similarity/representation.h"

namespace closerlook {

// measure must be Cca, Svcca or Pwcca. Inputs must have the same number of examples.
SimilarityResult cca_similarity(const Representation& x, const Representation& y, Measure measure,
                                const SimilarityOptions& opts);

// Number of leading directions SVCCA keeps for `rep` under `opts` (fixed k or variance fraction).
int64_t svcca_directions(const Representation& rep, const SimilarityOptions& opts);

}  // namespace closerlook
