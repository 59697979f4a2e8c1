#include "models/mlp.h"

namespace closerlook {

Mlp::Mlp(const ModelSpec& spec) {
  namespace nn = torch::nn;
  classifier = register_module("classifier", nn::Sequential());
  int64_t in = spec.in_channels * spec.image_size * spec.image_size, fc = 0;
  for (int64_t h : spec.mlp_hidden) {
    classifier->push_back(nn::Linear(in, h));
    probe_at_.push_back("");
    if (spec.batchnorm) {
      classifier->push_back(nn::BatchNorm1d(h));
      probe_at_.push_back("");
    }
    classifier->push_back(nn::ReLU(nn::ReLUOptions(/*inplace=*/true)));
    probe_at_.push_back("fc" + std::to_string(++fc));
    names_.push_back(probe_at_.back());
    in = h;
  }
  classifier->push_back(nn::Linear(in, spec.num_classes));
  probe_at_.push_back("logits");
  names_.push_back("logits");
}

torch::Tensor Mlp::forward_probed(const torch::Tensor& input, ProbeRecorder* rec) {
  torch::Tensor x = input.flatten(1);
  size_t i = 0;
  for (auto& m : *classifier) {
    x = m.forward(x);
    if (rec && !probe_at_[i].empty()) probe(rec, probe_at_[i], x);
    ++i;
  }
  return x;
}

std::vector<std::string> Mlp::probe_names() const { return names_; }

}  // namespace closerlook
