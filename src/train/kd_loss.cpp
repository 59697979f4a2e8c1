#include "train/kd_loss.h"

namespace closerlook {

torch::Tensor kd_soft_kl(const torch::Tensor& zs, const torch::Tensor& zt, double T) {
  auto log_ps = torch::log_softmax(zs / T, 1);
  auto log_pt = torch::log_softmax(zt.detach() / T, 1);
  // sum_c p_t (log p_t - log p_s); written with exp(log p_t) so p_t = 0 contributes exactly 0.
  return (log_pt.exp() * (log_pt - log_ps)).sum(1).mean();
}

torch::Tensor kd_loss(const torch::Tensor& zs, const torch::Tensor& zt, const torch::Tensor& y, double T, double alpha) {
  auto ce = torch::nn::functional::cross_entropy(zs, y);
  if (alpha == 0.0) return ce;
  return alpha * T * T * kd_soft_kl(zs, zt, T) + (1.0 - alpha) * ce;
}

}  // namespace closerlook
