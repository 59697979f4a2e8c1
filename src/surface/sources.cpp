#include "surface/sources.h"

#include "surface/weights.h"
#include "train/run_dir.h"

namespace closerlook {

std::vector<NetworkPtr> load_checkpoints(const std::vector<std::string>& paths, torch::Device device) {
  std::vector<NetworkPtr> nets;
  for (const auto& p : paths) {
    nets.push_back(load_network(p, device));
    if (nets.size() > 1) require_same_architecture(*nets.front(), *nets.back(), paths.front(), p);
  }
  return nets;
}

}  // namespace closerlook
