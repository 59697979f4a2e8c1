// Importing a TorchScript model saved from Python as a run folder (train/run_dir.h), so that every
// tool that takes <run>/checkpoints/<tag>.pt (interpolate, connect, plane, activations,
// similarity-map, train.init_from / teacher) takes it too (docs/own_models.md):
//   <out>/model.pt                a copy of the model file (the architecture the run refers to)
//   <out>/config.json             {"config": {"seed", "data", "model"}, "source", "model_spec" (family
//                                 "torchscript", path = <out>/model.pt), "runtime", "config_hash"}
//   <out>/checkpoints/final.pt    the model's weights (JitNetwork::save)
//   <out>/summary.json            status "completed", imported: true, test loss/accuracy
// The config hash covers the config tree and the model file's bytes: importing the same model and
// data again is a no-op; another model or data into a used folder is an error.
#pragma once
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace closerlook {

struct ImportModelJob {
  std::string model;                        // TorchScript file (torch.jit.script(model).save(path))
  std::string out_dir;                      // the run folder to create
  std::string config;                       // TOML file whose [data] table describes the data ("" = none)
  std::vector<std::string> data_overrides;  // "data.key=value" (data.* keys only)
  std::vector<std::string> probes;          // submodule paths (empty = every probe point)
  torch::Device device = torch::kCPU;       // where the test set is evaluated
};

// Returns the run's summary.json (the one already there when the folder holds this import).
nlohmann::json run_import_model(const ImportModelJob& job);

}  // namespace closerlook
