// Only this TU (and build_info.cpp) knows the source folder, so moving the tree rebuilds little.
#include "core/resources.h"

#include <filesystem>
#include <system_error>

namespace closerlook {
namespace fs = std::filesystem;

std::string resource_root() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path installed = exe.parent_path().parent_path() / "share" / "closerlook";
    if (fs::is_directory(installed / "configs", ec)) return installed.string();
  }
#ifdef CL_SOURCE_DIR
  return CL_SOURCE_DIR;
#else
  return exe.parent_path().string();
#endif
}

std::string resource_path(const std::string& relative) { return (fs::path(resource_root()) / relative).string(); }

}  // namespace closerlook
