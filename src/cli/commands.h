// Subcommand registration. Each cmd_*.cpp registers its subcommand(s) with a static
//   static const CommandRegistrar reg(50, [](CLI::App& app) { ... });
// so adding a command never touches a shared file. The number orders `--help`.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <string>

namespace c10 { struct Device; }

namespace closerlook {

using CommandSetup = std::function<void(CLI::App&)>;

struct CommandRegistrar {
  CommandRegistrar(int order, CommandSetup setup);
};

void register_commands(CLI::App& app);

// Options every heavy subcommand shares: --threads, --device, --quiet.
struct CommonOptions {
  int threads = 0;             // 0 = auto (SLURM_CPUS_PER_TASK, OMP_NUM_THREADS, all cores)
  std::string device = "cpu";  // cpu | cuda | cuda:N
  bool quiet = false;
  std::string memory_format = "contiguous";  // of conv networks' weights and activations
};
void add_common_options(CLI::App* cmd, CommonOptions& opts);
// Sets the thread count and quiet mode; returns the parsed device.
c10::Device apply_common_options(const CommonOptions& opts);

}  // namespace closerlook
