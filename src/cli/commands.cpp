#include "cli/commands.h"

#include <algorithm>
#include <torch/torch.h>
#include <vector>

#include "core/progress.h"
#include "core/runtime.h"

namespace closerlook {
namespace {
std::vector<std::pair<int, CommandSetup>>& registry() {
  static std::vector<std::pair<int, CommandSetup>> r;
  return r;
}
}  // namespace

CommandRegistrar::CommandRegistrar(int order, CommandSetup setup) { registry().emplace_back(order, std::move(setup)); }

void register_commands(CLI::App& app) {
  auto& r = registry();
  std::stable_sort(r.begin(), r.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [order, setup] : r) setup(app);
}

void add_common_options(CLI::App* cmd, CommonOptions& opts) {
  cmd->add_option("--threads", opts.threads, "Intra-op threads (default: SLURM_CPUS_PER_TASK, OMP_NUM_THREADS, all cores)");
  cmd->add_option("--device", opts.device, "cpu, cuda or cuda:N")->capture_default_str();
  cmd->add_flag("--quiet", opts.quiet, "No progress output");
  cmd->add_option("--memory-format", opts.memory_format,
                  "Layout of conv weights and activations: contiguous (NCHW) or channels-last (faster CPU training of VGG-like nets; ResNets stay contiguous on CPU, a LibTorch 2.15 bug)")
      ->capture_default_str();
}

c10::Device apply_common_options(const CommonOptions& opts) {
  init_threads(opts.threads);
  set_default_memory_format(parse_memory_format(opts.memory_format, "--memory-format"));
  Progress::set_global_quiet(opts.quiet);
  return parse_device(opts.device);
}

}  // namespace closerlook
