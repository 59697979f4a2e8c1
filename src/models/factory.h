// Built-in architectures from the config's [model] table.
#pragma once
#include <cstdint>
#include <string>

#include "core/config.h"
#include "models/model_spec.h"
#include "models/network.h"

namespace closerlook {

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
