// A multi-layer perceptron over the flattened image: classifier.<i> = Linear [BatchNorm1d] ReLU
// ... Linear (names as a Python nn.Sequential registered as "classifier").
#pragma once
#include <string>
#include <vector>

#include "models/probed_module.h"

namespace closerlook {

struct MlpOptions {
  std::vector<int64_t> hidden = {512, 256};
  bool batchnorm = false;                // Linear -> BatchNorm1d -> ReLU when on
  int64_t in_features = 1024, num_classes = 10;
};

class Mlp : public ProbedModule {
 public:
  explicit Mlp(const MlpOptions& opt);
  torch::Tensor forward_probed(const torch::Tensor& x, ProbeRecorder* rec) override;
  std::vector<std::string> probe_names() const override;

  torch::nn::Sequential classifier{nullptr};

 private:
  std::vector<std::string> probe_at_;  // probe name after module i ("" = none)
  std::vector<std::string> names_;
};

}  // namespace closerlook
