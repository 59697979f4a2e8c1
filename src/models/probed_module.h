// A torch::nn::Module whose forward pass can record named intermediate activations ("probe
// points"). Every built-in architecture derives from it, and ModuleNetwork adapts it to the
// Network interface, so checkpoints, BN handles and parameter names come from the module tree.
#pragma once
#include <torch/torch.h>

#include <map>
#include <set>
#include <string>
#include <vector>

namespace closerlook {

// Collects the activations a caller asked for; forward passes call record() at every probe
// point and it keeps only the wanted ones. Recorded tensors are not detached (a caller that
// trains through them, e.g. a hint loss, keeps the graph; others should run under NoGradGuard).
class ProbeRecorder {
 public:
  ProbeRecorder(const std::vector<std::string>& wanted, std::map<std::string, torch::Tensor>& out)
      : wanted_(wanted.begin(), wanted.end()), out_(out) {}
  void record(const std::string& name, const torch::Tensor& t) {
    if (wanted_.count(name)) out_[name] = t;
  }

 private:
  std::set<std::string> wanted_;
  std::map<std::string, torch::Tensor>& out_;
};

// Records `t` under `name` when a recorder is present (forward() passes nullptr).
inline void probe(ProbeRecorder* rec, const std::string& name, const torch::Tensor& t) {
  if (rec) rec->record(name, t);
}

// Runs the chain `seq`, recording the output of module i under probe_at[i] when that is not "".
torch::Tensor forward_chain(torch::nn::Sequential& seq, const std::vector<std::string>& probe_at, torch::Tensor x,
                            ProbeRecorder* rec);

// The FC head of VGG's classifier and of the MLP, appended to `seq`: per hidden width
// [Dropout(dropout) when > 0] Linear [BatchNorm1d when batchnorm] ReLU, probe "fc<k>" after the
// ReLU; then Linear to num_classes, probe "logits". probe_at gets one entry per module (see
// forward_chain), names the probe names in order.
void append_fc_head(torch::nn::Sequential& seq, std::vector<std::string>& probe_at, std::vector<std::string>& names,
                    int64_t in, const std::vector<int64_t>& hidden, double dropout, bool batchnorm, int64_t num_classes);

class ProbedModule : public torch::nn::Module {
 public:
  // Returns the logits; records probe points into `rec` when it is not null.
  virtual torch::Tensor forward_probed(const torch::Tensor& x, ProbeRecorder* rec) = 0;
  // Probe names in the order the forward pass reaches them.
  virtual std::vector<std::string> probe_names() const = 0;
};

}  // namespace closerlook
