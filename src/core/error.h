// Errors and exit codes. Every user-facing failure is a closerlook::Error whose message names
// the file, field or value at fault; main() prints it on one line and exits with its code.
#pragma once
#include <stdexcept>
#include <string>

namespace closerlook {

enum class ExitCode : int {
  Ok = 0,
  Internal = 1,     // a bug or an unexpected library failure
  BadInput = 2,     // bad command line, config, data file, checkpoint
  Io = 3,           // cannot read/write (disk full, read-only, missing folder)
  Diverged = 4,     // training loss became NaN/inf; the run is recorded as diverged
  Interrupted = 130 // SIGINT/SIGTERM: state was checkpointed, rerun to resume
};

class Error : public std::runtime_error {
 public:
  Error(ExitCode code, const std::string& msg) : std::runtime_error(msg), code_(code) {}
  ExitCode code() const { return code_; }

 private:
  ExitCode code_;
};

// The first line of a library message (LibTorch appends backtraces and script tracebacks).
inline std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

// Shorthands: throw bad_input("file.toml: key 'lr': must be > 0, got -1")
[[noreturn]] inline void throw_bad_input(const std::string& msg) { throw Error(ExitCode::BadInput, msg); }
[[noreturn]] inline void throw_io(const std::string& msg) { throw Error(ExitCode::Io, msg); }

#define CL_CHECK_INPUT(cond, msg)                 \
  do {                                            \
    if (!(cond)) ::closerlook::throw_bad_input(msg); \
  } while (0)

}  // namespace closerlook
