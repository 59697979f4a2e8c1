// Curve parametrisations of Garipov et al. (2018): a point on a curve with bends
// theta_0 .. theta_{B-1} is w(t) = sum_j c_j(t) theta_j, for t in [0, 1].
//   Bezier:    c_j(t) = binom(B-1, j) t^j (1-t)^(B-1-j)   (Bernstein basis; 0^0 = 1, so t = 0 and
//              t = 1 give exactly the endpoints; interior bends are not on the curve)
//   PolyChain: c_j(t) = max(0, 1 - |t (B-1) - j|)          (hat functions; passes through every bend)
// Both are partitions of unity and reproduce linear functions, so bends placed on the straight
// line make the initial curve exactly the straight segment.
#pragma once
#include <string>
#include <vector>

namespace closerlook {

enum class CurveType { Bezier, PolyChain };

CurveType parse_curve_type(const std::string& name);  // "bezier" | "polychain" (Error(BadInput) otherwise)
std::string curve_type_name(CurveType type);          // "bezier" | "polychain"

// The B coefficients c_j(t), in double precision. B >= 2 (B = 2 is the straight line).
std::vector<double> curve_coefficients(CurveType type, int bends, double t);

// Garipov's curve learning-rate schedule for `epoch` (1-based) of `total`: with a = epoch/total,
// the factor is 1 for a <= 0.5, 1 - 0.99 (a - 0.5)/0.4 for a <= 0.9, then 0.01.
double garipov_curve_lr(double base_lr, int64_t epoch, int64_t total_epochs);

}  // namespace closerlook
