#include "train/optimizer.h"

#include "core/error.h"

namespace closerlook {

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const TrainSpec& t,
                                                        const std::vector<std::vector<torch::Tensor>>& groups) {
  std::vector<torch::optim::OptimizerParamGroup> pg;
  if (t.optimizer == "sgd") {
    auto o = torch::optim::SGDOptions(t.lr).momentum(t.momentum).nesterov(t.nesterov).weight_decay(t.weight_decay);
    for (const auto& g : groups)
      if (!g.empty()) pg.emplace_back(g, std::make_unique<torch::optim::SGDOptions>(o));
    return std::make_unique<torch::optim::SGD>(pg, o);
  }
  if (t.optimizer == "adam") {
    auto o = torch::optim::AdamOptions(t.lr)
                 .betas(std::make_tuple(t.adam_beta1, t.adam_beta2))
                 .eps(t.adam_eps)
                 .weight_decay(t.weight_decay);
    for (const auto& g : groups)
      if (!g.empty()) pg.emplace_back(g, std::make_unique<torch::optim::AdamOptions>(o));
    return std::make_unique<torch::optim::Adam>(pg, o);
  }
  throw_bad_input("unknown optimizer '" + t.optimizer + "' (expected sgd or adam)");
}

void set_group_lr(torch::optim::Optimizer& opt, size_t group, double lr) {
  opt.param_groups().at(group).options().set_lr(lr);
}

void clear_grads(const std::vector<torch::Tensor>& params) {
  for (const auto& p : params)
    if (p.grad().defined()) p.mutable_grad() = torch::Tensor();
}

}  // namespace closerlook
