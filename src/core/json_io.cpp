#include "core/json_io.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"

namespace closerlook {

void write_json(const std::string& path, const json& j) { write_file_atomic(path, j.dump(2) + "\n"); }

json read_json(const std::string& path) {
  const std::string text = read_file(path);
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    throw_bad_input(path + ": invalid JSON: " + e.what());
  }
}

void append_jsonl(const std::string& path, const json& j) {
  std::ofstream out(path, std::ios::app);
  if (!out) throw_io(path + ": cannot open for appending");
  out << j.dump() << "\n";
  out.flush();
  if (!out) throw_io(path + ": write failed");
}

std::vector<json> read_jsonl(const std::string& path) {
  std::vector<json> rows;
  std::istringstream in(read_file(path));
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    try {
      rows.push_back(json::parse(line));
    } catch (const json::parse_error&) {
      if (in.peek() == EOF) break;  // torn last line after a crash
      throw_bad_input(path + ": invalid JSON line " + std::to_string(rows.size() + 1));
    }
  }
  return rows;
}

void write_csv_matrix(const std::string& path, const std::vector<std::vector<double>>& m,
                      const std::vector<std::string>& row_labels, const std::vector<std::string>& col_labels) {
  std::ostringstream out;
  out.precision(10);
  if (!col_labels.empty()) {
    if (!row_labels.empty()) out << "layer";
    for (size_t j = 0; j < col_labels.size(); ++j) out << (j || !row_labels.empty() ? "," : "") << col_labels[j];
    out << "\n";
  }
  for (size_t i = 0; i < m.size(); ++i) {
    if (!row_labels.empty()) out << row_labels.at(i);
    for (size_t j = 0; j < m[i].size(); ++j) out << (j || !row_labels.empty() ? "," : "") << m[i][j];
    out << "\n";
  }
  write_file_atomic(path, out.str());
}

std::string content_hash(const std::string& s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

}  // namespace closerlook
