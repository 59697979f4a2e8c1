// Helpers shared by the models tests.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

#include "models/factory.h"

namespace closerlook::testing {

inline ModelSpec vgg_spec(const std::string& layout = "vgg11", double width = 0.25, bool bn = true,
                          std::vector<int64_t> fc = {128, 128}) {
  ModelSpec s;
  s.family = "vgg";
  s.layout = layout;
  s.width = width;
  s.batchnorm = bn;
  s.fc_hidden = std::move(fc);
  return s;
}

inline ModelSpec resnet_spec(const std::string& layout = "resnet8", double width = 0.5, bool bn = true) {
  ModelSpec s;
  s.family = "resnet";
  s.layout = layout;
  s.width = width;
  s.batchnorm = bn;
  s.in_channels = 3;
  return s;
}

inline ModelSpec mlp_spec(std::vector<int64_t> hidden = {32, 16}, bool bn = false) {
  ModelSpec s;
  s.family = "mlp";
  s.layout = "mlp";
  s.mlp_hidden = std::move(hidden);
  s.batchnorm = bn;
  s.image_size = 8;
  return s;
}

inline torch::Tensor input_for(const ModelSpec& s, int64_t batch, uint64_t seed = 7) {
  auto gen = at::detail::createCPUGenerator(seed);
  return at::randn({batch, s.in_channels, s.image_size, s.image_size}, gen);
}

inline std::string temp_path(const std::string& name) {
  return std::string(CL_BINARY_DIR) + "/test_models_tmp/" + name;
}

}  // namespace closerlook::testing
