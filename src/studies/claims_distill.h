// Study 4 (distillation): where the teacher's knowledge goes in the student.
#pragma once
#include <limits>
#include <string>
#include <vector>

#include "studies/claim_check.h"

namespace closerlook {

// ---- Study 4: distillation -----------------------------------------------------------------
// diff[i][j] = sim(S_distilled layer i, T layer j) - sim(S_indep layer i, T layer j); the diagonal
// (matching depth) gain is larger in the deeper half than in the shallow half.
ClaimCheck check_distill_deeper(const std::vector<std::string>& layers, const std::vector<double>& diag_gain);

}  // namespace closerlook
