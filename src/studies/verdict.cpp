#include "studies/verdict.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "core/error.h"

namespace closerlook {

std::string to_string(Verdict v) {
  switch (v) {
    case Verdict::Held: return "held";
    case Verdict::NotHeld: return "not held";
    default: return "inconclusive";
  }
}

std::string to_string(Side s) { return s == Side::Greater ? "greater" : "less"; }

namespace {
std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}
std::string fmt_iv(const Interval& iv) { return "[" + fmt(iv.lo) + ", " + fmt(iv.hi) + "]"; }
nlohmann::json num(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }

// Continued fraction for the regularised incomplete beta (modified Lentz).
double beta_cf(double a, double b, double x) {
  const double tiny = 1e-300, eps = 1e-15;
  double c = 1, d = 1 - (a + b) * x / (a + 1);
  if (std::fabs(d) < tiny) d = tiny;
  d = 1 / d;
  double h = d;
  for (int m = 1; m <= 1000; ++m) {
    const double m2 = 2.0 * m;
    double aa = m * (b - m) * x / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (std::fabs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (std::fabs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1 / d;
    const double del = d * c;
    h *= del;
    if (std::fabs(del - 1) < eps) break;
  }
  return h;
}
// I_x(a, b)
double incomplete_beta(double a, double b, double x) {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const double front = std::exp(std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x));
  if (x < (a + 1) / (a + b + 2)) return front * beta_cf(a, b, x) / a;
  return 1 - front * beta_cf(b, a, 1 - x) / b;
}
// P(T <= t) for Student's t with df degrees of freedom.
double t_cdf(double t, double df) {
  const double tail = 0.5 * incomplete_beta(0.5 * df, 0.5, df / (df + t * t));
  return t >= 0 ? 1 - tail : tail;
}
}  // namespace

Decision decide(const Estimate& e, double null_value, Side side, double margin) {
  Decision d;
  const Interval& iv = e.interval;
  if (std::isnan(e.effect) || std::isnan(iv.lo) || std::isnan(iv.hi) || std::isnan(null_value)) {
    d.reason = "no estimate (effect or interval not finite)";
    return d;
  }
  CL_CHECK_INPUT(iv.lo <= iv.hi, "decide: interval lower bound above upper bound");
  CL_CHECK_INPUT(margin >= 0, "decide: equivalence margin must be >= 0");
  const std::string ivs = "interval " + fmt_iv(iv), nul = fmt(null_value);
  // Work on the claimed side as "greater": flip signs for "less".
  const double sg = side == Side::Greater ? 1.0 : -1.0;
  const double lo = side == Side::Greater ? iv.lo : -iv.hi, hi = side == Side::Greater ? iv.hi : -iv.lo;
  const double n0 = sg * null_value;
  const std::string above = side == Side::Greater ? "above" : "below", below = side == Side::Greater ? "below" : "above";
  if (lo > n0) {
    d.verdict = Verdict::Held;
    d.reason = ivs + " lies " + above + " the null " + nul;
  } else if (hi <= n0) {
    d.verdict = Verdict::NotHeld;
    d.reason = ivs + " lies " + below + " the null " + nul + " (or touches it): the claimed effect is excluded";
  } else if (margin > 0 && hi < n0 + margin) {
    d.verdict = Verdict::NotHeld;
    d.reason = ivs + " contains the null " + nul + " and lies within the equivalence margin " + fmt(margin) +
               ": any effect is smaller than the smallest that counts";
  } else {
    d.reason = ivs + " contains the null " + nul + (std::isinf(iv.lo) || std::isinf(iv.hi) ? " (unbounded: no error estimate)" : "");
  }
  return d;
}

double normal_quantile(double p) {
  CL_CHECK_INPUT(p > 0 && p < 1, "normal_quantile: p must be in (0, 1)");
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                             1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01,  -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                             3.754408661907416e+00};
  const double pl = 0.02425;
  double x;
  if (p < pl) {
    const double q = std::sqrt(-2 * std::log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else if (p <= 1 - pl) {
    const double q = p - 0.5, r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  } else {
    const double q = std::sqrt(-2 * std::log1p(-p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  // One Halley step on Phi(x) - p.
  const double e = 0.5 * std::erfc(-x / std::sqrt(2.0)) - p;
  const double u = e * std::sqrt(2 * M_PI) * std::exp(x * x / 2);
  return x - u / (1 + x * u / 2);
}

double t_quantile(double p, int df) {
  CL_CHECK_INPUT(p > 0 && p < 1, "t_quantile: p must be in (0, 1)");
  CL_CHECK_INPUT(df >= 1, "t_quantile: df must be >= 1");
  if (p == 0.5) return 0;
  if (p < 0.5) return -t_quantile(1 - p, df);
  double lo = 0, hi = 1;
  while (t_cdf(hi, df) < p && hi < 1e12) hi *= 2;
  for (int i = 0; i < 200 && hi - lo > 1e-13 * std::max(1.0, hi); ++i) {
    const double mid = 0.5 * (lo + hi);
    (t_cdf(mid, df) < p ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

Interval wilson_interval(double errors, double n, double level) {
  CL_CHECK_INPUT(level > 0 && level < 1, "wilson_interval: level must be in (0, 1)");
  if (!(n > 0) || !std::isfinite(errors)) return {NAN, NAN};
  CL_CHECK_INPUT(errors >= 0 && errors <= n, "wilson_interval: errors must be in [0, n]");
  const double z = normal_quantile(0.5 + level / 2), z2 = z * z;
  const double p = errors / n;
  const double denom = 1 + z2 / n;
  const double centre = (p + z2 / (2 * n)) / denom;
  const double half = z / denom * std::sqrt(p * (1 - p) / n + z2 / (4 * n * n));
  return {std::max(0.0, centre - half), std::min(1.0, centre + half)};
}

double binomial_se(double p, double n) {
  if (!(n > 0) || !std::isfinite(p)) return NAN;
  return std::sqrt(std::max(0.0, p * (1 - p)) / n);
}

Estimate t_estimate(double effect, double se, int df, double level) {
  Estimate e;
  e.effect = effect;
  e.level = level;
  if (df < 1 || !std::isfinite(se) || !std::isfinite(effect)) {
    e.method = "one estimate, no within-run error";
    if (!std::isfinite(effect)) e.interval = {NAN, NAN};
    return e;
  }
  e.method = "t with " + std::to_string(df) + " df (within-run)";
  const double t = t_quantile(0.5 + level / 2, df);
  e.interval = {effect - t * se, effect + t * se};
  return e;
}

Estimate normal_estimate(double effect, double se, double level) {
  Estimate e;
  e.effect = effect;
  e.level = level;
  e.method = std::isfinite(se) ? "normal (within-run)" : "one estimate, no within-run error";
  if (std::isfinite(se) && std::isfinite(effect)) {
    const double z = normal_quantile(0.5 + level / 2);
    e.interval = {effect - z * se, effect + z * se};
  } else if (!std::isfinite(effect)) {
    e.interval = {NAN, NAN};
  }
  return e;
}

double combined_se(double between_sd, const std::vector<double>& within_se, int k) {
  CL_CHECK_INPUT(k >= 1, "combined_se: k must be >= 1");
  double var = between_sd * between_sd / k;
  if (!within_se.empty()) {
    double m = 0;
    for (double s : within_se) m += s * s;
    var += m / double(within_se.size()) / k;
  }
  return std::sqrt(var);
}

Estimate seed_estimate(const std::vector<double>& per_seed, const std::vector<double>& within_se, double level) {
  CL_CHECK_INPUT(level > 0 && level < 1, "seed_estimate: level must be in (0, 1)");
  CL_CHECK_INPUT(within_se.empty() || within_se.size() == per_seed.size(),
                 "seed_estimate: within_se must be empty or have one entry per seed");
  const int k = static_cast<int>(per_seed.size());
  Estimate e;
  e.seeds = k;
  e.level = level;
  if (k == 0) {
    e.interval = {NAN, NAN};
    e.method = "no seeds";
    return e;
  }
  for (double v : per_seed)
    if (!std::isfinite(v)) {
      e.interval = {NAN, NAN};
      e.method = "a seed's value is not finite";
      return e;
    }
  if (k == 1) {
    Estimate w = normal_estimate(per_seed[0], within_se.empty() ? NAN : within_se[0], level);
    w.seeds = 1;
    w.method = within_se.empty() || !std::isfinite(within_se[0]) ? "one seed, no within-run error"
                                                                  : "normal (one seed, within-run)";
    return w;
  }
  const double mean = std::accumulate(per_seed.begin(), per_seed.end(), 0.0) / k;
  double ss = 0;
  for (double v : per_seed) ss += (v - mean) * (v - mean);
  const double sd = std::sqrt(ss / (k - 1));
  const double se = combined_se(sd, within_se, k);
  e.effect = mean;
  if (!std::isfinite(se)) {
    e.interval = {-INFINITY, INFINITY};
    e.method = "t over " + std::to_string(k) + " seeds (within-run error unknown)";
    return e;
  }
  const double t = t_quantile(0.5 + level / 2, k - 1);
  e.interval = {mean - t * se, mean + t * se};
  e.method = "t over " + std::to_string(k) + " seeds" + (within_se.empty() ? "" : " (+ within-run)");
  return e;
}

nlohmann::json to_json(const Estimate& e, double null_value, Side side, const Decision& d) {
  return {{"effect", num(e.effect)},
          {"interval", nlohmann::json::array({num(e.interval.lo), num(e.interval.hi)})},
          {"null", num(null_value)},
          {"side", to_string(side)},
          {"verdict", to_string(d.verdict)},
          {"reason", d.reason},
          {"interval_method", e.method},
          {"seeds", e.seeds},
          {"level", e.level}};
}

}  // namespace closerlook
