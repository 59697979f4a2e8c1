// "The data of a run": the [data] table of a run (or curve) folder's config.json "config" tree,
// overridable with "data.key=value" assignments as given to --set. Every tool that takes a
// checkpoint inside a run folder (surface/jobs.h, similarity/jobs.h) gets its data here.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/load.h"

namespace closerlook {

// The whole "config" tree of <run_dir>/config.json with the overrides applied. Overrides must
// start with "data." (Error(BadInput) otherwise, as for a missing "config" tree).
nlohmann::json run_config_tree(const std::string& run_dir, const std::vector<std::string>& overrides = {});

// The [data] table of a run (or curve) folder with overrides applied.
DataSpec run_data_spec(const std::string& run_dir, const std::vector<std::string>& overrides = {});

// The [data] table itself (after overrides), as stored in config.json: recorded by curve folders.
nlohmann::json run_data_tree(const std::string& run_dir, const std::vector<std::string>& overrides = {});

// Loads the data of a run with overrides.
DataSplit load_run_data(const std::string& run_dir, const std::vector<std::string>& overrides = {});

// The weight decay a run trained with: [train].weight_decay (its default when absent); for a
// curve folder, the curve's weight decay.
double run_weight_decay(const std::string& run_dir);

}  // namespace closerlook
