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
  double length() const;
  // Summary statistics per metric plus barrier heights per unit segment [k, k+1].
  nlohmann::json summary() const;
  nlohmann::json to_json() const;
};

// Garipov's "int": trapezoid rule w.r.t. chord length, normalised by the total length:
// sum_i 0.5 (v_i + v_{i+1}) dl_{i+1} / sum dl. (v = [1,2,4], dl = [0,1,3] -> 2.625.)
double chord_average(const std::vector<double>& values, const std::vector<double>& dl);

// Barrier height of values along t between the points at t = t0 and t = t1 (both must be
// sample points): max over t0 <= t_i <= t1 of v_i - ((1-s) v(t0) + s v(t1)), s = (t_i-t0)/(t1-t0).
// 0 when the path never rises above the chord. NaN when a value in the range is not finite.
double barrier_height(const std::vector<double>& t, const std::vector<double>& values, double t0, double t1);

void write_profile(const Profile& p, const std::string& dir, const std::string& stem);
Profile read_profile(const std::string& json_path);

}  // namespace closerlook
