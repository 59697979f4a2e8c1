// Prerequisite checks of the tests: a missing prerequisite (Python torch, fixtures, chromium, a
// data set, the plotly asset) skips the test on a developer's machine, but FAILS it where every
// prerequisite must be present: in CI (the environment variable CI is "true" or "1", as GitHub
// Actions, GitLab and most CI services set it) or with CLOSERLOOK_REQUIRE_ALL=1. There a skip
// would mean the set-up is broken and the test silently checked nothing.
//
//   CL_REQUIRE_OR_SKIP(fs::exists(path), path << " not installed (scripts/setup installs it)");
//   CL_SKIP_OR_FAIL("python torch is missing");   // the condition already known to be false
//
// Both return from the test body (like GTEST_SKIP and ASSERT_*), so they belong in a TEST body
// or in a helper returning void.
#pragma once
#include <gtest/gtest.h>

#include <cctype>
#include <cstdlib>
#include <string>

namespace closerlook::testing {

// True when a missing prerequisite fails the test instead of skipping it.
inline bool prerequisites_required() {
  auto value = [](const char* name) {
    const char* v = std::getenv(name);
    std::string s = v ? v : "";
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  const std::string ci = value("CI"), all = value("CLOSERLOOK_REQUIRE_ALL");
  return ci == "true" || ci == "1" || all == "1" || all == "true";
}

}  // namespace closerlook::testing

// Skips the test with `message` (a stream expression), or fails it when prerequisites are required.
#define CL_SKIP_OR_FAIL(message)                                                                 \
  do {                                                                                           \
    if (::closerlook::testing::prerequisites_required()) {                                       \
      ADD_FAILURE() << "missing prerequisite (a failure, not a skip, because CI=true or "        \
                       "CLOSERLOOK_REQUIRE_ALL=1): "                                             \
                    << message;                                                                  \
      return;                                                                                    \
    }                                                                                            \
    GTEST_SKIP() << message;                                                                     \
  } while (0)

// CL_SKIP_OR_FAIL(message) unless `condition` holds.
#define CL_REQUIRE_OR_SKIP(condition, message) \
  do {                                         \
    if (!(condition)) CL_SKIP_OR_FAIL(message); \
  } while (0)
