#include "models/init.h"

#include <cmath>

#include "core/error.h"

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

LinearInit parse_linear_init(const std::string& s) {
  if (s == "paper") return LinearInit::Paper;
  if (s == "kaiming") return LinearInit::Kaiming;
  throw_bad_input("model.linear_init: unknown value '" + s + "' (expected paper or kaiming)");
}

std::string to_string(LinearInit v) { return v == LinearInit::Kaiming ? "kaiming" : "paper"; }

void init_weights(torch::nn::Module& module, double init_scale, LinearInit linear) {
  torch::NoGradGuard no_grad;
  for (const auto& child : module.modules(/*include_self=*/true)) {
    torch::nn::Module& m = *child;
    if (auto* conv = dynamic_cast<torch::nn::Conv2dImpl*>(&m)) {
      const auto k = conv->options.kernel_size();
      const double fan_out = static_cast<double>((*k)[0] * (*k)[1] * conv->options.out_channels());
      conv->weight.normal_(0.0, std::sqrt(2.0 / fan_out) * init_scale);
      if (conv->bias.defined()) conv->bias.zero_();
    } else if (auto* lin = dynamic_cast<torch::nn::LinearImpl*>(&m)) {
      const double fan_in = static_cast<double>(lin->options.in_features());
      const double std = linear == LinearInit::Kaiming ? std::sqrt(2.0 / fan_in) : 0.01;
      lin->weight.normal_(0.0, std * init_scale);
      if (lin->bias.defined()) lin->bias.zero_();
    } else if (reset_batchnorm<torch::nn::BatchNorm2dImpl>(m) || reset_batchnorm<torch::nn::BatchNorm1dImpl>(m)) {
    }
  }
}

}  // namespace closerlook
