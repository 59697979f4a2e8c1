// BatchLoader: determinism as a pure function of (seed, epoch, i), coverage, drop_last, sharding.
#include <gtest/gtest.h>

#include <set>

#include "data/loader.h"

using namespace closerlook;

namespace {

// Example i is a constant image of value i, so a batch reveals which examples it holds.
Dataset numbered(int64_t n, int64_t side = 6) {
  Dataset ds;
  ds.name = "numbered";
  ds.images = torch::arange(n, torch::kFloat32).view({n, 1, 1, 1}).expand({n, 1, side, side}).contiguous();
  ds.labels = torch::arange(n, torch::kInt64) % 3;
  ds.num_classes = 3;
  ds.mean = {0.0};
  ds.std = {1.0};
  return ds;
}

std::vector<int64_t> ids(const Batch& b) {
  std::vector<int64_t> v;
  for (int64_t j = 0; j < b.x.size(0); ++j) v.push_back(static_cast<int64_t>(b.x[j][0][0][0].item<float>()));
  return v;
}

}  // namespace

TEST(BatchLoader, SameSeedAndEpochGiveIdenticalBatches) {
  Dataset ds = numbered(50);
  AugmentSpec aug{true, 2, true};
  BatchLoader a(ds, 8, true, false, aug, 42), b(ds, 8, true, false, aug, 42);
  a.set_epoch(3);
  b.set_epoch(1);
  b.set_epoch(3);  // history must not matter
  for (int64_t i : {4, 0, 6}) {  // nor the order batches are requested in
    EXPECT_TRUE(torch::equal(a.batch(i).x, b.batch(i).x));
    EXPECT_TRUE(torch::equal(a.batch(i).y, b.batch(i).y));
  }
}

TEST(BatchLoader, DifferentEpochsAndSeedsDiffer) {
  Dataset ds = numbered(100);
  BatchLoader a(ds, 100, true, false, AugmentSpec{}, 1);
  auto e0 = a.indices(0).clone();
  a.set_epoch(1);
  EXPECT_FALSE(torch::equal(e0, a.indices(0)));
  BatchLoader c(ds, 100, true, false, AugmentSpec{}, 2);
  EXPECT_FALSE(torch::equal(e0, c.indices(0)));
}

TEST(BatchLoader, EveryExampleExactlyOncePerEpoch) {
  Dataset ds = numbered(103);
  BatchLoader l(ds, 10, true, false, AugmentSpec{}, 5);
  for (int64_t epoch : {0, 7}) {
    l.set_epoch(epoch);
    ASSERT_EQ(l.num_batches(), 11);
    std::multiset<int64_t> seen;
    for (int64_t i = 0; i < l.num_batches(); ++i) {
      Batch b = l.batch(i);
      EXPECT_EQ(b.x.size(0), i == 10 ? 3 : 10);
      auto v = ids(b);
      for (int64_t j = 0; j < int64_t(v.size()); ++j) EXPECT_EQ(b.y[j].item<int64_t>(), v[size_t(j)] % 3);
      seen.insert(v.begin(), v.end());
    }
    ASSERT_EQ(seen.size(), 103u);
    for (int64_t k = 0; k < 103; ++k) EXPECT_EQ(seen.count(k), 1u) << k;
  }
}

TEST(BatchLoader, NoShuffleIsInOrder) {
  Dataset ds = numbered(20);
  BatchLoader l(ds, 6, false, false, AugmentSpec{}, 9);
  l.set_epoch(4);
  EXPECT_EQ(ids(l.batch(1)), (std::vector<int64_t>{6, 7, 8, 9, 10, 11}));
  EXPECT_EQ(ids(l.batch(3)), (std::vector<int64_t>{18, 19}));
}

TEST(BatchLoader, DropLastDropsThePartialBatch) {
  Dataset ds = numbered(103);
  BatchLoader keep(ds, 10, true, false, AugmentSpec{}, 5), drop(ds, 10, true, true, AugmentSpec{}, 5);
  EXPECT_EQ(keep.num_batches(), 11);
  EXPECT_EQ(drop.num_batches(), 10);
  for (int64_t i = 0; i < drop.num_batches(); ++i) EXPECT_EQ(drop.batch(i).x.size(0), 10);
  EXPECT_THROW(drop.batch(10), std::exception);
}

TEST(BatchLoader, ShardSlicesConcatenateToTheGlobalBatch) {
  Dataset ds = numbered(61);
  AugmentSpec aug{true, 2, true};
  BatchLoader global(ds, 13, true, false, aug, 11);
  global.set_epoch(2);
  for (int world : {1, 2, 3, 5}) {
    std::vector<BatchLoader> ranks;
    for (int r = 0; r < world; ++r) {
      ranks.emplace_back(ds, 13, true, false, aug, 11);
      ranks.back().set_shard(r, world);
      ranks.back().set_epoch(2);
    }
    for (int64_t i = 0; i < global.num_batches(); ++i) {
      std::vector<torch::Tensor> xs, ys;
      int64_t lo = INT64_MAX, hi = 0;
      for (auto& r : ranks) {
        Batch b = r.batch(i);
        lo = std::min(lo, b.x.size(0));
        hi = std::max(hi, b.x.size(0));
        xs.push_back(b.x);
        ys.push_back(b.y);
      }
      Batch g = global.batch(i);
      EXPECT_LE(hi - lo, 1) << "world " << world;
      EXPECT_TRUE(torch::equal(torch::cat(xs), g.x)) << "world " << world << " batch " << i;
      EXPECT_TRUE(torch::equal(torch::cat(ys), g.y));
    }
  }
}

TEST(BatchLoader, RejectsBadArguments) {
  Dataset ds = numbered(10);
  EXPECT_THROW(BatchLoader(ds, 0, true, false, AugmentSpec{}, 0), std::exception);
  BatchLoader l(ds, 4, true, false, AugmentSpec{}, 0);
  EXPECT_THROW(l.set_shard(2, 2), std::exception);
  EXPECT_THROW(l.set_shard(0, 0), std::exception);
}

TEST(BatchLoader, AugmentationDrawsVaryAcrossEpochsButKeepShape) {
  Dataset ds;
  ds.images = torch::randn({16, 2, 8, 8});
  ds.labels = torch::zeros({16}, torch::kInt64);
  ds.num_classes = 1;
  ds.mean = {0.1, 0.2};
  ds.std = {0.5, 0.25};
  BatchLoader l(ds, 16, false, false, AugmentSpec{true, 3, true}, 4);
  torch::Tensor e0 = l.batch(0).x;
  EXPECT_EQ(e0.sizes(), ds.images.sizes());
  EXPECT_FALSE(torch::equal(e0, ds.images));
  l.set_epoch(1);
  EXPECT_FALSE(torch::equal(e0, l.batch(0).x));
  // Without augmentation the batch is the data itself.
  BatchLoader plain(ds, 16, false, false, AugmentSpec{}, 4);
  EXPECT_TRUE(torch::equal(plain.batch(0).x, ds.images));
}
