// VGG for small images (CIFAR / padded Fashion-MNIST), laid out like torchvision's VGG so that
// parameter names match a Python state_dict: features.<i> = Conv2d / BatchNorm2d / ReLU /
// MaxPool2d, then flatten (C·H·W), then classifier.<i> = [Dropout] Linear ReLU ... Linear.
#pragma once
#include <string>
#include <vector>

#include "models/model_spec.h"
#include "models/probed_module.h"

namespace closerlook {

// The layout's channel list before the width multiplier; -1 stands for a 2x2 max-pool ("M").
// Throws Error(BadInput) for an unknown layout.
std::vector<int64_t> vgg_config(const std::string& layout);

class VggNet : public ProbedModule {
 public:
  // Uses spec's layout, width, batchnorm, fc_hidden, dropout, in_channels, image_size, num_classes.
  explicit VggNet(const ModelSpec& spec);
  torch::Tensor forward_probed(const torch::Tensor& x, ProbeRecorder* rec) override;
  std::vector<std::string> probe_names() const override;

  torch::nn::Sequential features{nullptr}, classifier{nullptr};

 private:
  std::vector<std::string> feature_probe_, classifier_probe_;  // probe name after module i ("" = none)
  std::vector<std::string> names_;
};

}  // namespace closerlook
