// Deterministic in-memory batching. The example order of an epoch and every random crop/flip
// are pure functions of (seed, epoch, batch index), so a resumed run sees exactly the batches
// an uninterrupted run would have seen, and data-parallel ranks can take slices of one global batch.
//
// Batches live where the dataset lives. For a dataset on a GPU (dataset_on), the order and the
// crop/flip choices of a whole epoch are drawn on the host at set_epoch (the same keyed streams
// as on the CPU) and copied over once; each batch is then an index_select plus one whole-batch
// augmentation gather on the device, with no host synchronisation or transfer per batch. The
// batches are bit-identical to the CPU loader's (every pixel is a copy).
#pragma once
#include <torch/torch.h>

#include <utility>

#include "data/dataset.h"

namespace closerlook {

struct AugmentSpec {
  bool crop = false;   // random crop with zero padding (pad value = normalised black)
  int64_t pad = 4;
  bool flip = false;   // random horizontal flip, p = 0.5
  bool any() const { return crop || flip; }
};

struct Batch {
  torch::Tensor x;  // float32 (B, C, H, W)
  torch::Tensor y;  // int64 (B)
};

// The loader keeps a pointer to `ds`: the Dataset must outlive it.
class BatchLoader {
 public:
  BatchLoader(const Dataset& ds, int64_t batch_size, bool shuffle, bool drop_last, AugmentSpec aug, uint64_t seed);

  int64_t num_batches() const;
  int64_t batch_size() const { return batch_size_; }
  int64_t num_examples() const { return ds_->size(); }
  void set_epoch(int64_t epoch);
  int64_t epoch() const { return epoch_; }
  // Data parallel: rank r of w takes the r-th contiguous slice of every global batch.
  void set_shard(int rank, int world);
  // Batch i of the current epoch, on the dataset's device.
  Batch batch(int64_t i) const;
  // Dataset indices (int64) of this rank's slice of batch i, in batch order.
  torch::Tensor indices(int64_t i) const;
  // [begin, end) of this rank's slice within global batch i (before slicing, batch i has
  // min(batch_size, N - i*batch_size) examples).
  std::pair<int64_t, int64_t> shard_range(int64_t i) const;

 private:
  const Dataset* ds_;
  int64_t batch_size_;
  bool shuffle_, drop_last_;
  AugmentSpec aug_;
  uint64_t seed_;
  int64_t epoch_ = 0;
  int rank_ = 0, world_ = 1;
  torch::Tensor order_;  // int64 permutation for the current epoch (CPU)
  // Dataset on a device other than the CPU: the epoch's order and augmentation choices there.
  bool on_device_ = false;
  torch::Tensor order_dev_, ops_dev_, fill_dev_;  // (N) int64, (N, 3) int64 rows (dy, dx, flip), (C)
};

}  // namespace closerlook
