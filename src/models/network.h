// The one interface every model implements, built-in (VGG/ResNet/MLP) or loaded from
// TorchScript. Training, BN recalibration, interpolation, curves, planes and activation capture
// are written against this interface only, so no tool needs a per-architecture "twin".
#pragma once
#include <torch/torch.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace closerlook {

using NamedTensor = std::pair<std::string, torch::Tensor>;

// A BatchNorm layer's running statistics, exposed so that they can be recomputed exactly at
// any point in weight space. The tensors alias the module's buffers (in-place writes stick).
struct BatchNormHandle {
  std::string name;                 // e.g. "features.1"
  torch::Tensor running_mean;       // aliases the buffer
  torch::Tensor running_var;        // aliases the buffer
  std::function<void(double)> set_momentum;        // 1.0 = "use the last batch only"
  std::function<double()> get_momentum;            // current momentum (restore after recalibration)
};

class Network {
 public:
  virtual ~Network() = default;

  // Canonical architecture description, e.g. "vgg11 w=0.25 bn=1 fc=[128,128] in=1x32x32 classes=10".
  // Two networks with equal arch() have parameters of identical names and shapes.
  virtual std::string arch() const = 0;

  virtual torch::Tensor forward(const torch::Tensor& x) = 0;

  // Forward pass that also records the activations of the requested probe points (names from
  // probe_names(), in any order) into `acts`. Returns the logits.
  virtual torch::Tensor forward_probes(const torch::Tensor& x, const std::vector<std::string>& probes,
                                       std::map<std::string, torch::Tensor>& acts) = 0;

  // Ordered probe points: each conv block, each FC layer, the logits (built-ins);
  // user-chosen submodules for TorchScript models.
  virtual std::vector<std::string> probe_names() const = 0;

  // Stable registration order; names match the checkpoint / Python state_dict names.
  virtual std::vector<NamedTensor> named_parameters() = 0;
  virtual std::vector<NamedTensor> named_buffers() = 0;
  virtual std::vector<BatchNormHandle> batchnorms() = 0;

  virtual void train(bool on = true) = 0;
  virtual bool is_training() const = 0;
  virtual void to(torch::Device device) = 0;

  // The memory layout of the 4-D conv weights and of the 4-D activations forward() computes on:
  // at::MemoryFormat::ChannelsLast (NHWC; oneDNN/cuDNN's native layout, faster CPU training of
  // VGG-like nets) or Contiguous (NCHW, the default: core/runtime.h). A pure execution choice: names, shapes,
  // logical values, checkpoints and every tensor a caller sees are the same either way (up to
  // floating-point summation order). Networks without 4-D weights ignore it.
  virtual void set_memory_format(at::MemoryFormat /*format*/) {}
  virtual at::MemoryFormat memory_format() const { return at::MemoryFormat::Contiguous; }

  // Weights + buffers, written atomically; the file opens in Python with torch.jit.load / torch.load.
  virtual void save(const std::string& path) = 0;
  // Loads weights + buffers. A checkpoint of another architecture is an Error(BadInput).
  virtual void load(const std::string& path) = 0;

  std::vector<torch::Tensor> parameters() {
    std::vector<torch::Tensor> out;
    for (auto& p : named_parameters()) out.push_back(p.second);
    return out;
  }
  bool has_batchnorm() { return !batchnorms().empty(); }
};

using NetworkPtr = std::shared_ptr<Network>;

}  // namespace closerlook
