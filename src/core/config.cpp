#include "core/config.h"

#include <cmath>
#include <cstdio>
#include <sstream>
#include <toml++/toml.h>

#include "core/atomic_file.h"
#include "core/error.h"

namespace closerlook {
namespace {

std::string fmt_date(const toml::date& d) {
  char b[32];
  std::snprintf(b, sizeof(b), "%04d-%02d-%02d", int(d.year), int(d.month), int(d.day));
  return b;
}
std::string fmt_time(const toml::time& t) {
  char b[32];
  std::snprintf(b, sizeof(b), "%02d:%02d:%02d", int(t.hour), int(t.minute), int(t.second));
  return b;
}

json toml_to_json(const toml::node& n) {
  if (auto t = n.as_table()) {
    json o = json::object();
    for (auto&& [k, v] : *t) o[std::string(k.str())] = toml_to_json(v);
    return o;
  }
  if (auto a = n.as_array()) {
    json arr = json::array();
    for (auto&& v : *a) arr.push_back(toml_to_json(v));
    return arr;
  }
  if (auto v = n.as_string()) return v->get();
  if (auto v = n.as_integer()) return v->get();
  if (auto v = n.as_floating_point()) return v->get();
  if (auto v = n.as_boolean()) return v->get();
  if (auto v = n.as_date()) return fmt_date(v->get());
  if (auto v = n.as_time()) return fmt_time(v->get());
  if (auto v = n.as_date_time()) return fmt_date(v->get().date) + "T" + fmt_time(v->get().time);
  return nullptr;
}

std::string show(const json& v) {
  return v.is_string() ? "'" + v.get<std::string>() + "'" : v.dump(-1, ' ', false, json::error_handler_t::replace);
}

// Well-formed UTF-8 (no overlongs, surrogates or code points above U+10FFFF). TOML files are
// checked by the TOML parser; `--set` text is checked here, since every config is later hashed
// and written as JSON, which must be valid UTF-8.
bool valid_utf8(const std::string& s) {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      const unsigned char d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    static const uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

}  // namespace

json parse_toml_string(const std::string& text, const std::string& source) {
  try {
    toml::table t = toml::parse(text, source);
    return toml_to_json(t);
  } catch (const toml::parse_error& e) {
    std::ostringstream ss;
    ss << source << ":" << e.source().begin.line << ":" << e.source().begin.column << ": invalid TOML: " << e.description();
    throw_bad_input(ss.str());
  }
}

json load_toml_file(const std::string& path) {
  if (!file_exists(path)) throw_bad_input(path + ": config file not found");
  return parse_toml_string(read_file(path), path);
}

void apply_override(json& root, const std::string& assignment) {
  auto eq = assignment.find('=');
  if (!valid_utf8(assignment)) throw_bad_input("--set: the assignment is not valid UTF-8 text");
  if (eq == std::string::npos || eq == 0) throw_bad_input("--set '" + assignment + "': expected key=value");
  const std::string key = assignment.substr(0, eq);
  const std::string raw = assignment.substr(eq + 1);
  json value;
  try {
    value = parse_toml_string("v = " + raw, "--set")["v"];
  } catch (const Error&) {
    value = raw;  // bare word: a string
  }
  json* node = &root;
  std::stringstream ss(key);
  std::string part;
  std::vector<std::string> parts;
  while (std::getline(ss, part, '.')) {
    if (part.empty()) throw_bad_input("--set '" + assignment + "': empty key component");
    parts.push_back(part);
  }
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    json& next = (*node)[parts[i]];
    if (next.is_null()) next = json::object();
    if (!next.is_object()) throw_bad_input("--set '" + assignment + "': '" + parts[i] + "' is not a table");
    node = &next;
  }
  (*node)[parts.back()] = value;
}

ConfigReader::ConfigReader(const json& node, std::string source, std::string prefix)
    : node_(node.is_null() ? json::object() : node), source_(std::move(source)), prefix_(std::move(prefix)) {
  if (!node_.is_object()) throw_bad_input(source_ + ": '" + prefix_ + "' must be a table");
}

bool ConfigReader::has(const std::string& key) const { return node_.contains(key); }

const json* ConfigReader::find(const std::string& key) {
  used_.insert(key);
  auto it = node_.find(key);
  return it == node_.end() ? nullptr : &*it;
}

void ConfigReader::fail(const std::string& key, const std::string& what) const {
  throw_bad_input(source_ + ": key '" + path(key) + "': " + what);
}

int64_t ConfigReader::get_int(const std::string& key, int64_t def, int64_t min, int64_t max) {
  const json* v = find(key);
  if (!v) return def;
  if (v->is_number_float() && std::floor(v->get<double>()) == v->get<double>()) {
    // tolerate 1e3 style integers (within int64: converting a larger double is undefined)
    const double d = v->get<double>();
    if (!(d >= -9.2e18 && d <= 9.2e18)) fail(key, "value " + show(*v) + " is not a representable integer");
  } else if (!v->is_number_integer()) {
    fail(key, "expected an integer, got " + show(*v));
  }
  int64_t x = v->is_number_integer() ? v->get<int64_t>() : static_cast<int64_t>(v->get<double>());
  if (x < min || x > max)
    fail(key, "value " + std::to_string(x) + " out of range [" + std::to_string(min) + ", " + std::to_string(max) + "]");
  return x;
}

double ConfigReader::get_double(const std::string& key, double def, double min, double max) {
  const json* v = find(key);
  if (!v) return def;
  if (!v->is_number()) fail(key, "expected a number, got " + show(*v));
  double x = v->get<double>();
  if (!(x >= min && x <= max)) {
    std::ostringstream ss;
    ss << "value " << x << " out of range [" << min << ", " << max << "]";
    fail(key, ss.str());
  }
  return x;
}

bool ConfigReader::get_bool(const std::string& key, bool def) {
  const json* v = find(key);
  if (!v) return def;
  if (!v->is_boolean()) fail(key, "expected true or false, got " + show(*v));
  return v->get<bool>();
}

std::string ConfigReader::get_string(const std::string& key, const std::string& def) {
  const json* v = find(key);
  if (!v) return def;
  if (!v->is_string()) fail(key, "expected a string, got " + show(*v));
  return v->get<std::string>();
}

std::string ConfigReader::get_enum(const std::string& key, const std::string& def, const std::vector<std::string>& allowed) {
  std::string s = get_string(key, def);
  for (const auto& a : allowed)
    if (a == s) return s;
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
  fail(key, "'" + s + "' is not one of: " + list);
}

std::vector<int64_t> ConfigReader::get_int_list(const std::string& key, const std::vector<int64_t>& def, int64_t min,
                                                int64_t max) {
  const json* v = find(key);
  if (!v) return def;
  if (!v->is_array()) fail(key, "expected a list of integers, got " + show(*v));
  std::vector<int64_t> out;
  for (const auto& e : *v) {
    if (!e.is_number_integer()) fail(key, "expected a list of integers, found element " + show(e));
    int64_t x = e.get<int64_t>();
    if (x < min || x > max) fail(key, "element " + std::to_string(x) + " out of range");
    out.push_back(x);
  }
  return out;
}

std::vector<std::string> ConfigReader::get_string_list(const std::string& key, const std::vector<std::string>& def) {
  const json* v = find(key);
  if (!v) return def;
  if (!v->is_array()) fail(key, "expected a list of strings, got " + show(*v));
  std::vector<std::string> out;
  for (const auto& e : *v) {
    if (!e.is_string()) fail(key, "expected a list of strings, found element " + show(e));
    out.push_back(e.get<std::string>());
  }
  return out;
}

ConfigReader ConfigReader::section(const std::string& key) {
  const json* v = find(key);
  if (v && !v->is_object()) fail(key, "expected a table, got " + show(*v));
  return ConfigReader(v ? *v : json::object(), source_, path(key));
}

void ConfigReader::ignore(const std::string& key) { used_.insert(key); }

void ConfigReader::finish() const {
  for (auto it = node_.begin(); it != node_.end(); ++it)
    if (!used_.count(it.key())) throw_bad_input(source_ + ": unknown key '" + path(it.key()) + "'");
}

}  // namespace closerlook
