// One resumable store for point-wise analyses: a grid of N independent points (shape {T} for a
// path, {G, G} for a plane, flattened row-major: point p = i*G + j), each holding the same named
// values (the metrics of PointMetrics, ...). Planes and profiles both run through it, and so does
// dist/sharded.h, which never sees a file name.
//
// Shards: shard i of n owns the points p with p % n == i.
// Partial file (work in progress of one shard, atomic writes): <dir>/<name>.partial.json for a
// single shard, <dir>/<name>.partial-<i>-of-<n>.json otherwise:
//   {"format": "closerlook-grid-1", "hash": <the computation's hash>, "shape": [...], "keys": [...],
//    "shard": i, "shards": n, "points": {"<p>": {"<key>": value, ...}, ...}}
// Numbers are written so that they read back bit for bit (NaN, inf and -inf as the strings "nan",
// "inf", "-inf"), so a resumed grid equals an uninterrupted one. A partial file of another hash,
// shape or key list is ignored (the work restarts); a filled point is never recomputed.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace closerlook {

struct GridShard {
  int index = 0, count = 1;
  bool owns(int64_t point) const { return point % count == index; }
  void check() const;  // Error(BadInput) unless 0 <= index < count
};

class GridStore {
 public:
  GridStore() = default;
  GridStore(std::vector<int64_t> shape, std::vector<std::string> keys, std::string hash);

  const std::vector<int64_t>& shape() const { return shape_; }
  const std::vector<std::string>& keys() const { return keys_; }
  const std::string& hash() const { return hash_; }
  int64_t size() const { return static_cast<int64_t>(filled_.size()); }

  bool filled(int64_t p) const { return filled_.at(static_cast<size_t>(p)) != 0; }
  void set(int64_t p, const std::vector<double>& values);     // one value per key
  std::vector<double> values(int64_t p) const;                 // NaN where not filled
  std::vector<int64_t> missing(const GridShard& s = {}) const;  // s's unfilled points, ascending
  bool complete() const { return missing().empty(); }
  // One value of every point as a float64 tensor of shape(), NaN where not filled.
  torch::Tensor tensor(const std::string& key) const;

  // Copies the filled points of `other` (same grid: hash, shape, keys; else Error(BadInput)).
  void merge(const GridStore& other);

  // The partial-file record of this store's points of `s` (all of them with the default).
  nlohmann::json to_record(const GridShard& s = {}) const;
  // Fills the points of a record of the same grid (hash, shape, keys); false, reading nothing,
  // when the record is of another grid.
  bool read_record(const nlohmann::json& j);

 private:
  std::vector<int64_t> shape_;
  std::vector<std::string> keys_;
  std::string hash_;
  std::vector<double> data_;   // size() x keys
  std::vector<char> filled_;
};

// What to compute over a grid and where its work in progress lives.
struct GridTask {
  GridStore grid;              // the empty grid (shape, keys, hash)
  std::string dir, name;       // partial files <dir>/<name>.partial*.json; dir "": kept in memory only
  int save_every = 1;          // write the partial file every k evaluated points
  std::function<std::vector<double>(int64_t)> evaluate;  // the values of point p (one per key)
  std::string label = "points";                          // progress line
  std::function<std::string(int64_t, const std::vector<double>&)> describe;  // progress info (optional)
  bool quiet = false;
};

struct GridRun {
  GridStore store;             // the shard's points (and any others its partial file held)
  int64_t evaluated = 0;       // points computed in this call
};

// Evaluates the points of `shard` not yet in its partial file, in ascending order, saving the
// partial file every task.save_every points and at the end (the file stays until remove_partial).
GridRun run_grid(const GridTask& task, const GridShard& shard = {});
void remove_partial(const GridTask& task, const GridShard& shard = {});

// The partial files named task.name of every shard found in `dirs`, merged into task.grid.
// Error(BadInput) when a file holds another grid, shard counts disagree, or points are missing
// (naming the shards without a file).
GridStore merge_partials(const GridTask& task, const std::vector<std::string>& dirs);

}  // namespace closerlook
