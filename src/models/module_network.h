// Network over a ProbedModule (the built-in VGG / ResNet / MLP). Names, order and checkpoints
// come straight from the torch::nn module tree, so they match the equivalent Python model:
//   named_parameters()/named_buffers(): registration order, dotted names ("features.0.weight",
//   "features.1.running_mean", "classifier.1.bias", ...); buffers include num_batches_tracked.
//   save(): the module as a TorchScript archive (torch.jit.load in Python) plus a string
//   attribute "closerlook_arch" holding arch(); written atomically.
//   load(): checks arch, presence and shape/dtype of every tensor before copying any of them
//   in place (so BN handles and optimizer references stay valid).
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "models/network.h"
#include "models/probed_module.h"

namespace closerlook {

class ModuleNetwork : public Network {
 public:
  // `input_shape` = {C, H, W} accepted by forward (checked, with a clear error); `accepts_flat`
  // also accepts N x (C*H*W) inputs (the MLP).
  ModuleNetwork(std::shared_ptr<ProbedModule> module, std::string arch, std::vector<int64_t> input_shape,
                bool accepts_flat);

  std::string arch() const override { return arch_; }
  torch::Tensor forward(const torch::Tensor& x) override;
  torch::Tensor forward_probes(const torch::Tensor& x, const std::vector<std::string>& probes,
                               std::map<std::string, torch::Tensor>& acts) override;
  std::vector<std::string> probe_names() const override { return module_->probe_names(); }
  std::vector<NamedTensor> named_parameters() override;
  std::vector<NamedTensor> named_buffers() override;
  // Every BatchNorm1d/2d in registration order. set_momentum(m): m in [0, 1] is PyTorch's
  // momentum; m < 0 selects a cumulative average (momentum=None), for which get_momentum() = -1.
  std::vector<BatchNormHandle> batchnorms() override;
  void train(bool on = true) override { module_->train(on); }
  bool is_training() const override { return module_->is_training(); }
  void to(torch::Device device) override;
  // Converts every 4-D parameter in place (set_data: references held by optimizers stay valid)
  // and, from now on, 4-D inputs of forward(); the MLP (no 4-D weights) stays as it is.
  // Channels-last is refused on CPU (the network stays contiguous, memory_format() says so) for
  // networks with a strided 1x1 convolution (ResNet shortcuts): a oneDNN bug, module_network.cpp.
  void set_memory_format(at::MemoryFormat format) override;
  at::MemoryFormat memory_format() const override { return format_; }
  void save(const std::string& path) override;
  void load(const std::string& path) override;

  torch::nn::Module& module() { return *module_; }
  torch::Device device() const { return device_; }

 private:
  void check_input(const torch::Tensor& x) const;
  torch::Tensor in_layout(const torch::Tensor& x) const;
  void convert_parameters(at::MemoryFormat format);
  std::string channels_last_hazard() const;

  std::shared_ptr<ProbedModule> module_;
  std::string arch_;
  std::vector<int64_t> input_shape_;
  bool accepts_flat_;
  torch::Device device_ = torch::kCPU;
  at::MemoryFormat format_ = at::MemoryFormat::Contiguous;
};

// The key under which save() stores arch() in the checkpoint.
inline constexpr const char* kArchKey = "closerlook_arch";

}  // namespace closerlook
