// The only TU that knows the source folder: asks git for the commit at run time so that a new
// commit does not invalidate every object file.
#include <cstdio>
#include <string>

#include "core/runtime.h"

namespace closerlook {

std::string git_commit() {
#ifdef CL_SOURCE_DIR
  std::string cmd = std::string("git -C '") + CL_SOURCE_DIR + "' rev-parse --short=12 HEAD 2>/dev/null";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return "unknown";
  char buf[64] = {0};
  std::string out = std::fgets(buf, sizeof(buf), p) ? buf : "";
  ::pclose(p);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out.empty() ? "unknown" : out;
#else
  return "unknown";
#endif
}

}  // namespace closerlook
