// A profile: metrics at a sequence of points along a path in weight space (a straight line, a
// chain of straight lines through several checkpoints, or a trained curve), with the summary
// statistics of dnn-mode-connectivity's eval_curve.py and barrier heights.
//
// Files written by write_profile(dir, stem):
//   <stem>.csv   columns: t, dl, tr_loss, tr_nll, tr_err, te_loss, te_nll, te_err, weight_norm
//   <stem>.npy   float64 matrix (points x 9), the same columns
//   <stem>.json  {"kind", "settings", "t": [...], "dl": [...], "<metric>": [...],
//                 "length", "summary": {"<metric>": {start, end, min, max, avg, int, barrier}},
//                 "segments": [{"t0", "t1", "barrier": {"<metric>": ...}}]}
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "surface/point_eval.h"

namespace closerlook {

struct Profile {
  std::string kind;                 // "line" | "path" | "curve"
  std::vector<double> t;            // path parameter of each point (segment k of a path: [k, k+1])
  std::vector<double> dl;           // chord length from the previous point (dl[0] = 0)
  std::vector<PointMetrics> points;
  nlohmann::json settings;          // how it was computed (inputs, eval settings, ...)

  std::vector<double> column(const std::string& key) const;
  // The number of test examples behind the test errors (settings.test_examples, written by
  // surface/path_eval.cpp); NaN for a profile without it (older files).
  double test_examples() const;
  double length() const;
  // Summary statistics per metric plus barrier heights per unit segment [k, k+1].
  nlohmann::json summary() const;
  nlohmann::json to_json() const;
};

// Garipov's "int": trapezoid rule w.r.t. chord length, normalised by the total length:
// sum_i 0.5 (v_i + v_{i+1}) dl_{i+1} / sum dl. (v = [1,2,4], dl = [0,1,3] -> 2.625.)
double chord_average(const std::vector<double>& values, const std::vector<double>& dl);

// THE barrier height (the paper's central quantity; every study uses this one definition).
// For a path sampled at parameters t_i with values v_i (a loss or an error), the barrier between
// the points at t = t0 and t = t1 is
//     B = max(0, max_{t0 <= t_i <= t1} [ v_i - ((1 - s_i) v(t0) + s_i v(t1)) ]),  s_i = (t_i - t0) / (t1 - t0),
// i.e. how far the path rises above the straight interpolation of its two endpoint values.
//   - t0, t1: the path parameters of the two endpoints of the stretch measured (a line or curve:
//     0 and 1; segment k of a path through several checkpoints: k and k + 1). Both must be sample
//     points of t (matched within 1e-9) with t0 < t1, else Error (bad input).
//   - Clamped at 0: a path that never rises above the chord (a valley, a flat line) has no barrier.
//   - NaN when any value in [t0, t1] is not finite (a diverged point: the barrier is unknown).
double barrier_height(const std::vector<double>& t, const std::vector<double>& values, double t0, double t1);
// The same over the whole path: t0 = t.front(), t1 = t.back() (Error with fewer than 2 points).
double barrier_height(const std::vector<double>& t, const std::vector<double>& values);

void write_profile(const Profile& p, const std::string& dir, const std::string& stem);
Profile read_profile(const std::string& json_path);

}  // namespace closerlook
