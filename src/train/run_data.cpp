#include "train/run_data.h"

#include "core/config.h"
#include "core/error.h"
#include "train/run_dir.h"
#include "train/train_spec.h"

namespace closerlook {

nlohmann::json run_config_tree(const std::string& run_dir, const std::vector<std::string>& overrides) {
  auto cfg = read_run_config(run_dir);
  if (!cfg.contains("config") || !cfg["config"].is_object())
    throw_bad_input(run_dir + "/config.json: no 'config' tree");
  nlohmann::json tree = cfg["config"];
  for (const auto& o : overrides) {
    if (o.rfind("data.", 0) != 0)
      throw_bad_input("--set " + o + ": only data.* keys can be overridden here (e.g. data.train_subset=10000)");
    apply_override(tree, o);
  }
  return tree;
}

nlohmann::json run_data_tree(const std::string& run_dir, const std::vector<std::string>& overrides) {
  auto tree = run_config_tree(run_dir, overrides);
  return tree.contains("data") ? tree["data"] : nlohmann::json::object();
}

DataSpec run_data_spec(const std::string& run_dir, const std::vector<std::string>& overrides) {
  auto tree = run_config_tree(run_dir, overrides);
  ConfigReader root(tree, run_dir + "/config.json");
  ConfigReader data = root.section("data");
  return read_data_spec(data);
}

DataSplit load_run_data(const std::string& run_dir, const std::vector<std::string>& overrides) {
  return load_data(run_data_spec(run_dir, overrides));
}

double run_weight_decay(const std::string& run_dir) {
  auto tree = run_config_tree(run_dir, {});
  if (tree.contains("curve") && tree["curve"].contains("weight_decay"))
    return tree["curve"]["weight_decay"].get<double>();
  ConfigReader root(tree, run_dir + "/config.json");
  ConfigReader train = root.section("train");
  return read_train_spec(train).weight_decay;
}

}  // namespace closerlook
