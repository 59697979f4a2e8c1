#include "train/train_config.h"

#include "core/error.h"
#include "core/json_io.h"

namespace closerlook {

std::string TrainConfig::hash() const { return content_hash(tree.dump()); }

TrainConfig read_train_config(const nlohmann::json& tree, const std::string& source) {
  TrainConfig c;
  c.tree = tree;
  c.source = source;
  ConfigReader root(tree, source);
  c.seed = static_cast<uint64_t>(root.get_int("seed", 0, 0, std::numeric_limits<int64_t>::max()));
  {
    ConfigReader r = root.section("data");
    c.data = read_data_spec(r);
    r.finish();
  }
  {
    ConfigReader r = root.section("model");
    c.model = read_model_spec(r);
    r.finish();
  }
  {
    ConfigReader r = root.section("train");
    c.train = read_train_spec(r);
    r.finish();
  }
  root.finish();
  return c;
}

TrainConfig load_train_config(const std::string& path, const std::vector<std::string>& overrides) {
  nlohmann::json tree = load_toml_file(path);
  for (const auto& o : overrides) apply_override(tree, o);
  return read_train_config(tree, path);
}

}  // namespace closerlook
