// <run>/checkpoints/<tag>.state.pt: what resuming needs beyond the weights file. One
// torch::serialize archive holding the optimizer state, the iteration, torch's default CPU
// generator state (dropout), a JSON progress record, and, for the rolling "last" checkpoint,
// a copy of the weights and buffers, so that resuming reads a single atomically written file
// (a kill between writing last.pt and last.state.pt cannot pair new weights with old state).
#pragma once
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <string>

#include "models/network.h"

namespace closerlook {

std::string state_path(const std::string& run_dir, const std::string& tag);

struct TrainState {
  int64_t iter = 0;
  nlohmann::json progress;  // trainer's record: checkpoints so far, seconds, last evaluation
};

// Writes atomically. `net` non-null: the weights and buffers are included.
void save_train_state(const std::string& path, const torch::optim::Optimizer& opt, Network* net, const TrainState& st);

// Restores the optimizer state (not its options), the CPU generator state, and, with `net`
// non-null, the weights and buffers (Error(BadInput) if the file has none or they do not match).
TrainState load_train_state(const std::string& path, torch::optim::Optimizer& opt, Network* net);

}  // namespace closerlook
