// Where closerlook's data files are (presets, report assets): beside an installed binary, else in
// the source tree it was built from. One rule, so that `cmake --install` gives a relocatable tool.
#pragma once
#include <string>

namespace closerlook {

// The folder that holds configs/presets/ and report/assets/:
//   <dir of the running binary>/../share/closerlook   when that folder exists (an install), else
//   the source folder compiled into this binary         (a build tree).
std::string resource_root();

// resource_root()/relative.
std::string resource_path(const std::string& relative);

}  // namespace closerlook
