// VGG for small images (CIFAR / padded Fashion-MNIST), laid out like torchvision's VGG so that
// parameter names match a Python state_dict: features.<i> = Conv2d / BatchNorm2d / ReLU /
// MaxPool2d, then flatten (C·H·W), then classifier.<i> = [Dropout] Linear ReLU ... Linear.
#pragma once
#include <string>
#include <vector>

#include "models/probed_module.h"

namespace closerlook {

struct VggOptions {
  std::string layout = "vgg11";          // vgg11 | vgg13 | vgg16 | vgg19 (cfgs A/B/D/E)
  double width = 1.0;                    // channels = max(1, round(c * width))
  bool batchnorm = true;                 // conv -> BN -> ReLU
  std::vector<int64_t> fc_hidden = {512, 512};
  double dropout = 0.0;                  // a Dropout before each hidden Linear when > 0
  int64_t in_channels = 1, image_size = 32, num_classes = 10;
};

// The layout's channel list before the width multiplier; -1 stands for a 2x2 max-pool ("M").
// Throws Error(BadInput) for an unknown layout.
std::vector<int64_t> vgg_config(const std::string& layout);

class VggNet : public ProbedModule {
 public:
  explicit VggNet(const VggOptions& opt);
  torch::Tensor forward_probed(const torch::Tensor& x, ProbeRecorder* rec) override;
  std::vector<std::string> probe_names() const override;

  torch::nn::Sequential features{nullptr}, classifier{nullptr};

 private:
  std::vector<std::string> feature_probe_, classifier_probe_;  // probe name after module i ("" = none)
  std::vector<std::string> names_;
};

}  // namespace closerlook
