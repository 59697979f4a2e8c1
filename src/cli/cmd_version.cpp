#include <iostream>

#include "cli/commands.h"
#include "core/json_io.h"
#include "core/runtime.h"

namespace closerlook {
namespace {
const CommandRegistrar reg(99, [](CLI::App& app) {
  auto* cmd = app.add_subcommand("version", "Print build and runtime information as JSON");
  cmd->callback([] {
    init_threads(0);
    std::cout << runtime_metadata().dump(2) << std::endl;
  });
});
}  // namespace
}  // namespace closerlook
