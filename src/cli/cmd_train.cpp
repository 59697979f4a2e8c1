// `closerlook train --config FILE.toml [--set key=value ...] --out DIR`: one training run into a
// run folder (train/run_dir.h), resumable by rerunning the same command.
#include <cstdio>

#include "cli/commands.h"
#include "core/error.h"
#include "dist/data_parallel.h"
#include "train/run_status.h"
#include "train/run_training.h"

namespace closerlook {
namespace {

struct TrainArgs {
  std::string config, out;
  std::vector<std::string> sets;
  CommonOptions common;
};

void run_train_command(const TrainArgs& a) {
  RunOptions opts;
  opts.device = apply_common_options(a.common);
  opts.quiet = a.common.quiet;
  // WORLD_SIZE > 1 from torchrun/srun (dist/rendezvous.h): data parallel; rank 0 reports and writes.
  auto dp = data_parallel_from_env();
  if (dp) {
    opts.data_parallel = dp->driver.get();
    if (!opts.quiet && dp->comm->is_root()) std::fprintf(stderr, "data parallel: %s\n", dp->comm->describe().c_str());
    opts.quiet = opts.quiet || !dp->comm->is_root();
  }
  TrainConfig cfg = load_train_config(a.config, a.sets);
  TrainSummary s = run_training(cfg, a.out, opts);
  if (s.status == RunStatus::Diverged)
    throw Error(ExitCode::Diverged, a.out + ": training diverged (non-finite loss) before iteration " +
                                        std::to_string(s.diverged_iter) + "; status recorded in summary.json");
  if (dp && !dp->comm->is_root()) return;
  if (!s.already_done)
    std::printf("%s: completed %lld epochs (%lld iterations): train loss %.4f acc %.2f%%, test loss %.4f acc %.2f%%\n",
                a.out.c_str(), (long long)s.epoch, (long long)s.iter, s.train.loss, 100 * s.train.accuracy, s.test.loss,
                100 * s.test.accuracy);
  else
    std::printf("%s: already completed (test acc %.2f%%); nothing to do\n", a.out.c_str(), 100 * s.test.accuracy);
}

const CommandRegistrar reg(20, [](CLI::App& app) {
  auto args = std::make_shared<TrainArgs>();
  auto* cmd = app.add_subcommand("train", "Train one network from a TOML config into a run folder (resumable)");
  cmd->add_option("--config", args->config, "TOML config with [data], [model], [train] tables and `seed`")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--set", args->sets, "Override a config key: --set train.lr=0.1 (repeatable)");
  cmd->add_option("--out", args->out, "Run folder (rerun with the same folder to resume)")->required();
  add_common_options(cmd, args->common);
  cmd->callback([args] { run_train_command(*args); });
});

}  // namespace
}  // namespace closerlook
