// Configuration: TOML files plus `--set key=value` overrides, read through a validating
// reader. Every key a component reads is marked as used; `finish()` rejects keys nobody read
// (typos), and every type or range error names the file, the dotted key and the value.
#pragma once
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

namespace closerlook {

using json = nlohmann::json;

// Parses a TOML file into JSON (tables -> objects). Error(BadInput) names the file, line and column.
json load_toml_file(const std::string& path);
json parse_toml_string(const std::string& text, const std::string& source);

// Applies "a.b.c=value" (value parsed as a TOML value; bare words become strings).
void apply_override(json& root, const std::string& assignment);

class ConfigReader {
 public:
  // `source` is used in messages (the file name, or "--set"). `prefix` is the dotted path.
  ConfigReader(const json& node, std::string source, std::string prefix = "");

  bool has(const std::string& key) const;
  int64_t get_int(const std::string& key, int64_t def, int64_t min, int64_t max);
  double get_double(const std::string& key, double def, double min, double max);
  bool get_bool(const std::string& key, bool def);
  std::string get_string(const std::string& key, const std::string& def);
  std::string get_enum(const std::string& key, const std::string& def, const std::vector<std::string>& allowed);
  std::vector<int64_t> get_int_list(const std::string& key, const std::vector<int64_t>& def, int64_t min, int64_t max);
  std::vector<std::string> get_string_list(const std::string& key, const std::vector<std::string>& def);
  // A sub-table; returns a reader over {} when absent. Its keys are checked by its own finish().
  ConfigReader section(const std::string& key);
  // Marks a key as known without reading it (e.g. a table handled elsewhere).
  void ignore(const std::string& key);
  // Throws Error(BadInput) for any key that was never read.
  void finish() const;

  const std::string& source() const { return source_; }
  std::string path(const std::string& key) const { return prefix_.empty() ? key : prefix_ + "." + key; }

 private:
  const json* find(const std::string& key);
  [[noreturn]] void fail(const std::string& key, const std::string& what) const;

  json node_;
  std::string source_, prefix_;
  std::set<std::string> used_;
};

}  // namespace closerlook
