// Study 3 (warmup): where a large batch without warmup changes the network, and FC freezing.
#pragma once
#include <limits>
#include <string>
#include <vector>

#include "studies/claim_check.h"

namespace closerlook {

// ---- Study 3: warmup -----------------------------------------------------------------------
struct WarmupRun {
  std::string name;                  // "small-batch", "large-batch", "large-batch+warmup", "large-batch+fc-freeze"
  std::vector<std::string> layers;
  std::vector<double> similarity;    // per layer: iteration 0 vs end of the warmup window
  double final_test_acc = 0;
};
// Without warmup the deep (last `deep_layers`) layers change much more over the warmup window than
// with warmup or with a small batch.
ClaimCheck check_warmup_deep_layers(const std::vector<WarmupRun>& runs, int deep_layers, double margin = 0.05);
// Freezing the FC layers over the window recovers most of warmup's benefit.
ClaimCheck check_fc_freeze(const std::vector<WarmupRun>& runs);

}  // namespace closerlook
