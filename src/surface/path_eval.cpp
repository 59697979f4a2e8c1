#include "surface/path_eval.h"

#include <cmath>

#include "core/error.h"
#include "core/json_io.h"

namespace closerlook {

nlohmann::json PathOptions::to_json() const { return {{"points", points}, {"t_min", t_min}, {"t_max", t_max}}; }

std::vector<double> path_parameters(int points, double t_min, double t_max) {
  CL_CHECK_INPUT(points >= 2, "--points must be >= 2, got " + std::to_string(points));
  CL_CHECK_INPUT(t_max > t_min, "path range [" + std::to_string(t_min) + ", " + std::to_string(t_max) + "] is empty");
  const double n = points - 1;
  const int64_t k0 = static_cast<int64_t>(std::floor(t_min * n + 1e-9));
  const int64_t k1 = static_cast<int64_t>(std::ceil(t_max * n - 1e-9));
  std::vector<double> ts;
  for (int64_t k = k0; k <= k1; ++k) ts.push_back(double(k) / n);
  return ts;
}

namespace {

// The values of a profile point: the six metrics, then weight_norm.
std::vector<std::string> profile_keys() {
  std::vector<std::string> k = metric_keys();
  k.push_back("weight_norm");
  return k;
}

}  // namespace

ProfileGrid profile_grid(PointEvaluator& ev, const std::string& kind, const std::vector<double>& ts,
                         const std::function<torch::Tensor(double)>& point_at, const nlohmann::json& settings,
                         const std::string& partial_dir, const std::string& stem, bool quiet) {
  ProfileGrid g;
  Profile& p = g.profile;
  p.kind = kind;
  p.t = ts;
  p.settings = settings;
  p.settings["eval"] = ev.settings().to_json();
  p.settings["bn_examples"] = ev.bn_examples();
  p.settings["train_examples"] = ev.train_examples();
  p.settings["test_examples"] = ev.test_examples();
  const std::string hash = content_hash(nlohmann::json({{"kind", kind}, {"t", ts}, {"settings", p.settings}}).dump());
  g.task.grid = GridStore({static_cast<int64_t>(ts.size())}, profile_keys(), hash);
  g.task.dir = partial_dir;
  g.task.name = stem;
  g.task.label = kind + " points";
  g.task.quiet = quiet;
  g.task.evaluate = [&ev, &point_at, ts](int64_t i) {
    const PointMetrics m = ev.evaluate_flat(point_at(ts[static_cast<size_t>(i)]).to(torch::kFloat64));
    std::vector<double> v;
    for (const auto& k : metric_keys()) v.push_back(metric_value(m, k));
    v.push_back(m.weight_norm);
    return v;
  };
  g.task.describe = [ts](int64_t i, const std::vector<double>& v) {
    return "t " + std::to_string(ts[static_cast<size_t>(i)]) + " te_err " + std::to_string(v[5]);
  };
  return g;
}

Profile finish_profile(const ProfileGrid& g, const GridStore& points,
                       const std::function<torch::Tensor(double)>& point_at) {
  CL_CHECK_INPUT(points.complete(), g.profile.kind + ": " + std::to_string(points.missing().size()) +
                                        " points are not evaluated");
  Profile p = g.profile;
  const size_t n = p.t.size();
  p.points.resize(n);
  p.dl.assign(n, 0.0);
  const auto& keys = metric_keys();
  torch::Tensor prev;
  for (size_t i = 0; i < n; ++i) {
    torch::Tensor w = point_at(p.t[i]).to(torch::kFloat64);
    if (prev.defined()) p.dl[i] = (w - prev).norm().item<double>();
    prev = w;
    const auto v = points.values(static_cast<int64_t>(i));
    for (size_t k = 0; k < keys.size(); ++k) set_metric_value(p.points[i], keys[k], v[k]);
    p.points[i].weight_norm = v[keys.size()];
  }
  return p;
}

Profile evaluate_profile(PointEvaluator& ev, const std::string& kind, const std::vector<double>& ts,
                         const std::function<torch::Tensor(double)>& point_at, const nlohmann::json& settings,
                         const std::string& partial_dir, const std::string& stem, bool quiet) {
  const ProfileGrid g = profile_grid(ev, kind, ts, point_at, settings, partial_dir, stem, quiet);
  const GridRun run = run_grid(g.task);
  Profile p = finish_profile(g, run.store, point_at);
  remove_partial(g.task);
  return p;
}

Profile interpolate_anchors(PointEvaluator& ev, const std::vector<torch::Tensor>& anchors, const PathOptions& opts,
                            const nlohmann::json& settings, const std::string& partial_dir, const std::string& stem) {
  CL_CHECK_INPUT(anchors.size() >= 2, "interpolation needs at least 2 weight vectors");
  const int64_t K = static_cast<int64_t>(anchors.size()) - 1;
  const double t_max = opts.t_max < opts.t_min ? double(K) : opts.t_max;
  std::vector<torch::Tensor> a;
  for (const auto& x : anchors) a.push_back(x.to(torch::kFloat64));
  auto point_at = [&](double t) {
    int64_t k = static_cast<int64_t>(std::floor(t));
    k = std::max<int64_t>(0, std::min<int64_t>(K - 1, k));
    const double s = t - double(k);
    if (s == 0.0) return a[k].clone();
    if (s == 1.0) return a[k + 1].clone();
    return a[k] * (1.0 - s) + a[k + 1] * s;
  };
  nlohmann::json st = settings;
  st["path"] = opts.to_json();
  st["segments"] = K;
  return evaluate_profile(ev, K == 1 ? "line" : "path", path_parameters(opts.points, opts.t_min, t_max), point_at,
                          st, partial_dir, stem, opts.quiet);
}

Profile evaluate_curve_points(PointEvaluator& ev, const Curve& curve, const PathOptions& opts,
                              const nlohmann::json& settings, const std::string& partial_dir,
                              const std::string& stem) {
  nlohmann::json st = settings;
  st["path"] = opts.to_json();
  st["curve"] = {{"type", curve_type_name(curve.type())}, {"bends", curve.num_bends()}};
  auto point_at = [&](double t) { return curve.point(t).to(torch::kFloat64); };
  return evaluate_profile(ev, "curve", path_parameters(opts.points, 0.0, 1.0), point_at, st, partial_dir, stem,
                          opts.quiet);
}

}  // namespace closerlook
