// The resumable grid store (surface/grid_store.h): exact round trip of values through the partial
// file, shard ownership, resume after an interruption, merge of shards from several folders.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_io.h"
#include "surface/grid_store.h"

using namespace closerlook;
namespace fs = std::filesystem;

namespace {

std::string temp_dir(const std::string& name) {
  auto d = fs::temp_directory_path() / ("cl_grid_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d.string();
}

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// Values of point p of a 2-key grid: a function of p only.
std::vector<double> vals(int64_t p) { return {double(p) / 3.0, -double(p) * 1e-300}; }

GridTask task_in(const std::string& dir, int64_t n, std::string hash = "h1") {
  GridTask t;
  t.grid = GridStore({n}, {"a", "b"}, std::move(hash));
  t.dir = dir;
  t.name = "g";
  t.quiet = true;
  t.evaluate = vals;
  return t;
}

}  // namespace

TEST(GridStore, RecordRoundTripIsExactIncludingNonFiniteAndSignedZero) {
  GridStore g({2, 3}, {"x", "y"}, "hash");
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<std::vector<double>> v = {{0.1, -0.0}, {inf, -inf}, {std::nan(""), 1e-310}, {M_PI, -1.0 / 3}};
  for (size_t p = 0; p < v.size(); ++p) g.set(static_cast<int64_t>(p), v[p]);
  // Through the text of a file, as a resume reads it.
  const auto text = g.to_record().dump(2);
  GridStore back({2, 3}, {"x", "y"}, "hash");
  ASSERT_TRUE(back.read_record(nlohmann::json::parse(text)));
  for (size_t p = 0; p < v.size(); ++p)
    for (size_t k = 0; k < 2; ++k) {
      const double got = back.values(static_cast<int64_t>(p))[k];
      if (std::isnan(v[p][k]))
        EXPECT_TRUE(std::isnan(got));
      else
        EXPECT_TRUE(same_bits(got, v[p][k])) << p << "," << k << ": " << got << " vs " << v[p][k];
    }
  EXPECT_FALSE(back.filled(4));
  EXPECT_EQ(back.missing(), (std::vector<int64_t>{4, 5}));
  auto t = back.tensor("x");
  EXPECT_EQ(t.sizes(), (std::vector<int64_t>{2, 3}));
  EXPECT_DOUBLE_EQ(t[1][0].item<double>(), M_PI);  // point 3 = (1, 0), row-major
  EXPECT_TRUE(std::isnan(t[1][2].item<double>()));
  // A record of another computation is not read.
  GridStore other({2, 3}, {"x", "y"}, "another");
  EXPECT_FALSE(other.read_record(nlohmann::json::parse(text)));
  EXPECT_TRUE(other.missing().size() == 6u);
  GridStore shape({6}, {"x", "y"}, "hash");
  EXPECT_FALSE(shape.read_record(nlohmann::json::parse(text)));
  EXPECT_THROW(g.set(6, {1, 2}), Error);
  EXPECT_THROW(g.set(0, {1}), Error);
  EXPECT_THROW(g.merge(other), Error);
}

TEST(GridStore, ShardsOwnPointsModuloTheirCount) {
  GridStore g({7}, {"a"}, "h");
  EXPECT_EQ(g.missing({1, 3}), (std::vector<int64_t>{1, 4}));
  EXPECT_EQ(g.missing({0, 3}), (std::vector<int64_t>{0, 3, 6}));
  EXPECT_THROW((GridShard{3, 3}).check(), Error);
  EXPECT_THROW((GridShard{-1, 2}).check(), Error);
}

TEST(GridStore, InterruptedRunResumesWithoutRecomputingFilledPoints) {
  const auto dir = temp_dir("resume");
  GridTask t = task_in(dir, 6);
  t.save_every = 1;
  int calls = 0;
  t.evaluate = [&](int64_t p) {
    if (++calls == 4) throw std::runtime_error("killed");
    return vals(p);
  };
  EXPECT_THROW(run_grid(t), std::runtime_error);
  const std::string partial = dir + "/g.partial.json";
  ASSERT_TRUE(file_exists(partial));
  auto j = read_json(partial);
  EXPECT_EQ(j["points"].size(), 3u);
  j["points"]["1"]["a"] = 99.0;  // a marker: filled points are kept as they are
  write_json(partial, j);

  calls = 0;
  t.evaluate = [&](int64_t p) {
    ++calls;
    return vals(p);
  };
  const GridRun r = run_grid(t);
  EXPECT_EQ(r.evaluated, 3);
  EXPECT_EQ(calls, 3);
  EXPECT_TRUE(r.store.complete());
  EXPECT_EQ(r.store.values(1)[0], 99.0);
  for (int64_t p : {0, 2, 3, 4, 5}) EXPECT_EQ(r.store.values(p), vals(p)) << p;
  EXPECT_TRUE(file_exists(partial)) << "the caller removes the partial file once the outputs exist";
  remove_partial(t);
  EXPECT_FALSE(file_exists(partial));

  // A partial file of another computation is ignored: everything is computed again.
  write_json(partial, j);
  GridTask t2 = task_in(dir, 6, "h2");
  EXPECT_EQ(run_grid(t2).evaluated, 6);
  // In memory (no folder): no file at all.
  GridTask mem = task_in("", 6);
  EXPECT_EQ(run_grid(mem).evaluated, 6);
  fs::remove_all(dir);
}

TEST(GridStore, ShardsInSeveralFoldersMergeAndMissingShardsAreNamed) {
  const auto d1 = temp_dir("m1"), d2 = temp_dir("m2");
  GridTask t1 = task_in(d1, 10), t2 = task_in(d2, 10);
  EXPECT_EQ(run_grid(t1, {0, 3}).evaluated, 4);
  EXPECT_TRUE(file_exists(d1 + "/g.partial-0-of-3.json"));
  run_grid(t2, {2, 3});
  try {
    merge_partials(t1, {d1, d2});
    ADD_FAILURE() << "shard 1 is missing";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("shard(s) 1 of 3"), std::string::npos) << e.what();
  }
  run_grid(t2, {1, 3});  // two shards may share a folder
  const GridStore m = merge_partials(t1, {d1, d2});
  ASSERT_TRUE(m.complete());
  for (int64_t p = 0; p < 10; ++p) EXPECT_EQ(m.values(p), vals(p)) << p;

  // Another shard count, or another computation, in the same folders is refused.
  GridTask t4 = task_in(d2, 10);
  run_grid(t4, {0, 4});
  EXPECT_THROW(merge_partials(t1, {d1, d2}), Error);
  remove_partial(t4, {0, 4});
  GridTask other = task_in(d2, 10, "other");
  run_grid(other, {1, 3});  // overwrites shard 1's file with another computation's
  EXPECT_THROW(merge_partials(t1, {d1, d2}), Error);
  EXPECT_THROW(merge_partials(t1, {temp_dir("empty")}), Error);
  for (const auto& d : {d1, d2}) fs::remove_all(d);
}
