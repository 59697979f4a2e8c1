// closerlook: one executable, one subcommand per tool. Each subcommand lives in its own
// cmd_*.cpp and registers itself through register_commands(); main() only sets up the runtime
// and turns errors into one-line messages with their exit codes.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>

#include "cli/commands.h"
#include "core/error.h"

int main(int argc, char** argv) {
  using namespace closerlook;
  CLI::App app{"closerlook: a laboratory for the empirical study of deep-learning training heuristics"};
  app.require_subcommand(1);
  register_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : static_cast<int>(ExitCode::BadInput);
  } catch (const Error& e) {
    std::fprintf(stderr, "closerlook: error: %s\n", e.what());
    return static_cast<int>(e.code());
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "closerlook: internal error (libtorch): %s\n", e.what_without_backtrace());
    return static_cast<int>(ExitCode::Internal);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "closerlook: internal error: %s\n", e.what());
    return static_cast<int>(ExitCode::Internal);
  }
  return 0;
}
