// Where the surface tools get their inputs: checkpoints inside run folders (train/run_dir.h)
// and the data of the run they come from (the [data] table of <run>/config.json's "config"
// tree, overridable with "data.key=value" assignments as given to --set).
#pragma once
#include <string>
#include <vector>

#include "data/load.h"
#include "models/network.h"

namespace closerlook {

// The [data] table of a run (or curve) folder with overrides applied. Overrides must start with
// "data." (Error(BadInput) otherwise).
DataSpec run_data_spec(const std::string& run_dir, const std::vector<std::string>& overrides = {});

// The [data] table itself (after overrides), as stored in config.json: recorded by curve folders.
nlohmann::json run_data_tree(const std::string& run_dir, const std::vector<std::string>& overrides = {});

// The weight decay a run trained with: [train].weight_decay (its default when absent); for a
// curve folder, the curve's weight decay.
double run_weight_decay(const std::string& run_dir);

// Loads checkpoints (load_network) and checks that they share one architecture; Error(BadInput)
// names the first mismatching pair.
std::vector<NetworkPtr> load_checkpoints(const std::vector<std::string>& paths, torch::Device device);

// Loads the data of a run with overrides.
DataSplit load_run_data(const std::string& run_dir, const std::vector<std::string>& overrides = {});

}  // namespace closerlook
