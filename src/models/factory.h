// Built-in architectures from the config's [model] table.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/config.h"
#include "models/network.h"

namespace closerlook {

struct ModelSpec {
  std::string family = "vgg";         // vgg | resnet | mlp | torchscript (a user's model, docs/own_models.md)
  std::string layout = "vgg11";       // vgg11 | vgg13 | vgg16 | vgg19 (vgg); resnet8/resnet20/resnet18 (resnet); mlp (mlp)
  double width = 1.0;                 // channel multiplier (0.25 = the vgg11-w16 benchmark net)
  bool batchnorm = true;
  std::vector<int64_t> fc_hidden = {512, 512};  // hidden FC widths (paper: 4096, 4096; empty = linear head)
  double dropout = 0.0;               // before each hidden FC layer (paper: 0.5)
  double init_scale = 1.0;            // multiplies the init std of every conv/linear weight (mode E)
  // Linear weights: "paper" = N(0, 0.01) (the authors' code), "kaiming" = N(0, sqrt(2 / fan_in))
  // (a narrow FC head trains; with "paper" a [256, 256] head sits at chance for epochs).
  // Not part of arch() and, when "paper", not written into model_spec JSON (specs and hashes
  // from before the option are unchanged).
  std::string linear_init = "paper";
  std::vector<int64_t> mlp_hidden = {512, 256};
  // family "torchscript" only: the TorchScript file (absolute path; read_model_spec resolves a
  // relative one against the config file's folder) and the chosen probe points (empty = all
  // the module offers). The file holds both the architecture and the starting weights.
  std::string path;
  std::vector<std::string> probes;
  // Set from the data, not the config:
  int64_t in_channels = 1, image_size = 32, num_classes = 10;
};

// Reads the [model] table's keys (r is the reader over that table; the caller calls r.finish()).
// layout defaults per family: vgg11 / resnet8 / mlp. Keys of another family (fc_hidden or
// dropout outside vgg, mlp_hidden outside mlp, width for mlp) are rejected, not ignored.
ModelSpec read_model_spec(ConfigReader& r);
// Every field, including the data-derived ones: stored in each run's config.json as "model_spec"
// so that any checkpoint can be rebuilt without the original TOML.
nlohmann::json model_spec_to_json(const ModelSpec& spec);
ModelSpec model_spec_from_json(const nlohmann::json& j);  // Error(BadInput) on missing/bad fields
// Builds and initialises (Kaiming-normal fan-out conv, N(0, 0.01) linear, zero bias, BN 1/0),
// with torch::manual_seed(seed) for the initial weights. Family "torchscript": loads spec.path
// as a JitNetwork (models/jit_network.h) with the file's weights; the seed is not used.
// Note: torch::manual_seed(seed) reseeds the global generators (CPU and CUDA) as a side effect.
// Error(BadInput) for an invalid spec (layout of another family, width/dropout/init_scale out
// of range, image too small for the layout's pools).
NetworkPtr build_model(const ModelSpec& spec, uint64_t seed);

// The arch() string of the network build_model(spec, ...) would return (validates the spec).
std::string model_arch(const ModelSpec& spec);

}  // namespace closerlook
