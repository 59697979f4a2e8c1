// Optimizers from the [train] table, with one param group per list of tensors (the trainer uses
// group 0 for trainable and group 1 for temporarily frozen parameters), plus per-group lr control.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <vector>

#include "train/train_spec.h"

namespace closerlook {

// SGD (momentum, Nesterov, coupled weight decay) or Adam (coupled weight decay), lr = spec.lr.
// Empty groups are skipped; the group order of the non-empty ones is kept.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const TrainSpec& spec,
                                                        const std::vector<std::vector<torch::Tensor>>& groups);

// Sets the lr of param group `group`. LibTorch 1.13's optimizer load keeps the options the
// optimizer was built with, so the trainer sets the lr explicitly before every step.
void set_group_lr(torch::optim::Optimizer& opt, size_t group, double lr);

// Drops the gradients (rather than zeroing them): the next backward allocates fresh ones, and a
// parameter without a gradient is skipped by the optimizer (no weight decay, no momentum update).
void clear_grads(const std::vector<torch::Tensor>& params);

}  // namespace closerlook
