// Synthetic loss/error profiles for the claim-check tests: t in [0, 1] and bumps on straight lines.
#pragma once
#include <vector>

namespace closerlook::testing {
inline std::vector<double> linspace(int n) {
  std::vector<double> t(n);
  for (int i = 0; i < n; ++i) t[i] = double(i) / (n - 1);
  return t;
}
// A bump of height h in the middle, on top of a straight line from a to b.
inline std::vector<double> bump(const std::vector<double>& t, double a, double b, double h) {
  std::vector<double> v;
  for (double x : t) v.push_back((1 - x) * a + x * b + h * 4 * x * (1 - x));
  return v;
}
}  // namespace closerlook::testing
