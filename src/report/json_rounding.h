// Rounds every floating-point number in a JSON tree to a few significant digits, so data inlined
// into report.html stays small (nlohmann prints the shortest text that reads back the same
// double, so 0.123456789 rounded to 6 digits prints as 0.123457). Non-finite numbers become null.
#pragma once
#include <nlohmann/json.hpp>

namespace closerlook {

void round_significant(nlohmann::json& j, int digits);

}  // namespace closerlook
