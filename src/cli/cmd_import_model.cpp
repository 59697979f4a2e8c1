// `closerlook import-model MODEL.pt --out RUN_DIR [--config F.toml] [--set data.key=v] [--probes a,b]`:
// option binding for train/import_model.h (a TorchScript model saved from Python as a run folder;
// docs/own_models.md). Prints the run's summary.json.
#include <iostream>

#include "cli/commands.h"
#include "train/import_model.h"

namespace closerlook {
namespace {

const CommandRegistrar reg(25, [](CLI::App& app) {
  struct Args {
    ImportModelJob job;
    CommonOptions common;
  };
  auto args = std::make_shared<Args>();
  ImportModelJob& job = args->job;
  auto* cmd = app.add_subcommand(
      "import-model", "Make a run folder from a TorchScript model saved in Python, so every tool can analyse it");
  cmd->add_option("MODEL", job.model, "TorchScript file (torch.jit.script(model).save(path))")->required();
  cmd->add_option("--out", job.out_dir, "Run folder to create (model.pt, config.json, checkpoints/final.pt)")->required();
  cmd->add_option("--config", job.config, "TOML file whose [data] table describes the data (other tables ignored)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--set", job.data_overrides, "A data key: --set data.dataset=npy --set data.dir=/d (repeatable)");
  cmd->add_option("--probes", job.probes,
                  "Comma-separated probe points (submodule paths, e.g. features.2,classifier.0; default: all)")
      ->delimiter(',');
  add_common_options(cmd, args->common);
  cmd->callback([args] {
    args->job.device = apply_common_options(args->common);
    std::cout << run_import_model(args->job).dump(2) << "\n";
  });
});

}  // namespace
}  // namespace closerlook
