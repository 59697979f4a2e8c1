// Loss and accuracy of a network on a dataset, in eval mode, without augmentation.
#pragma once
#include <torch/torch.h>

#include <optional>

#include "data/dataset.h"
#include "models/network.h"

namespace closerlook {

struct EvalResult {
  double loss = 0;      // mean cross-entropy (nats)
  double accuracy = 0;  // fraction correct in [0, 1]
  double error() const { return 1.0 - accuracy; }
  int64_t n = 0;
};

// Sums of one evaluation, still on the device (not yet read).
struct EvalSums {
  torch::Tensor loss_sum;  // float64 scalar: summed cross-entropy
  torch::Tensor correct;   // int64 scalar: examples whose argmax is the label
  int64_t n = 0;
};

// The evaluation loop: examples [0, n) of (images, labels) in batches of `batch_size`, each moved
// to `device` (a no-op where they already are), forwarded in the network's current mode, under
// InferenceMode. Cross-entropy (of the logits cast to `logits_dtype` when given) and correct
// counts are summed on the device: the same additions in the same order as summing the batches'
// values on the host, with no host synchronisation.
EvalSums evaluate_sums(Network& net, const torch::Tensor& images, const torch::Tensor& labels, int64_t n,
                       torch::Device device, int64_t batch_size,
                       std::optional<torch::ScalarType> logits_dtype = std::nullopt);

// Evaluates examples [0, limit) of `ds` (limit <= 0: all) in batches. Restores the network's
// train/eval mode afterwards. Runs under InferenceMode; one host read.
EvalResult evaluate(Network& net, const Dataset& ds, torch::Device device, int64_t batch_size = 1000,
                    int64_t limit = 0);

}  // namespace closerlook
