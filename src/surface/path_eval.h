// Profiles along paths in weight space: straight lines between checkpoints (optionally beyond
// [0, 1]), polygonal paths through a sequence of checkpoints, and trained curves, with BN
// recalibrated at every point (PointEvaluator). Long profiles are resumable: finished points are
// kept in the grid store's partial file (surface/grid_store.h, name <stem>: <dir>/<stem>.partial.json)
// and skipped when the same computation is started again.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "surface/curve.h"
#include "surface/grid_store.h"
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

// The phases of evaluate_profile, for runners that spread the points over processes
// (dist/sharded.h): the profile's record without its points, the grid of its points (values:
// metric_keys() then weight_norm), and the profile of a complete grid (chord lengths from
// point_at). `task` refers to `ev` and `point_at`, which must outlive it.
struct ProfileGrid {
  Profile profile;  // kind, t, settings
  GridTask task;
};
ProfileGrid profile_grid(PointEvaluator& ev, const std::string& kind, const std::vector<double>& ts,
                         const std::function<torch::Tensor(double)>& point_at, const nlohmann::json& settings,
                         const std::string& partial_dir = "", const std::string& stem = "profile", bool quiet = false);
Profile finish_profile(const ProfileGrid& g, const GridStore& points,
                       const std::function<torch::Tensor(double)>& point_at);

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
