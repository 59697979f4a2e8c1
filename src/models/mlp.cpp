#include "models/mlp.h"

namespace closerlook {

Mlp::Mlp(const ModelSpec& spec) {
  classifier = register_module("classifier", torch::nn::Sequential());
  append_fc_head(classifier, probe_at_, names_, spec.in_channels * spec.image_size * spec.image_size, spec.mlp_hidden,
                 /*dropout=*/0.0, spec.batchnorm, spec.num_classes);
}

torch::Tensor Mlp::forward_probed(const torch::Tensor& input, ProbeRecorder* rec) {
  return forward_chain(classifier, probe_at_, input.flatten(1), rec);
}

std::vector<std::string> Mlp::probe_names() const { return names_; }

}  // namespace closerlook
