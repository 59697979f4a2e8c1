// The status of a training run (a network's or a curve's), as summary.json records it:
// "completed" | "diverged" | "interrupted" (train/run_dir.h).
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

#include "core/error.h"

namespace closerlook {

enum class RunStatus { Completed, Diverged, Interrupted };

inline const char* to_string(RunStatus s) {
  switch (s) {
    case RunStatus::Completed: return "completed";
    case RunStatus::Diverged: return "diverged";
    case RunStatus::Interrupted: return "interrupted";
  }
  return "?";
}

// nullopt for any other string (e.g. a summary.json of something else).
inline std::optional<RunStatus> parse_run_status(std::string_view s) {
  for (RunStatus r : {RunStatus::Completed, RunStatus::Diverged, RunStatus::Interrupted})
    if (s == to_string(r)) return r;
  return std::nullopt;
}

// Completed or diverged: nothing left to run for this config (an interrupted run resumes).
inline bool is_finished(RunStatus s) { return s == RunStatus::Completed || s == RunStatus::Diverged; }

inline std::ostream& operator<<(std::ostream& os, RunStatus s) { return os << to_string(s); }  // messages, tests

inline void to_json(nlohmann::json& j, RunStatus s) { j = to_string(s); }
inline void from_json(const nlohmann::json& j, RunStatus& s) {
  const auto r = parse_run_status(j.get<std::string>());
  if (!r) throw_bad_input("unknown run status " + j.dump() + " (expected completed, diverged or interrupted)");
  s = *r;
}

}  // namespace closerlook
