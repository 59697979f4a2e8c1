// A figure's data as CSV, so a reader can replot it with pandas.read_csv without our schema:
// missing values are empty cells (NaN in pandas), numbers keep 10 significant digits.
#include <cstdio>
#include <sstream>

#include "report/figure_spec.h"

namespace closerlook {

using json = nlohmann::json;

namespace {

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += (c == '"') ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

std::string csv_cell(const json& v) {
  if (v.is_null()) return "";
  if (v.is_string()) return csv_field(v.get<std::string>());
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number_integer()) return v.dump();
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.10g", v.get<double>());
  return buf;
}

// The name of grid position i on an axis: its category, or its numeric value.
json axis_entry(const json& axis, size_t i) {
  if (axis.contains("categories")) return axis["categories"][i];
  return axis["values"][i];
}

}  // namespace

std::string figure_csv(const json& fig) {
  std::ostringstream out;
  std::string kind = fig.at("kind");
  if (kind == "line") {
    const json& x = fig["x"];
    out << "series," << csv_field(axis_title(x)) << ",y,y_label\n";
    for (const auto& s : fig["series"]) {
      const json& yaxis = fig[s.value("axis", "y")];
      std::string name = csv_field(s["name"]), ylabel = csv_field(axis_title(yaxis));
      for (size_t i = 0; i < s["x"].size(); ++i) {
        json xv = s["x"][i];
        if (x.contains("categories")) xv = x["categories"][xv.get<size_t>()];
        out << name << "," << csv_cell(xv) << "," << csv_cell(s["y"][i]) << "," << ylabel << "\n";
      }
    }
  } else if (kind == "heatmap" || kind == "contour") {
    const json& x = fig["x"];
    const json& y = fig["y"];
    size_t nx = x.contains("categories") ? x["categories"].size() : x["values"].size();
    // The corner cell says how to read the table: rows are y, columns are x, cells are z.
    out << csv_field(axis_title(fig["z"]) + " | rows: " + axis_title(y) + " | columns: " + axis_title(x));
    for (size_t j = 0; j < nx; ++j) out << "," << csv_cell(axis_entry(x, j));
    out << "\n";
    const json& m = fig["matrix"];
    for (size_t i = 0; i < m.size(); ++i) {
      out << csv_cell(axis_entry(y, i));
      for (const auto& v : m[i]) out << "," << csv_cell(v);
      out << "\n";
    }
  } else {  // table
    const json& cols = fig["columns"];
    for (size_t j = 0; j < cols.size(); ++j) out << (j ? "," : "") << csv_field(cols[j]);
    out << "\n";
    for (const auto& row : fig["rows"]) {
      for (size_t j = 0; j < row.size(); ++j) out << (j ? "," : "") << csv_cell(row[j]);
      out << "\n";
    }
  }
  return out.str();
}

}  // namespace closerlook
