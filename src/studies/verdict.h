// One verdict rule for every claim, decided from an interval of the effect, and the interval
// helpers the claims use (t over seeds, Wilson for an error rate, within-run + between-seed).
//
// The rule (decide()). A claim states an effect, its null value and the side it claims
// ("greater": effect > null; "less": effect < null). Given the effect's interval [lo, hi]:
//   held          the interval excludes the null on the claimed side
//                 (greater: lo > null; less: hi < null);
//   not held      the interval excludes the claimed effect: it lies entirely on the other side of
//                 the null (greater: hi <= null; less: lo >= null), or, with an equivalence
//                 margin m > 0, it lies within m of the null on the claimed side without
//                 excluding the null (greater: lo <= null and hi < null + m; less: hi >= null and
//                 lo > null - m): any effect left is smaller than the smallest one that counts;
//   inconclusive  otherwise (the interval contains the null and reaches beyond the margin), and
//                 whenever the effect or a bound is NaN (no estimate).
// Held is tested first, so a significant effect is held even when it is smaller than m (the
// margin only turns a non-significant, narrow interval into "not held"). Infinite bounds are
// allowed (one seed without a within-run error gives (-inf, inf): inconclusive).
// Every decision carries a one-sentence reason with the numbers.
#pragma once
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace closerlook {

enum class Verdict { Held, NotHeld, Inconclusive };
std::string to_string(Verdict v);  // "held" | "not held" | "inconclusive"

enum class Side { Greater, Less };  // the claimed direction of the effect relative to the null
std::string to_string(Side s);      // "greater" | "less"

struct Interval {
  double lo = -std::numeric_limits<double>::infinity();
  double hi = std::numeric_limits<double>::infinity();
};

// An effect with its interval and how the interval was made (for the report and summary.json).
struct Estimate {
  double effect = std::numeric_limits<double>::quiet_NaN();
  Interval interval;
  int seeds = 0;        // number of per-seed values behind it (0: a single within-run estimate)
  double level = 0.95;  // two-sided level of the interval
  std::string method;   // e.g. "t over 3 seeds (+ within-run)", "wilson", "normal (one seed)"
};

struct Decision {
  Verdict verdict = Verdict::Inconclusive;
  std::string reason;
};

// The rule above. margin >= 0 (0: no equivalence region).
Decision decide(const Estimate& e, double null_value, Side side, double margin = 0.0);

// ---- Quantiles ---------------------------------------------------------------------------
// Standard normal quantile Phi^-1(p), 0 < p < 1 (Acklam's rational approximation refined by one
// Halley step: |error| < 1e-12).
double normal_quantile(double p);
// Student t quantile t_{p, df}, 0 < p < 1, df >= 1 (inverse of the CDF through the regularised
// incomplete beta function; |error| < 1e-9). t_{0.975,2} = 4.302653, t_{0.975,4} = 2.776445.
double t_quantile(double p, int df);

// ---- Intervals ---------------------------------------------------------------------------
// Wilson score interval for a proportion: `errors` out of `n` test examples, two-sided `level`.
// 10 errors in 100 at 95%: [0.05523, 0.17437]. n <= 0 gives [NaN, NaN].
Interval wilson_interval(double errors, double n, double level = 0.95);
// Binomial standard error of a proportion p on n examples: sqrt(p (1 - p) / n).
double binomial_se(double p, double n);
// Within-run normal interval: effect ± z_{(1+level)/2} · se ((-inf, inf) when se is not finite).
Estimate normal_estimate(double effect, double se, double level = 0.95);
// The same from an se over `df + 1` replicates (e.g. curvature batches): a t interval with `df`
// degrees of freedom, since an sd from a handful of replicates is itself uncertain (with 2
// batches, df = 1, the normal quantile would claim 6x the precision there is). df < 1: no interval.
Estimate t_estimate(double effect, double se, int df, double level = 0.95);
// The effect over seeds. per_seed: one value of the effect per seed; within_se: the within-run
// standard error of each seed's value (empty, or one per seed; NaN entries mean unknown).
//   k >= 2: mean ± t_{(1+level)/2, k-1} · sqrt(s^2 / k + mean(se_i^2) / k), s the between-seed
//           standard deviation (the within-run term only when within_se is given). Adding the
//           within-run variance to the between-seed one is conservative (the spread over seeds
//           already contains within-run noise), so a few seeds that agree by chance cannot
//           hide a large within-run error.
//   k == 1: the within-run interval, value ± z · se_1 ((-inf, inf) without a within-run se).
//   k == 0: no estimate (NaN effect).
// Non-finite per-seed values are not dropped: they make the estimate NaN (a diverged seed
// must not silently vanish from the mean).
Estimate seed_estimate(const std::vector<double>& per_seed, const std::vector<double>& within_se = {},
                       double level = 0.95);
// The combined standard error used above: sqrt(s^2 / k + mean(se_i^2) / k).
double combined_se(double between_sd, const std::vector<double>& within_se, int k);

// summary.json fields of a decided claim: effect, interval [lo, hi], null, side, verdict, reason,
// interval_method, seeds, level (non-finite numbers become null).
nlohmann::json to_json(const Estimate& e, double null_value, Side side, const Decision& d);

}  // namespace closerlook
