// A multi-layer perceptron over the flattened image: classifier.<i> = Linear [BatchNorm1d] ReLU
// ... Linear (names as a Python nn.Sequential registered as "classifier").
#pragma once
#include <string>
#include <vector>

#include "models/model_spec.h"
#include "models/probed_module.h"

namespace closerlook {

class Mlp : public ProbedModule {
 public:
  // Uses spec's mlp_hidden, batchnorm (Linear -> BatchNorm1d -> ReLU), in_channels * image_size^2
  // inputs and num_classes.
  explicit Mlp(const ModelSpec& spec);
  torch::Tensor forward_probed(const torch::Tensor& x, ProbeRecorder* rec) override;
  std::vector<std::string> probe_names() const override;

  torch::nn::Sequential classifier{nullptr};

 private:
  std::vector<std::string> probe_at_;  // probe name after module i ("" = none)
  std::vector<std::string> names_;
};

}  // namespace closerlook
