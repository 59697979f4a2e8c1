#include "models/probed_module.h"

namespace closerlook {

torch::Tensor forward_chain(torch::nn::Sequential& seq, const std::vector<std::string>& probe_at, torch::Tensor x,
                            ProbeRecorder* rec) {
  size_t i = 0;
  for (auto& m : *seq) {
    x = m.forward(x);
    if (rec && !probe_at[i].empty()) probe(rec, probe_at[i], x);
    ++i;
  }
  return x;
}

void append_fc_head(torch::nn::Sequential& seq, std::vector<std::string>& probe_at, std::vector<std::string>& names,
                    int64_t in, const std::vector<int64_t>& hidden, double dropout, bool batchnorm, int64_t num_classes) {
  namespace nn = torch::nn;
  int64_t fc = 0;
  for (int64_t h : hidden) {
    if (dropout > 0) {
      seq->push_back(nn::Dropout(dropout));
      probe_at.push_back("");
    }
    seq->push_back(nn::Linear(in, h));
    probe_at.push_back("");
    if (batchnorm) {
      seq->push_back(nn::BatchNorm1d(h));
      probe_at.push_back("");
    }
    seq->push_back(nn::ReLU(nn::ReLUOptions(/*inplace=*/true)));
    probe_at.push_back("fc" + std::to_string(++fc));
    names.push_back(probe_at.back());
    in = h;
  }
  seq->push_back(nn::Linear(in, num_classes));
  probe_at.push_back("logits");
  names.push_back("logits");
}

}  // namespace closerlook
