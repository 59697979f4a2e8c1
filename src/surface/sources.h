// Where the surface tools get their inputs: checkpoints inside run folders (train/run_dir.h)
// and the data of the run they come from (train/run_data.h: the [data] table of
// <run>/config.json's "config" tree, overridable with "data.key=value" assignments).
#pragma once
#include <string>
#include <vector>

#include "models/network.h"
#include "train/run_data.h"

namespace closerlook {

// Loads checkpoints (load_network) and checks that they share one architecture; Error(BadInput)
// names the first mismatching pair.
std::vector<NetworkPtr> load_checkpoints(const std::vector<std::string>& paths, torch::Device device);

}  // namespace closerlook
