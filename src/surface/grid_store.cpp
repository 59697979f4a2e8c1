#include "surface/grid_store.h"

#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <regex>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_io.h"
#include "core/progress.h"

namespace closerlook {

namespace fs = std::filesystem;

namespace {

constexpr const char* kFormat = "closerlook-grid-1";
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Exact round trip through JSON: finite doubles as numbers (shortest exact form), the rest as strings.
nlohmann::json number(double v) {
  if (std::isfinite(v)) return v;
  if (std::isnan(v)) return "nan";
  return v > 0 ? "inf" : "-inf";
}

double number_of(const nlohmann::json& j) {
  if (j.is_number()) return j.get<double>();
  if (j.is_string()) {
    const auto s = j.get<std::string>();
    if (s == "inf") return std::numeric_limits<double>::infinity();
    if (s == "-inf") return -std::numeric_limits<double>::infinity();
  }
  return kNaN;  // "nan", null
}

std::string partial_path(const std::string& dir, const std::string& name, const GridShard& s) {
  return dir + "/" + name +
         (s.count == 1 ? std::string(".partial.json")
                       : ".partial-" + std::to_string(s.index) + "-of-" + std::to_string(s.count) + ".json");
}

}  // namespace

void GridShard::check() const {
  CL_CHECK_INPUT(count >= 1 && index >= 0 && index < count,
                 "shard " + std::to_string(index) + "/" + std::to_string(count) +
                     " is not of the form i/n with 0 <= i < n");
}

GridStore::GridStore(std::vector<int64_t> shape, std::vector<std::string> keys, std::string hash)
    : shape_(std::move(shape)), keys_(std::move(keys)), hash_(std::move(hash)) {
  int64_t n = 1;
  for (int64_t d : shape_) {
    CL_CHECK_INPUT(d >= 0, "grid: negative dimension");
    n *= d;
  }
  CL_CHECK_INPUT(!keys_.empty(), "grid: no value keys");
  data_.assign(static_cast<size_t>(n) * keys_.size(), kNaN);
  filled_.assign(static_cast<size_t>(n), 0);
}

void GridStore::set(int64_t p, const std::vector<double>& values) {
  CL_CHECK_INPUT(p >= 0 && p < size(), "grid: point " + std::to_string(p) + " outside [0, " + std::to_string(size()) + ")");
  CL_CHECK_INPUT(values.size() == keys_.size(), "grid: point " + std::to_string(p) + " has " +
                                                    std::to_string(values.size()) + " values, expected " +
                                                    std::to_string(keys_.size()));
  std::copy(values.begin(), values.end(), data_.begin() + static_cast<std::ptrdiff_t>(p * keys_.size()));
  filled_[static_cast<size_t>(p)] = 1;
}

std::vector<double> GridStore::values(int64_t p) const {
  const auto b = data_.begin() + static_cast<std::ptrdiff_t>(p * keys_.size());
  return {b, b + static_cast<std::ptrdiff_t>(keys_.size())};
}

std::vector<int64_t> GridStore::missing(const GridShard& s) const {
  std::vector<int64_t> out;
  for (int64_t p = 0; p < size(); ++p)
    if (s.owns(p) && !filled(p)) out.push_back(p);
  return out;
}

torch::Tensor GridStore::tensor(const std::string& key) const {
  const auto it = std::find(keys_.begin(), keys_.end(), key);
  CL_CHECK_INPUT(it != keys_.end(), "grid: no value '" + key + "'");
  const size_t k = static_cast<size_t>(it - keys_.begin());
  auto t = torch::empty({size()}, torch::kFloat64);
  auto a = t.accessor<double, 1>();
  for (int64_t p = 0; p < size(); ++p) a[p] = data_[static_cast<size_t>(p) * keys_.size() + k];
  return t.reshape(shape_);
}

void GridStore::merge(const GridStore& other) {
  CL_CHECK_INPUT(other.hash_ == hash_ && other.shape_ == shape_ && other.keys_ == keys_,
                 "grid: cannot merge a grid of another computation (hash " + other.hash_ + " vs " + hash_ + ")");
  for (int64_t p = 0; p < size(); ++p)
    if (other.filled(p)) set(p, other.values(p));
}

nlohmann::json GridStore::to_record(const GridShard& s) const {
  nlohmann::json points = nlohmann::json::object();
  for (int64_t p = 0; p < size(); ++p) {
    if (!s.owns(p) || !filled(p)) continue;
    nlohmann::json v = nlohmann::json::object();
    for (size_t k = 0; k < keys_.size(); ++k) v[keys_[k]] = number(data_[static_cast<size_t>(p) * keys_.size() + k]);
    points[std::to_string(p)] = std::move(v);
  }
  return {{"format", kFormat}, {"hash", hash_},   {"shape", shape_},      {"keys", keys_},
          {"shard", s.index},  {"shards", s.count}, {"points", std::move(points)}};
}

bool GridStore::read_record(const nlohmann::json& j) {
  if (!j.is_object() || j.value("hash", std::string()) != hash_ || !j.contains("shape") || !j.contains("keys") ||
      j["shape"] != nlohmann::json(shape_) || j["keys"] != nlohmann::json(keys_))
    return false;
  const nlohmann::json points = j.value("points", nlohmann::json::object());
  for (const auto& [key, v] : points.items()) {
    const int64_t p = std::stoll(key);
    CL_CHECK_INPUT(p >= 0 && p < size() && v.is_object(), "grid record: bad point '" + key + "'");
    std::vector<double> vals;
    for (const auto& k : keys_) vals.push_back(v.contains(k) ? number_of(v[k]) : kNaN);
    set(p, vals);
  }
  return true;
}

GridRun run_grid(const GridTask& task, const GridShard& shard) {
  shard.check();
  CL_CHECK_INPUT(task.save_every >= 1, "grid: save_every must be >= 1");
  GridRun r{task.grid, 0};
  const std::string path = task.dir.empty() ? "" : partial_path(task.dir, task.name, shard);
  if (!path.empty() && file_exists(path)) r.store.read_record(read_json(path));
  auto save = [&] {
    if (!path.empty()) write_json(path, r.store.to_record(shard));
  };
  const auto todo = r.store.missing(shard);
  Progress progress(task.label, static_cast<int64_t>(todo.size()), task.quiet);
  int since_save = 0;
  for (int64_t p : todo) {
    const auto v = task.evaluate(p);
    r.store.set(p, v);
    ++r.evaluated;
    if (++since_save >= task.save_every) {
      save();
      since_save = 0;
    }
    progress.tick(1, task.describe ? task.describe(p, v) : std::string());
  }
  progress.done();
  if (since_save > 0 || (!path.empty() && !file_exists(path))) save();
  return r;
}

void remove_partial(const GridTask& task, const GridShard& shard) {
  if (task.dir.empty()) return;
  std::error_code ec;
  fs::remove(partial_path(task.dir, task.name, shard), ec);
}

GridStore merge_partials(const GridTask& task, const std::vector<std::string>& dirs) {
  GridStore merged = task.grid;
  const std::regex re(std::regex_replace(task.name, std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)") +
                      R"(\.partial(?:-([0-9]+)-of-([0-9]+))?\.json)");
  int shards = -1;
  std::vector<bool> seen;
  for (const auto& d : dirs) {
    if (!fs::is_directory(d)) throw_bad_input(d + ": not a folder");
    std::map<int, std::string> found;  // shard -> path, in shard order
    for (const auto& e : fs::directory_iterator(d)) {
      std::smatch m;
      const std::string fname = e.path().filename().string();
      if (!std::regex_match(fname, m, re)) continue;
      const int n = m[2].matched ? std::stoi(m[2]) : 1, i = m[1].matched ? std::stoi(m[1]) : 0;
      if (shards < 0) {
        shards = n;
        seen.assign(static_cast<size_t>(n), false);
      }
      if (n != shards)
        throw_bad_input(e.path().string() + ": a shard of " + std::to_string(n) + ", others are of " +
                        std::to_string(shards));
      if (i < 0 || i >= n) throw_bad_input(e.path().string() + ": shard " + std::to_string(i) + " of " + std::to_string(n));
      found[i] = e.path().string();
    }
    for (const auto& [i, path] : found) {
      GridStore part = task.grid;
      if (!part.read_record(read_json(path)))
        throw_bad_input(path + ": holds another computation (hash, shape or values differ from " + task.grid.hash() + ")");
      merged.merge(part);
      seen[static_cast<size_t>(i)] = true;
    }
  }
  CL_CHECK_INPUT(shards > 0, task.name + ": no " + task.name + ".partial*.json files in the given folders");
  std::string missing_shards;
  for (int s = 0; s < shards; ++s)
    if (!seen[static_cast<size_t>(s)]) missing_shards += (missing_shards.empty() ? "" : ", ") + std::to_string(s);
  const auto missing = merged.missing();
  if (!missing.empty())
    throw_bad_input(task.name + ": " + std::to_string(missing.size()) + " points are not filled yet" +
                    (missing_shards.empty() ? std::string(" (finish the shards)")
                                            : " (no file from shard(s) " + missing_shards + " of " +
                                                  std::to_string(shards) + ")"));
  return merged;
}

}  // namespace closerlook
