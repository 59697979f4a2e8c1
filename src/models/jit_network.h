// Network over a TorchScript module saved from Python (torch.jit.script or torch.jit.trace, then
// .save()), so that every tool (training/fine-tuning, BN recalibration, interpolation, curves,
// planes, activation capture) takes a user's own PyTorch model. See docs/own_models.md.
//
//   named_parameters()/named_buffers(): the module's own, in registration order, with Python's
//     state_dict names ("features.0.weight", "features.1.running_mean", ...).
//   batchnorms(): every submodule whose type is a BatchNorm (running_mean/running_var tensors
//     and a num_batches_tracked counter). Scripted nn.BatchNorm* bake `momentum` into the code
//     as a constant, so it cannot be set; set_momentum(m) then makes the next train-mode
//     forward passes apply momentum m themselves: the buffers are zeroed before the pass, the
//     module's own update (factor f = its momentum, or 1/num_batches_tracked for momentum=None)
//     leaves f * batch statistic in them, which is divided by f and blended as
//     (1 - m) * old + m * batch. Exact up to one float rounding. A BN layer that does not
//     update its statistics in train mode (a traced module, whose train/eval behaviour is
//     frozen at trace time) is an Error.
//   Probe points: a submodule path "a.b" whose forward the model calls exactly once, outside
//     control flow (found in the TorchScript graphs: any scripted or traced module, including
//     nn.Sequential chains and custom forward methods), plus "logits" (the output). Or, when
//     the module has a scripted method `probes(self, x) -> Dict[str, Tensor]`, that method's keys
//     (plus "logits": the dict's "logits" entry if it has one, else forward(x)).
//   save(): the TorchScript module with the current weights (torch.jit.load in Python), written
//     atomically, with arch() stored as the extra file "closerlook_arch".
//   load(): any TorchScript file (a JitNetwork checkpoint or the original model) whose parameter
//     and buffer names, shapes and dtypes equal this network's; copied in place.
#pragma once
#include <torch/script.h>
#include <torch/torch.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "models/model_spec.h"
#include "models/network.h"

namespace closerlook {

class JitNetwork : public Network {
 public:
  // A family "torchscript" spec: spec.path (architecture and initial weights), spec.probes (the
  // chosen probe points; empty = every available one), input {in_channels, image_size,
  // image_size} (checked on every forward) and num_classes (the output must be N x num_classes).
  // Loads the file (Error(Io) if missing, Error(BadInput) if it is not TorchScript, has
  // non-float32 floating tensors, gives no N x num_classes tensor on a zero batch, or a chosen
  // probe is not available). The network starts in training mode on the CPU.
  explicit JitNetwork(const ModelSpec& spec);

  std::string arch() const override { return arch_; }
  torch::Tensor forward(const torch::Tensor& x) override;
  torch::Tensor forward_probes(const torch::Tensor& x, const std::vector<std::string>& probes,
                               std::map<std::string, torch::Tensor>& acts) override;
  std::vector<std::string> probe_names() const override { return probes_; }
  std::vector<NamedTensor> named_parameters() override;
  std::vector<NamedTensor> named_buffers() override;
  std::vector<BatchNormHandle> batchnorms() override;
  void train(bool on = true) override { module_.train(on); }
  bool is_training() const override { return module_.is_training(); }
  void to(torch::Device device) override;
  void save(const std::string& path) override;
  void load(const std::string& path) override;

  // Every probe point the module offers (probe_names() is the chosen subset, in this order).
  const std::vector<std::string>& available_probes() const { return available_; }
  const ModelSpec& spec() const { return spec_; }
  torch::jit::Module& module() { return module_; }

 private:
  struct BnState;
  struct ProbeGraph;

  void check_input(const torch::Tensor& x) const;
  torch::Tensor to_logits(const c10::IValue& out, const char* what) const;
  // Runs `pass` with the momentum emulation of overridden BN layers around it (train mode only).
  c10::IValue run_with_bn_update(const std::function<c10::IValue()>& pass);
  std::shared_ptr<ProbeGraph> probe_graph(const std::vector<std::string>& probes);

  ModelSpec spec_;
  std::vector<int64_t> input_shape_;  // {C, H, W}
  torch::jit::Module module_;
  std::string arch_;
  bool has_probes_method_ = false;
  std::vector<std::string> available_, probes_;
  std::vector<std::shared_ptr<BnState>> bns_;
  std::map<std::string, std::shared_ptr<ProbeGraph>> probe_graphs_;  // by joined probe list
  torch::Device device_ = torch::kCPU;
};

// arch() of the TorchScript module in `path` for data of shape {C, H, W} and `num_classes`:
// "torchscript <class> params=<count> sig=<hash of tensor names, shapes, dtypes> in=CxHxW classes=K".
// The path is not part of it, so two files of one architecture (two seeds) are interchangeable.
std::string jit_model_arch(const ModelSpec& spec);

// The extra file of a saved JitNetwork that holds its arch().
inline constexpr const char* kJitArchFile = "closerlook_arch";

}  // namespace closerlook
