#include "data/loader.h"

#include <string>
#include <vector>

#include "core/error.h"
#include "data/augment.h"
#include "data/counter_rng.h"

namespace closerlook {

namespace {

// The choices of one example: always three draws, whatever is enabled, so switching crop off
// keeps the flips.
ExampleAugment draw_augment(KeyedRng& rng, const AugmentSpec& aug) {
  const uint64_t dy = rng.below(static_cast<uint64_t>(2 * aug.pad + 1));
  const uint64_t dx = rng.below(static_cast<uint64_t>(2 * aug.pad + 1));
  const bool flip = (rng.next() >> 63) != 0;
  ExampleAugment op;
  op.dy = aug.crop ? static_cast<int64_t>(dy) : 0;
  op.dx = aug.crop ? static_cast<int64_t>(dx) : 0;
  op.flip = aug.flip && flip;
  return op;
}

KeyedRng augment_rng(uint64_t seed, int64_t epoch, int64_t batch) {
  return KeyedRng(mix_keys({seed, static_cast<uint64_t>(epoch), static_cast<uint64_t>(batch),
                            static_cast<uint64_t>(RngStream::Augment)}));
}

}  // namespace

BatchLoader::BatchLoader(const Dataset& ds, int64_t batch_size, bool shuffle, bool drop_last, AugmentSpec aug,
                         uint64_t seed)
    : ds_(&ds), batch_size_(batch_size), shuffle_(shuffle), drop_last_(drop_last), aug_(aug), seed_(seed) {
  if (batch_size <= 0) throw_bad_input("batch size must be > 0, got " + std::to_string(batch_size));
  if (aug.pad < 0) throw_bad_input("crop padding must be >= 0, got " + std::to_string(aug.pad));
  if (ds.size() > 0 && ds.labels.size(0) != ds.size())
    throw Error(ExitCode::Internal, ds.name + ": " + std::to_string(ds.size()) + " images but " +
                                        std::to_string(ds.labels.size(0)) + " labels");
  on_device_ = ds.images.defined() && !ds.images.device().is_cpu();
  if (on_device_ && aug.any())
    fill_dev_ = torch::tensor(normalised_black(ds.mean, ds.std, ds.channels()), torch::kFloat64)
                    .to(ds.images.options());
  set_epoch(0);
}

int64_t BatchLoader::num_batches() const {
  const int64_t n = ds_->size();
  return drop_last_ ? n / batch_size_ : (n + batch_size_ - 1) / batch_size_;
}

void BatchLoader::set_epoch(int64_t epoch) {
  epoch_ = epoch;
  const int64_t n = ds_->size();
  if (!shuffle_) {
    order_ = torch::arange(n, torch::kInt64);
  } else {
    // Fisher-Yates on a stream keyed by (seed, epoch): independent of any other RNG use.
    std::vector<int64_t> perm(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) perm[static_cast<size_t>(i)] = i;
    KeyedRng rng(mix_keys({seed_, static_cast<uint64_t>(epoch), static_cast<uint64_t>(RngStream::Permutation)}));
    for (int64_t i = n - 1; i > 0; --i) {
      const int64_t j = static_cast<int64_t>(rng.below(static_cast<uint64_t>(i + 1)));
      std::swap(perm[static_cast<size_t>(i)], perm[static_cast<size_t>(j)]);
    }
    order_ = torch::from_blob(perm.data(), {n}, torch::kInt64).clone();
  }
  if (!on_device_) return;
  // The whole epoch's order and choices go to the device in one copy each: the choices of
  // position p = i * batch_size + j are the j-th draws of batch i's stream, as batch(i) makes them.
  const auto dev = ds_->images.device();
  order_dev_ = order_.to(dev);
  if (!aug_.any()) return;
  torch::Tensor ops = torch::zeros({n, 3}, torch::kInt64);
  int64_t* p = ops.data_ptr<int64_t>();
  for (int64_t i = 0; i < num_batches(); ++i) {
    KeyedRng rng = augment_rng(seed_, epoch_, i);
    const int64_t global = std::min(batch_size_, n - i * batch_size_);
    for (int64_t j = 0; j < global; ++j) {
      const ExampleAugment op = draw_augment(rng, aug_);
      int64_t* row = p + 3 * (i * batch_size_ + j);
      row[0] = op.dy;
      row[1] = op.dx;
      row[2] = op.flip ? 1 : 0;
    }
  }
  ops_dev_ = ops.to(dev);
}

void BatchLoader::set_shard(int rank, int world) {
  if (world < 1 || rank < 0 || rank >= world)
    throw_bad_input("data shard: rank " + std::to_string(rank) + " of world " + std::to_string(world) +
                    " is out of range");
  rank_ = rank;
  world_ = world;
}

std::pair<int64_t, int64_t> BatchLoader::shard_range(int64_t i) const {
  if (i < 0 || i >= num_batches())
    throw Error(ExitCode::Internal, "batch index " + std::to_string(i) + " outside [0, " +
                                        std::to_string(num_batches()) + ") for " + ds_->name);
  const int64_t global = std::min(batch_size_, ds_->size() - i * batch_size_);
  // Rank r gets base (+1 for the first `rem` ranks): sizes differ by at most one, and the
  // slices of all ranks tile the global batch in rank order.
  const int64_t base = global / world_, rem = global % world_;
  const int64_t begin = rank_ * base + std::min<int64_t>(rank_, rem);
  return {begin, begin + base + (rank_ < rem ? 1 : 0)};
}

torch::Tensor BatchLoader::indices(int64_t i) const {
  const auto [begin, end] = shard_range(i);
  return order_.narrow(0, i * batch_size_ + begin, end - begin);
}

Batch BatchLoader::batch(int64_t i) const {
  const auto [begin, end] = shard_range(i);
  const int64_t start = i * batch_size_ + begin, count = end - begin;
  if (on_device_) {
    const torch::Tensor idx = order_dev_.narrow(0, start, count);
    if (!aug_.any() || count == 0) return {ds_->images.index_select(0, idx), ds_->labels.index_select(0, idx)};
    const int64_t pad = aug_.crop ? aug_.pad : 0;
    return {gather_augment_tensor(ds_->images, idx, ops_dev_.narrow(0, start, count), pad, fill_dev_),
            ds_->labels.index_select(0, idx)};
  }
  const torch::Tensor idx = order_.narrow(0, start, count);
  if (!aug_.any() || idx.numel() == 0) return {ds_->images.index_select(0, idx), ds_->labels.index_select(0, idx)};

  // Draw (dy, dx, flip) for every example of the GLOBAL batch, so each rank's slice is exactly
  // the slice of what a single process would have produced.
  KeyedRng rng = augment_rng(seed_, epoch_, i);
  const int64_t pad = aug_.crop ? aug_.pad : 0;
  std::vector<ExampleAugment> ops;
  ops.reserve(static_cast<size_t>(count));
  for (int64_t j = 0; j < end; ++j) {
    const ExampleAugment op = draw_augment(rng, aug_);
    if (j >= begin) ops.push_back(op);
  }
  return {gather_augment(ds_->images, idx, ops, pad, normalised_black(ds_->mean, ds_->std, ds_->channels())),
          ds_->labels.index_select(0, idx)};
}

}  // namespace closerlook
