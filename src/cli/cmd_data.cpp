// `closerlook data-info`: loads the dataset a config selects and prints what the models will see
// (sizes, shape, classes, normalisation, label histogram) as JSON, without training anything.
#include <iostream>

#include "cli/commands.h"
#include "core/config.h"
#include "core/runtime.h"
#include "data/load.h"

namespace closerlook {
namespace {

json describe(const Dataset& ds) {
  return {{"name", ds.name}, {"size", ds.size()}, {"label_histogram", label_histogram(ds)}};
}

struct DataInfoOptions {
  std::string config;
  std::vector<std::string> overrides;
  int threads = 0;
};

const CommandRegistrar reg(5, [](CLI::App& app) {
  auto opts = std::make_shared<DataInfoOptions>();
  auto* cmd = app.add_subcommand("data-info", "Load the dataset of a config's [data] table and print it as JSON");
  cmd->add_option("--config", opts->config, "TOML config file (its [data] table is used)");
  cmd->add_option("--set", opts->overrides, "Override a config key, e.g. --set data.dataset=synthetic");
  cmd->add_option("--threads", opts->threads, "Threads (0 = auto)");
  cmd->callback([opts] {
    init_threads(opts->threads);
    json root = opts->config.empty() ? json::object() : load_toml_file(opts->config);
    for (const auto& o : opts->overrides) apply_override(root, o);
    ConfigReader reader(root, opts->config.empty() ? "--set" : opts->config);
    ConfigReader section = reader.section("data");
    const DataSpec spec = read_data_spec(section);
    const DataSplit split = load_data(spec);
    const AugmentSpec aug = augment_for(spec);
    json out = {
        {"dataset", spec.dataset},
        {"dir", spec.dir.empty() ? default_data_dir(spec.dataset) : spec.dir},
        {"train", describe(split.train)},
        {"test", describe(split.test)},
        {"shape", {split.train.channels(), split.train.height(), split.train.width()}},
        {"classes", split.train.num_classes},
        {"mean", split.train.mean},
        {"std", split.train.std},
        {"augment", {{"crop", aug.crop}, {"pad", aug.pad}, {"flip", aug.flip}}},
    };
    std::cout << out.dump(2) << std::endl;
  });
});

}  // namespace
}  // namespace closerlook
