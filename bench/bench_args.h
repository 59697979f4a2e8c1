// Small argument helpers the bench mains share.
#pragma once
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

namespace closerlook::bench {

// "1,2,,4" -> {1, 2, 4}: a comma-separated list of integers (empty items skipped).
inline std::vector<int64_t> parse_list(const std::string& s) {
  std::vector<int64_t> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) out.push_back(std::stoll(item));
  return out;
}

}  // namespace closerlook::bench
