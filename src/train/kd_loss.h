// Hinton et al.'s knowledge-distillation loss:
//   alpha * T^2 * KL(softmax(z_t / T) || softmax(z_s / T)) + (1 - alpha) * CE(z_s, y),
// KL averaged over the batch. The T^2 factor keeps the soft-target gradient scale independent of T.
#pragma once
#include <torch/torch.h>

namespace closerlook {

torch::Tensor kd_loss(const torch::Tensor& student_logits, const torch::Tensor& teacher_logits,
                      const torch::Tensor& labels, double temperature, double alpha);

// KL(softmax(z_t / T) || softmax(z_s / T)), mean over the batch (no T^2 factor).
torch::Tensor kd_soft_kl(const torch::Tensor& student_logits, const torch::Tensor& teacher_logits, double temperature);

}  // namespace closerlook
