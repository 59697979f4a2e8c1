#include "studies/claims_resilience.h"

#include <algorithm>
#include <cmath>

#include "surface/profile.h"

namespace closerlook {

using namespace claim_util;

ClaimCheck check_resilience(const std::vector<ModeCurve>& curves, double tolerance, double level) {
  ClaimCheck c{"resilience", "resilience.curves_connect",
          "Mode connectivity is resilient: for each variant A-F a curve from G is found on which every point "
          "generalises almost as well as the two endpoints."};
  int held = 0, valid = 0;
  double effect = -INFINITY, effect_se = NAN;
  for (const auto& m : curves) {
    if (m.test_err.size() < 2 || !finite_all(m.test_err)) {
      c.numbers[m.mode] = {{"status", "missing or diverged"}};
      continue;
    }
    ++valid;
    const double worst_end = std::max(m.test_err.front(), m.test_err.back());
    const double worst_curve = max_of(m.test_err);
    const bool ok = worst_curve <= worst_end + tolerance;
    // Binomial standard errors of both error rates on the n_test examples (treated as independent,
    // which overstates the error of a difference measured on one test set: conservative).
    const double se = std::hypot(binomial_se(worst_curve, m.n_test), binomial_se(worst_end, m.n_test));
    const double rise = worst_curve - worst_end;
    nlohmann::json n = {{"endpoint_G_test_err", m.test_err.front()}, {"endpoint_X_test_err", m.test_err.back()},
                        {"curve_max_test_err", worst_curve}, {"rise", rise}, {"rise_se", jnum(se)}, {"connected", ok}};
    if (std::isfinite(m.n_test)) {
      const Interval w = wilson_interval(std::round(worst_curve * m.n_test), m.n_test, level);
      n["curve_max_test_err_wilson"] = nlohmann::json::array({w.lo, w.hi});
    }
    if (!m.line_test_err.empty()) n["line_max_test_err"] = max_of(m.line_test_err);
    c.numbers[m.mode] = n;
    if (ok) ++held;
    if (rise > effect) effect = rise, effect_se = se;
  }
  c.numbers["tolerance"] = tolerance;
  if (valid == 0) {
    c.detail = "no curves";
    return c;
  }
  // Effect: the largest rise over the curves (the claim is for every variant), against the tolerance.
  const bool all = valid == static_cast<int>(curves.size());
  set_decision(c, normal_estimate(effect, effect_se, level), effect_se, tolerance, Side::Less, 0.0,
               all ? "" : "a curve is missing or diverged");
  c.detail = std::to_string(held) + " of " + std::to_string(curves.size()) +
             " curves keep test error within the tolerance of the worse endpoint; effect = the largest rise";
  return c;
}

}  // namespace closerlook
