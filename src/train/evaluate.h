// Loss and accuracy of a network on a dataset, in eval mode, without augmentation.
#pragma once
#include <torch/torch.h>

#include "data/dataset.h"
#include "models/network.h"

namespace closerlook {

struct EvalResult {
  double loss = 0;      // mean cross-entropy (nats)
  double accuracy = 0;  // fraction correct in [0, 1]
  double error() const { return 1.0 - accuracy; }
  int64_t n = 0;
};

// Evaluates examples [0, limit) of `ds` (limit <= 0: all) in batches. Restores the network's
// train/eval mode afterwards. Runs under InferenceMode.
EvalResult evaluate(Network& net, const Dataset& ds, torch::Device device, int64_t batch_size = 1000,
                    int64_t limit = 0);

}  // namespace closerlook
