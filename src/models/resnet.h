// CIFAR ResNets with BasicBlocks, named like kuangliu/pytorch-cifar's ResNet so that parameters
// match a Python state_dict: conv1, bn1, layer<s>.<b>.{conv1,bn1,conv2,bn2,shortcut.0,shortcut.1},
// linear. resnet8 / resnet20: three stages of 1 / 3 blocks, 16/32/64 channels (He et al. 2016);
// resnet18: four stages of 2 blocks, 64/128/256/512 channels. All channels × width.
// Projection shortcuts (1x1 conv + BN) wherever the shape changes; global average pooling.
#pragma once
#include <string>
#include <vector>

#include "models/model_spec.h"
#include "models/probed_module.h"

namespace closerlook {

class BasicBlockImpl : public torch::nn::Module {
 public:
  BasicBlockImpl(int64_t in, int64_t out, int64_t stride, bool batchnorm);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
  torch::nn::Sequential shortcut{nullptr};  // empty = identity
};
TORCH_MODULE(BasicBlock);

class ResNet : public ProbedModule {
 public:
  // Uses spec's layout, width, batchnorm (without BN the convs get a bias), in_channels, num_classes.
  explicit ResNet(const ModelSpec& spec);
  torch::Tensor forward_probed(const torch::Tensor& x, ProbeRecorder* rec) override;
  std::vector<std::string> probe_names() const override;

 private:
  torch::nn::Conv2d conv1{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr};
  std::vector<torch::nn::Sequential> layers_;
  torch::nn::Linear linear{nullptr};
  std::vector<std::string> names_;
};

}  // namespace closerlook
