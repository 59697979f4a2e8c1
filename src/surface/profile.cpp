#include "surface/profile.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_io.h"
#include "core/npy.h"

namespace closerlook {

namespace {
nlohmann::json num(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }
double from_json(const nlohmann::json& j) {
  return j.is_number() ? j.get<double>() : std::numeric_limits<double>::quiet_NaN();
}
const double kTEps = 1e-9;  // t values are multiples of 1/(N-1): compare with a tolerance
}  // namespace

double chord_average(const std::vector<double>& values, const std::vector<double>& dl) {
  CL_CHECK_INPUT(values.size() == dl.size(), "chord_average: values and dl differ in length");
  double total = 0, acc = 0;
  for (size_t i = 0; i + 1 < values.size(); ++i) {
    acc += 0.5 * (values[i] + values[i + 1]) * dl[i + 1];
    total += dl[i + 1];
  }
  if (total <= 0) return values.empty() ? std::nan("") : values[0];
  return acc / total;
}

double barrier_height(const std::vector<double>& t, const std::vector<double>& values, double t0, double t1) {
  CL_CHECK_INPUT(t.size() == values.size(), "barrier_height: t and values differ in length");
  int i0 = -1, i1 = -1;
  for (size_t i = 0; i < t.size(); ++i) {
    if (std::fabs(t[i] - t0) < kTEps && i0 < 0) i0 = static_cast<int>(i);
    if (std::fabs(t[i] - t1) < kTEps) i1 = static_cast<int>(i);
  }
  CL_CHECK_INPUT(i0 >= 0 && i1 > i0, "barrier_height: t = " + std::to_string(t0) + " and t = " + std::to_string(t1) +
                                         " must both be sample points");
  const double v0 = values[i0], v1 = values[i1];
  double best = 0;
  for (int i = i0; i <= i1; ++i) {
    if (!std::isfinite(values[i])) return std::nan("");
    const double s = (t[i] - t0) / (t1 - t0);
    best = std::max(best, values[i] - ((1 - s) * v0 + s * v1));
  }
  return best;
}

double barrier_height(const std::vector<double>& t, const std::vector<double>& values) {
  CL_CHECK_INPUT(t.size() >= 2, "barrier_height: need at least 2 points");
  return barrier_height(t, values, t.front(), t.back());
}

std::vector<double> Profile::column(const std::string& key) const {
  std::vector<double> out;
  out.reserve(points.size());
  for (const auto& p : points) out.push_back(key == "weight_norm" ? p.weight_norm : metric_value(p, key));
  return out;
}

double Profile::test_examples() const {
  const auto& s = settings;
  return s.is_object() && s.contains("test_examples") && s["test_examples"].is_number() &&
                 s["test_examples"].get<double>() > 0
             ? s["test_examples"].get<double>()
             : std::nan("");
}

double Profile::length() const {
  double s = 0;
  for (double d : dl) s += d;
  return s;
}

nlohmann::json Profile::summary() const {
  nlohmann::json sum = nlohmann::json::object();
  if (points.empty()) return sum;
  const double tfirst = t.front(), tlast = t.back();
  // Unit segments [k, k+1] inside the sampled range (a line: [0, 1]; a path through K+1 points: K).
  std::vector<std::pair<double, double>> segs;
  for (double k = std::ceil(tfirst - kTEps); k + 1 <= tlast + kTEps; k += 1) segs.emplace_back(k, k + 1);
  for (const auto& key : metric_keys()) {
    auto v = column(key);
    bool all_finite = std::all_of(v.begin(), v.end(), [](double x) { return std::isfinite(x); });
    if (std::all_of(v.begin(), v.end(), [](double x) { return std::isnan(x); })) continue;  // not measured
    nlohmann::json s;
    s["start"] = num(v.front());
    s["end"] = num(v.back());
    if (all_finite) {
      double mean = 0;
      for (double x : v) mean += x;
      s["min"] = *std::min_element(v.begin(), v.end());
      s["max"] = *std::max_element(v.begin(), v.end());
      s["avg"] = mean / double(v.size());
      s["int"] = num(chord_average(v, dl));
    } else {
      s["min"] = s["max"] = s["avg"] = s["int"] = nullptr;
    }
    double barrier = segs.empty() ? std::nan("") : 0.0;
    for (auto [a, b] : segs) {
      const double h = barrier_height(t, v, a, b);
      barrier = std::isnan(h) ? h : std::max(barrier, h);
      if (std::isnan(barrier)) break;
    }
    s["barrier"] = num(barrier);
    sum[key] = s;
  }
  return sum;
}

nlohmann::json Profile::to_json() const {
  nlohmann::json j;
  j["kind"] = kind;
  j["settings"] = settings;
  j["t"] = t;
  j["dl"] = dl;
  for (const auto& key : metric_keys()) {
    nlohmann::json arr = nlohmann::json::array();
    for (double x : column(key)) arr.push_back(num(x));
    j[key] = arr;
  }
  nlohmann::json wn = nlohmann::json::array();
  for (double x : column("weight_norm")) wn.push_back(num(x));
  j["weight_norm"] = wn;
  j["length"] = length();
  j["summary"] = summary();
  // Per-segment barriers for paths through several checkpoints.
  nlohmann::json segs = nlohmann::json::array();
  if (!points.empty()) {
    for (double k = std::ceil(t.front() - kTEps); k + 1 <= t.back() + kTEps; k += 1) {
      nlohmann::json b;
      for (const auto& key : metric_keys()) {
        auto v = column(key);
        if (std::all_of(v.begin(), v.end(), [](double x) { return std::isnan(x); })) continue;
        b[key] = num(barrier_height(t, v, k, k + 1));
      }
      segs.push_back({{"t0", k}, {"t1", k + 1}, {"barrier", b}});
    }
  }
  j["segments"] = segs;
  return j;
}

void write_profile(const Profile& p, const std::string& dir, const std::string& stem) {
  make_dirs(dir);
  const std::string base = dir + "/" + stem;
  std::vector<std::string> cols = {"t", "dl"};
  for (const auto& k : metric_keys()) cols.push_back(k);
  cols.push_back("weight_norm");
  auto mat = torch::empty({static_cast<int64_t>(p.points.size()), static_cast<int64_t>(cols.size())},
                          torch::kFloat64);
  auto a = mat.accessor<double, 2>();
  std::ostringstream csv;
  csv.precision(10);
  for (size_t c = 0; c < cols.size(); ++c) csv << (c ? "," : "") << cols[c];
  csv << "\n";
  for (size_t i = 0; i < p.points.size(); ++i) {
    std::vector<double> row = {p.t[i], p.dl[i]};
    for (const auto& k : metric_keys()) row.push_back(metric_value(p.points[i], k));
    row.push_back(p.points[i].weight_norm);
    for (size_t c = 0; c < row.size(); ++c) {
      a[i][c] = row[c];
      csv << (c ? "," : "") << row[c];
    }
    csv << "\n";
  }
  write_file_atomic(base + ".csv", csv.str());
  write_npy(base + ".npy", mat);
  write_json(base + ".json", p.to_json());
}

Profile read_profile(const std::string& json_path) {
  auto j = read_json(json_path);
  Profile p;
  try {
    p.kind = j.at("kind").get<std::string>();
    p.settings = j.value("settings", nlohmann::json::object());
    p.t = j.at("t").get<std::vector<double>>();
    p.dl = j.at("dl").get<std::vector<double>>();
    p.points.resize(p.t.size());
    for (const auto& key : metric_keys()) {
      const auto& arr = j.at(key);
      CL_CHECK_INPUT(arr.size() == p.t.size(), json_path + ": '" + key + "' has the wrong length");
      for (size_t i = 0; i < p.t.size(); ++i) set_metric_value(p.points[i], key, from_json(arr[i]));
    }
    if (j.contains("weight_norm"))
      for (size_t i = 0; i < p.t.size(); ++i) p.points[i].weight_norm = from_json(j["weight_norm"][i]);
  } catch (const nlohmann::json::exception& e) {
    throw_bad_input(json_path + ": not a profile file (" + e.what() + ")");
  }
  return p;
}

}  // namespace closerlook
