#include "surface/curve_basis.h"

#include <cmath>

#include "core/error.h"

namespace closerlook {

CurveType parse_curve_type(const std::string& name) {
  if (name == "bezier" || name == "Bezier") return CurveType::Bezier;
  if (name == "polychain" || name == "PolyChain") return CurveType::PolyChain;
  throw_bad_input("curve type '" + name + "': expected bezier or polychain");
}

std::string curve_type_name(CurveType type) { return type == CurveType::Bezier ? "bezier" : "polychain"; }

std::vector<double> curve_coefficients(CurveType type, int bends, double t) {
  CL_CHECK_INPUT(bends >= 2, "a curve needs at least 2 bends, got " + std::to_string(bends));
  const int n = bends - 1;
  std::vector<double> c(static_cast<size_t>(bends), 0.0);
  if (type == CurveType::Bezier) {
    double binom = 1.0;  // binom(n, j), built up exactly for the small n used here
    for (int j = 0; j <= n; ++j) {
      // std::pow(0.0, 0) == 1, so the endpoints are exact.
      c[j] = binom * std::pow(t, j) * std::pow(1.0 - t, n - j);
      binom = binom * (n - j) / (j + 1);
    }
  } else {
    for (int j = 0; j <= n; ++j) c[j] = std::max(0.0, 1.0 - std::fabs(t * n - j));
  }
  return c;
}

double garipov_curve_lr(double base_lr, int64_t epoch, int64_t total_epochs) {
  CL_CHECK_INPUT(total_epochs > 0, "curve schedule: total epochs must be > 0");
  const double a = static_cast<double>(epoch) / static_cast<double>(total_epochs);
  double factor;
  if (a <= 0.5)
    factor = 1.0;
  else if (a <= 0.9)
    factor = 1.0 - (a - 0.5) / 0.4 * 0.99;
  else
    factor = 0.01;
  return base_lr * factor;
}

}  // namespace closerlook
