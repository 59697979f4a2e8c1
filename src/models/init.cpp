#include "models/init.h"

#include <cmath>

namespace closerlook {

namespace {
template <class BN>
bool reset_batchnorm(torch::nn::Module& m) {
  auto* bn = dynamic_cast<BN*>(&m);
  if (!bn) return false;
  if (bn->weight.defined()) bn->weight.fill_(1.0);
  if (bn->bias.defined()) bn->bias.zero_();
  if (bn->options.track_running_stats()) bn->reset_running_stats();
  return true;
}
}  // namespace

void init_weights(torch::nn::Module& module, double init_scale) {
  torch::NoGradGuard no_grad;
  for (const auto& child : module.modules(/*include_self=*/true)) {
    torch::nn::Module& m = *child;
    if (auto* conv = dynamic_cast<torch::nn::Conv2dImpl*>(&m)) {
      const auto k = conv->options.kernel_size();
      const double fan_out = static_cast<double>((*k)[0] * (*k)[1] * conv->options.out_channels());
      conv->weight.normal_(0.0, std::sqrt(2.0 / fan_out) * init_scale);
      if (conv->bias.defined()) conv->bias.zero_();
    } else if (auto* lin = dynamic_cast<torch::nn::LinearImpl*>(&m)) {
      lin->weight.normal_(0.0, 0.01 * init_scale);
      if (lin->bias.defined()) lin->bias.zero_();
    } else if (reset_batchnorm<torch::nn::BatchNorm2dImpl>(m) || reset_batchnorm<torch::nn::BatchNorm1dImpl>(m)) {
    }
  }
}

}  // namespace closerlook
