// Data-parallel training over a Communicator (LibTorch's C++ API has no DistributedDataParallel):
//   start   parameters and buffers broadcast from rank 0; every rank checks that all start at
//           the same iteration (a resume needs the run folder on a filesystem all ranks see);
//   step    each rank takes its contiguous slice of every global batch (BatchLoader::set_shard);
//           gradients are flattened into buckets and all-reduced, weighted by the slice sizes, so
//           the update is exactly the global batch's mean gradient (up to float summation order);
//   state   floating buffers (BN running statistics) averaged before evaluation and checkpoints;
//   files   only rank 0 writes (see train/trainer.h).
// `closerlook train` uses this automatically when the launcher's environment says WORLD_SIZE > 1.
//
// Not coordinated: SIGINT/SIGTERM reach ranks at different steps, so the signalled rank stops and
// the others fail with a communication error; rerun to resume from the last epoch's state.
#pragma once
#include <cstdint>
#include <memory>

#include "dist/communicator.h"
#include "train/trainer.h"

namespace closerlook {

// Every parameter and buffer of `net` takes `root`'s values.
void broadcast_network(Communicator& comm, Network& net, int root = 0);

// Floating-point buffers (BN running_mean/var) become their mean over ranks; integer buffers
// (num_batches_tracked) are identical on all ranks and left alone.
void average_buffers(Communicator& comm, Network& net);

struct DataParallelOptions {
  int64_t bucket_bytes = 8 << 20;  // gradients per all-reduce call (all buckets are in flight together)
};

class DataParallel : public DataParallelHooks {
 public:
  explicit DataParallel(Communicator& comm, DataParallelOptions opts = {});
  int rank() const override { return comm_.rank(); }
  int world() const override { return comm_.size(); }
  void on_start(Network& net, int64_t start_iter) override;
  torch::Tensor reduce_gradients(Network& net, const torch::Tensor& local_loss, int64_t local_examples) override;
  void sync_state(Network& net) override { average_buffers(comm_, net); }
  int64_t steps_reduced() const { return steps_; }

 private:
  Communicator& comm_;
  DataParallelOptions opts_;
  int64_t steps_ = 0;
};

// A communicator from the environment plus its DataParallel driver, for `closerlook train`.
// Null when the environment describes one process.
struct DataParallelSession {
  std::unique_ptr<Communicator> comm;
  std::unique_ptr<DataParallel> driver;
};
std::unique_ptr<DataParallelSession> data_parallel_from_env();

}  // namespace closerlook
