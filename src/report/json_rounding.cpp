#include "report/json_rounding.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace closerlook {

void round_significant(nlohmann::json& j, int digits) {
  if (j.is_number_float()) {
    double v = j.get<double>();
    if (!std::isfinite(v)) {
      j = nullptr;
      return;
    }
    char buf[48];
    std::snprintf(buf, sizeof(buf), "%.*g", digits, v);
    j = std::strtod(buf, nullptr);
  } else if (j.is_array() || j.is_object()) {
    for (auto& e : j) round_significant(e, digits);
  }
}

}  // namespace closerlook
