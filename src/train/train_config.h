// A whole training config: top-level `seed`, [data], [model], [train]. Every table is validated
// with ConfigReader::finish(), so a typo, a wrong type or an out-of-range value is an
// Error(BadInput) naming the file, the key and the value.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/load.h"
#include "models/factory.h"
#include "train/train_spec.h"

namespace closerlook {

struct TrainConfig {
  nlohmann::json tree;   // the config as given (after --set overrides): stored and hashed
  std::string source;    // file name for messages
  uint64_t seed = 0;
  DataSpec data;
  ModelSpec model;       // data-derived fields are filled in by run_training
  TrainSpec train;
  std::string hash() const;  // content_hash of tree.dump()
};

TrainConfig read_train_config(const nlohmann::json& tree, const std::string& source);
// Reads a TOML file and applies "a.b=v" overrides before validating.
TrainConfig load_train_config(const std::string& path, const std::vector<std::string>& overrides = {});

}  // namespace closerlook
