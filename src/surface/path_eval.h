// Profiles along paths in weight space: straight lines between checkpoints (optionally beyond
// [0, 1]), polygonal paths through a sequence of checkpoints, and trained curves, with BN
// recalibrated at every point (PointEvaluator). Long profiles are resumable: finished points are
// kept in <dir>/<stem>.partial.json and skipped when the same computation is started again.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "surface/curve.h"
#include "surface/point_eval.h"
#include "surface/profile.h"

namespace closerlook {

struct PathOptions {
  int points = 61;        // points per unit segment, both ends included
  double t_min = 0.0;     // a straight line may extend beyond its endpoints: t in [t_min, t_max]
  double t_max = -1.0;    // < t_min: the end of the path (1 for a line, K for K segments)
  bool quiet = false;
  nlohmann::json to_json() const;
};

// Sample parameters: multiples of 1/(points-1) covering [t_min, t_max] (so t = 0, 1, ..., K are
// always sample points when inside the range).
std::vector<double> path_parameters(int points, double t_min, double t_max);

// Generic profile: evaluates `point_at(t)` (a flat parameter vector) at every t. `partial_dir`
// non-empty: resumable through <partial_dir>/<stem>.partial.json (removed when done).
Profile evaluate_profile(PointEvaluator& ev, const std::string& kind, const std::vector<double>& ts,
                         const std::function<torch::Tensor(double)>& point_at, const nlohmann::json& settings,
                         const std::string& partial_dir = "", const std::string& stem = "profile", bool quiet = false);

// Straight segments through `anchors` (flat parameter vectors, >= 2): t in [k, k+1] is
// (1 - s) anchors[k] + s anchors[k+1], s = t - k (the first/last segment extends beyond the ends).
Profile interpolate_anchors(PointEvaluator& ev, const std::vector<torch::Tensor>& anchors, const PathOptions& opts,
                            const nlohmann::json& settings = {}, const std::string& partial_dir = "",
                            const std::string& stem = "line");

// Points w(t), t in [0, 1], of a curve.
Profile evaluate_curve_points(PointEvaluator& ev, const Curve& curve, const PathOptions& opts,
                              const nlohmann::json& settings = {}, const std::string& partial_dir = "",
                              const std::string& stem = "curve");

}  // namespace closerlook
