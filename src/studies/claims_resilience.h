// Study 2 (resilience): curves from the reference mode G to the variants A-F.
#pragma once
#include <limits>
#include <string>
#include <vector>

#include "studies/claim_check.h"

namespace closerlook {

// ---- Study 2: resilience -------------------------------------------------------------------
struct ModeCurve {
  std::string mode;                  // "A".."F"
  std::vector<double> t, test_err;   // along the trained curve G -> X
  std::vector<double> line_test_err; // along the straight line (for contrast)
  double n_test = std::numeric_limits<double>::quiet_NaN();  // test examples behind test_err (NaN: unknown)
};
// Effect: the largest, over curves, of (worst test error on the curve - the worse endpoint's),
// with a binomial interval (normal, both error rates' binomial standard errors on n_test);
// held when the upper end is below `tolerance`, not held when the lower end is at or above it.
// Unknown n_test (one seed): no within-run interval, so inconclusive unless seeds are pooled.
ClaimCheck check_resilience(const std::vector<ModeCurve>& curves, double tolerance = 0.02, double level = 0.95);

}  // namespace closerlook
