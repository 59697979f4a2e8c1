#include "surface/path_eval.h"

#include <cmath>
#include <filesystem>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_io.h"
#include "core/progress.h"

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

nlohmann::json metrics_record(const PointMetrics& m) {
  // Full precision, NaN as null: a resumed profile equals an uninterrupted one.
  return m.to_json();
}

PointMetrics metrics_from_record(const nlohmann::json& j) {
  PointMetrics m;
  auto get = [&](const std::string& k) {
    return j.contains(k) && j[k].is_number() ? j[k].get<double>() : std::numeric_limits<double>::quiet_NaN();
  };
  for (const auto& k : metric_keys()) set_metric_value(m, k, get(k));
  m.weight_norm = get("weight_norm");
  return m;
}

}  // namespace

Profile evaluate_profile(PointEvaluator& ev, const std::string& kind, const std::vector<double>& ts,
                         const std::function<torch::Tensor(double)>& point_at, const nlohmann::json& settings,
                         const std::string& partial_dir, const std::string& stem, bool quiet) {
  Profile p;
  p.kind = kind;
  p.t = ts;
  p.settings = settings;
  p.settings["eval"] = ev.settings().to_json();
  p.settings["bn_examples"] = ev.bn_examples();
  p.settings["train_examples"] = ev.train_examples();
  p.settings["test_examples"] = ev.test_examples();
  p.points.resize(ts.size());
  p.dl.assign(ts.size(), 0.0);

  const std::string hash = content_hash(nlohmann::json({{"kind", kind}, {"t", ts}, {"settings", p.settings}}).dump());
  const std::string partial = partial_dir.empty() ? "" : partial_dir + "/" + stem + ".partial.json";
  nlohmann::json done = nlohmann::json::object();
  if (!partial.empty() && file_exists(partial)) {
    auto j = read_json(partial);
    if (j.value("hash", std::string()) == hash) done = j.value("points", nlohmann::json::object());
  }

  Progress progress(kind + " points", static_cast<int64_t>(ts.size()), quiet);
  torch::Tensor prev;
  for (size_t i = 0; i < ts.size(); ++i) {
    torch::Tensor w = point_at(ts[i]).to(torch::kFloat64);
    if (prev.defined()) p.dl[i] = (w - prev).norm().item<double>();
    prev = w;
    const std::string key = std::to_string(i);
    if (done.contains(key)) {
      p.points[i] = metrics_from_record(done[key]);
    } else {
      p.points[i] = ev.evaluate_flat(w);
      if (!partial.empty()) {
        done[key] = metrics_record(p.points[i]);
        write_json(partial, {{"hash", hash}, {"points", done}});
      }
    }
    progress.tick(1, "t " + std::to_string(ts[i]) + " te_err " + std::to_string(p.points[i].te_err));
  }
  progress.done();
  if (!partial.empty()) std::filesystem::remove(partial);
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
