// The collective operations closerlook needs across processes, behind one small interface:
// a Local communicator (one process: every operation is the identity) and a Gloo one
// (c10d::ProcessGroupGloo over TCP, see gloo_communicator.h). Every rank must call the same
// operations in the same order with tensors of the same shape and dtype (as in MPI).
//
// Failure model: a peer that dies or stops answering makes the operation throw
// closerlook::Error(ExitCode::Io) naming the operation, this rank and the timeout, instead of
// hanging. After such an error the communicator is unusable (every later call throws).
#pragma once
#include <torch/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace closerlook {

enum class ReduceKind { Sum, Max, Min };

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  bool is_root() const { return rank() == 0; }
  // "local" or "gloo rank 1/4 via 10.0.0.1:29500".
  virtual std::string describe() const = 0;

  // In place over all ranks (CPU tensor, any floating or integer dtype; made contiguous by the caller).
  virtual void allreduce_(torch::Tensor& t, ReduceKind op = ReduceKind::Sum) = 0;
  // Several tensors in one call: the Gloo implementation starts them all, then waits (fewer round trips).
  virtual void allreduce_many_(std::vector<torch::Tensor>& ts, ReduceKind op = ReduceKind::Sum);
  // In place: every rank gets root's values.
  virtual void broadcast_(torch::Tensor& t, int root = 0) = 0;
  // Returns when every rank has called it (bounded by the operation timeout).
  virtual void barrier() = 0;
  // Like barrier(), but for ranks that arrive after long independent work (analysis shards):
  // bounded by the longer wait timeout (a dead peer is still detected when its connection drops).
  virtual void wait_for_all() = 0;
  // Every rank's tensor, in rank order. Shapes and dtypes must agree on all ranks.
  virtual std::vector<torch::Tensor> allgather(const torch::Tensor& t) = 0;

  // Variable-size byte strings (e.g. JSON, serialised tensors), in rank order: sizes first, then
  // the blobs padded to the largest.
  std::vector<std::string> allgather_blobs(const std::string& blob);
  // Tensors of any shape (same dtype on all ranks), in rank order.
  std::vector<torch::Tensor> allgather_any(const torch::Tensor& t);
};

// One process: rank 0 of 1.
std::unique_ptr<Communicator> make_local_communicator();

}  // namespace closerlook
