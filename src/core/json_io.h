// JSON files: atomic writes, reads that name the file on a parse error, and append-only JSONL.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace closerlook {

using json = nlohmann::json;

void write_json(const std::string& path, const json& j);  // atomic, pretty-printed
json read_json(const std::string& path);                  // Error(BadInput) names file and parse error
// Appends one line and flushes (metrics.jsonl). Readers skip a torn last line.
void append_jsonl(const std::string& path, const json& j);
std::vector<json> read_jsonl(const std::string& path);

// Writes a 2-D float tensor as CSV with optional row and column labels (atomic).
void write_csv_matrix(const std::string& path, const std::vector<std::vector<double>>& m,
                      const std::vector<std::string>& row_labels = {}, const std::vector<std::string>& col_labels = {});

// Stable 16-hex-digit content hash (FNV-1a 64) of a string, e.g. a resolved config dump.
std::string content_hash(const std::string& s);

}  // namespace closerlook
