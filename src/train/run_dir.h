// The run folder contract shared by every tool:
//   <run>/config.json     {"config": resolved config tree, "model_spec": {...}, "runtime": {...},
//                          "config_hash": "..."}
//   <run>/metrics.jsonl   one JSON object per epoch
//   <run>/summary.json    final metrics and "status": "completed" | "diverged" | "interrupted"
//   <run>/checkpoints/<tag>.pt        model weights + buffers (Network::save; opens in Python)
//   <run>/checkpoints/<tag>.state.pt  optimizer, schedule position, RNG (resume only)
// Tags: "init" (iteration 0), "epoch-<E>", "iter-<I>", "sgdr-cycle-<K>", "final", "last" (rolling).
#pragma once
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <string>

#include "models/factory.h"

namespace closerlook {

std::string checkpoint_path(const std::string& run_dir, const std::string& tag);
// <run> for <run>/checkpoints/<tag>.pt. Error(BadInput) if the layout does not match.
std::string run_dir_of_checkpoint(const std::string& ckpt_path);
nlohmann::json read_run_config(const std::string& run_dir);  // the whole config.json
ModelSpec run_model_spec(const std::string& run_dir);
// Rebuilds the network of the checkpoint's run and loads the checkpoint's weights.
NetworkPtr load_network(const std::string& ckpt_path, torch::Device device);

}  // namespace closerlook
