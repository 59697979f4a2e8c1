// Figure-spec builders and the validator that both the builders and the report reader use, so a
// spec written by hand (or by an older pipeline) gets the same clear errors as one built here.
#include "report/figure_spec.h"

#include <cmath>
#include <regex>
#include <set>

#include "core/error.h"

namespace closerlook {

using json = nlohmann::json;

namespace {

// ---- building -------------------------------------------------------------------------------

// JSON has no NaN/inf: they become null, which the page draws as a gap.
json number_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

json numbers(const std::vector<double>& v) {
  json a = json::array();
  for (double d : v) a.push_back(number_or_null(d));
  return a;
}

json axis_json(const Axis& a) {
  json j = {{"label", a.label}};
  if (!a.unit.empty()) j["unit"] = a.unit;
  if (a.log) j["log"] = true;
  if (a.reversed) j["reversed"] = true;
  if (!a.categories.empty()) j["categories"] = a.categories;
  if (!a.values.empty()) j["values"] = numbers(a.values);
  return j;
}

json value_scale_json(const ValueScale& z) {
  json j = {{"label", z.label}, {"scale", z.diverging ? "diverging" : "sequential"}};
  if (!z.unit.empty()) j["unit"] = z.unit;
  if (z.log) j["log"] = true;
  if (z.min) j["min"] = *z.min;
  if (z.max) j["max"] = *z.max;
  if (z.show_values) j["show_values"] = true;
  return j;
}

json matrix_json(const Matrix& m) {
  json a = json::array();
  for (const auto& row : m) a.push_back(numbers(row));
  return a;
}

json overlays_json(const Overlays& o) {
  json j = json::object();
  for (const auto& p : o.points) {
    json pj = {{"name", p.name}, {"x", numbers(p.x)}, {"y", numbers(p.y)}, {"symbol", p.symbol}};
    if (!p.labels.empty()) pj["labels"] = p.labels;
    if (!p.show_labels) pj["show_labels"] = false;
    if (p.connect) pj["connect"] = true;
    if (!p.color.empty()) pj["color"] = p.color;
    j["points"].push_back(pj);
  }
  for (const auto& c : o.curves) {
    json cj = {{"name", c.name}, {"x", numbers(c.x)}, {"y", numbers(c.y)}, {"dash", c.dash}};
    if (!c.color.empty()) cj["color"] = c.color;
    j["curves"].push_back(cj);
  }
  for (const auto& v : o.vlines) j["vlines"].push_back({{"at", v.at}, {"label", v.label}});
  for (const auto& h : o.hlines) j["hlines"].push_back({{"at", h.at}, {"label", h.label}});
  return j;
}

json base_json(const FigureInfo& info, const char* kind) {
  json j = {{"schema", kFigureSchema}, {"id", info.id},       {"title", info.title},
            {"study", info.study},     {"kind", kind},        {"caption", info.caption},
            {"order", info.order}};
  json layout = json::object();
  if (info.half_width) layout["width"] = "half";
  if (info.height > 0) layout["height"] = info.height;
  if (info.equal_aspect) layout["equal_aspect"] = true;
  if (!layout.empty()) j["layout"] = layout;
  return j;
}

// ---- validating -----------------------------------------------------------------------------

struct Check {
  std::string where;

  [[noreturn]] void fail(const std::string& field, const std::string& msg) const {
    throw_bad_input(where + ": field '" + field + "': " + msg);
  }
  static std::string shown(const json& v) {
    std::string s = v.dump();
    return s.size() > 60 ? s.substr(0, 57) + "..." : s;
  }
  const json& need(const json& obj, const std::string& field, const std::string& key) const {
    if (!obj.is_object() || !obj.contains(key)) fail(field + key, "missing");
    return obj.at(key);
  }
  std::string string(const json& obj, const std::string& field, const std::string& key, bool required = true,
                     bool nonempty = false) const {
    if (!obj.contains(key)) {
      if (required) fail(field + key, "missing");
      return "";
    }
    const json& v = obj.at(key);
    if (!v.is_string()) fail(field + key, "must be a string, got " + shown(v));
    if (nonempty && v.get<std::string>().empty()) fail(field + key, "must not be empty");
    return v.get<std::string>();
  }
  void boolean(const json& obj, const std::string& field, const std::string& key) const {
    if (obj.contains(key) && !obj.at(key).is_boolean()) fail(field + key, "must be true or false, got " + shown(obj.at(key)));
  }
  void one_of(const std::string& value, const std::set<std::string>& allowed, const std::string& field) const {
    if (allowed.count(value)) return;
    std::string list;
    for (const auto& a : allowed) list += (list.empty() ? "" : " | ") + a;
    fail(field, "'" + value + "' is not one of " + list);
  }
  // An array of numbers or nulls; returns its length.
  size_t number_array(const json& obj, const std::string& field, const std::string& key) const {
    const json& a = need(obj, field, key);
    if (!a.is_array()) fail(field + key, "must be an array of numbers, got " + shown(a));
    for (size_t i = 0; i < a.size(); ++i)
      if (!a[i].is_number() && !a[i].is_null())
        fail(field + key + "[" + std::to_string(i) + "]", "must be a number or null, got " + shown(a[i]));
    return a.size();
  }
  void string_array(const json& a, const std::string& field, bool unique) const {
    if (!a.is_array()) fail(field, "must be an array of strings, got " + shown(a));
    std::set<std::string> seen;
    for (size_t i = 0; i < a.size(); ++i) {
      if (!a[i].is_string()) fail(field + "[" + std::to_string(i) + "]", "must be a string, got " + shown(a[i]));
      if (unique && !seen.insert(a[i].get<std::string>()).second)
        fail(field + "[" + std::to_string(i) + "]", "duplicate entry '" + a[i].get<std::string>() + "'");
    }
  }

  // Returns the number of grid positions (categories or values); 0 if the axis has neither.
  size_t axis(const json& fig, const std::string& key, bool grid) const {
    const json& a = need(fig, "", key);
    if (!a.is_object()) fail(key, "must be an object {label, unit, log, categories | values}");
    string(a, key + ".", "label", true, true);
    string(a, key + ".", "unit", false);
    boolean(a, key + ".", "log");
    boolean(a, key + ".", "reversed");
    size_t n = 0;
    if (a.contains("categories")) {
      string_array(a["categories"], key + ".categories", true);
      n = a["categories"].size();
      if (a.value("log", false)) fail(key + ".log", "a categorical axis cannot be logarithmic");
    }
    if (a.contains("values")) {
      if (a.contains("categories")) fail(key, "give either 'categories' or 'values', not both");
      n = number_array(a, key + ".", "values");
      for (size_t i = 0; i < n; ++i)
        if (a["values"][i].is_null()) fail(key + ".values[" + std::to_string(i) + "]", "grid values must be finite");
    }
    if (grid && n == 0) fail(key, "a heatmap or contour axis needs 'categories' or 'values' (one per matrix row/column)");
    return n;
  }

  void overlays(const json& fig, size_t x_categories) const {
    if (!fig.contains("overlays")) return;
    const json& o = fig["overlays"];
    if (!o.is_object()) fail("overlays", "must be an object {points, curves, vlines, hlines}");
    for (const auto& [key, list] : o.items()) {
      one_of(key, {"points", "curves", "vlines", "hlines"}, "overlays." + key);
      if (!list.is_array()) fail("overlays." + key, "must be an array");
      for (size_t i = 0; i < list.size(); ++i) {
        const json& e = list[i];
        std::string f = "overlays." + key + "[" + std::to_string(i) + "].";
        if (!e.is_object()) fail(f, "must be an object");
        if (key == "vlines" || key == "hlines") {
          if (!need(e, f, "at").is_number()) fail(f + "at", "must be a number, got " + shown(e["at"]));
          string(e, f, "label", false);
          continue;
        }
        string(e, f, "name", true, true);
        size_t nx = number_array(e, f, "x"), ny = number_array(e, f, "y");
        if (nx != ny) fail(f + "y", "has " + std::to_string(ny) + " values but x has " + std::to_string(nx));
        x_indices(e["x"], f + "x", x_categories);
        string(e, f, "color", false);
        if (key == "curves") {
          one_of(e.value("dash", "solid"), {"solid", "dash", "dot", "dashdot"}, f + "dash");
        } else {
          if (e.contains("labels")) {
            string_array(e["labels"], f + "labels", false);
            if (e["labels"].size() != nx)
              fail(f + "labels", "has " + std::to_string(e["labels"].size()) + " entries for " + std::to_string(nx) + " points");
          }
          boolean(e, f, "show_labels");
          boolean(e, f, "connect");
          one_of(e.value("symbol", "circle"),
                 {"circle", "square", "diamond", "cross", "x", "star", "triangle-up", "triangle-down"}, f + "symbol");
        }
      }
    }
  }

  // On a categorical x axis, x values are indices into the categories.
  void x_indices(const json& xs, const std::string& field, size_t n_categories) const {
    if (n_categories == 0) return;
    for (size_t i = 0; i < xs.size(); ++i) {
      double v = xs[i].is_number() ? xs[i].get<double>() : -1;
      if (v < 0 || v != std::floor(v) || v >= static_cast<double>(n_categories))
        fail(field + "[" + std::to_string(i) + "]", "must index the x categories (0.." + std::to_string(n_categories - 1) +
                                                        "), got " + shown(xs[i]));
    }
  }

  void matrix(const json& fig, size_t rows, size_t cols) const {
    const json& m = need(fig, "", "matrix");
    if (!m.is_array()) fail("matrix", "must be an array of rows");
    if (m.size() != rows) fail("matrix", "has " + std::to_string(m.size()) + " rows but the y axis has " + std::to_string(rows) + " entries");
    for (size_t i = 0; i < rows; ++i) {
      std::string f = "matrix[" + std::to_string(i) + "]";
      if (!m[i].is_array()) fail(f, "must be an array of numbers");
      if (m[i].size() != cols) fail(f, "has " + std::to_string(m[i].size()) + " values but the x axis has " + std::to_string(cols) + " entries");
      for (size_t j = 0; j < cols; ++j)
        if (!m[i][j].is_number() && !m[i][j].is_null())
          fail(f + "[" + std::to_string(j) + "]", "must be a number or null, got " + shown(m[i][j]));
    }
  }

  void value_scale(const json& fig) const {
    const json& z = need(fig, "", "z");
    if (!z.is_object()) fail("z", "must be an object {label, unit, log, scale, min, max}");
    string(z, "z.", "label", true, true);
    string(z, "z.", "unit", false);
    boolean(z, "z.", "log");
    boolean(z, "z.", "show_values");
    one_of(z.value("scale", "sequential"), {"sequential", "diverging"}, "z.scale");
    for (const char* k : {"min", "max"})
      if (z.contains(k) && !z[k].is_number()) fail(std::string("z.") + k, "must be a number, got " + shown(z[k]));
    if (z.contains("min") && z.contains("max") && !(z["min"].get<double>() < z["max"].get<double>()))
      fail("z.max", "must be greater than z.min");
  }
};

}  // namespace

std::string axis_title(const json& axis) {
  std::string label = axis.value("label", "");
  std::string unit = axis.value("unit", "");
  return unit.empty() ? label : label + " (" + unit + ")";
}

void validate_figure(const json& fig, const std::string& where) {
  Check c{where};
  if (!fig.is_object()) c.fail("", "a figure spec must be a JSON object");
  std::string schema = c.string(fig, "", "schema");
  if (schema != kFigureSchema) c.fail("schema", "'" + schema + "' is not supported (expected '" + kFigureSchema + "')");
  std::string id = c.string(fig, "", "id", true, true);
  static const std::regex id_re("[A-Za-z0-9_.-]+");
  if (!std::regex_match(id, id_re) || id[0] == '.')
    c.fail("id", "'" + id + "' must use only letters, digits, '_', '-', '.' (it names the files)");
  c.string(fig, "", "title", true, true);
  c.string(fig, "", "study", true, true);
  c.string(fig, "", "caption", false);
  if (fig.contains("order") && !fig["order"].is_number_integer()) c.fail("order", "must be an integer");
  if (fig.contains("layout")) {
    const json& l = fig["layout"];
    if (!l.is_object()) c.fail("layout", "must be an object {width, height, equal_aspect}");
    if (l.contains("width")) c.one_of(c.string(l, "layout.", "width"), {"full", "half"}, "layout.width");
    if (l.contains("height") && (!l["height"].is_number_integer() || l["height"].get<int>() < 100 || l["height"].get<int>() > 3000))
      c.fail("layout.height", "must be an integer number of pixels in [100, 3000], got " + Check::shown(l["height"]));
    c.boolean(l, "layout.", "equal_aspect");
  }
  std::string kind = c.string(fig, "", "kind");
  c.one_of(kind, {"line", "heatmap", "contour", "table"}, "kind");

  if (kind == "line") {
    size_t ncat = c.axis(fig, "x", false);
    c.axis(fig, "y", false);
    bool has_y2 = fig.contains("y2");
    if (has_y2) c.axis(fig, "y2", false);
    const json& series = c.need(fig, "", "series");
    if (!series.is_array() || series.empty()) c.fail("series", "must be a non-empty array of {name, x, y}");
    for (size_t i = 0; i < series.size(); ++i) {
      const json& s = series[i];
      std::string f = "series[" + std::to_string(i) + "].";
      if (!s.is_object()) c.fail(f, "must be an object {name, x, y}");
      c.string(s, f, "name", true, true);
      size_t nx = c.number_array(s, f, "x"), ny = c.number_array(s, f, "y");
      if (nx != ny) c.fail(f + "y", "has " + std::to_string(ny) + " values but x has " + std::to_string(nx));
      c.x_indices(s["x"], f + "x", ncat);
      std::string axis = s.value("axis", "y");
      c.one_of(axis, {"y", "y2"}, f + "axis");
      if (axis == "y2" && !has_y2) c.fail(f + "axis", "is 'y2' but the figure has no 'y2' axis");
      c.one_of(s.value("dash", "solid"), {"solid", "dash", "dot", "dashdot"}, f + "dash");
      c.one_of(s.value("mode", "lines"), {"lines", "markers", "lines+markers"}, f + "mode");
      c.string(s, f, "color", false);
      c.string(s, f, "group", false);
    }
    c.overlays(fig, ncat);
  } else if (kind == "heatmap" || kind == "contour") {
    size_t nx = c.axis(fig, "x", true), ny = c.axis(fig, "y", true);
    c.value_scale(fig);
    c.matrix(fig, ny, nx);
    if (kind == "contour") {
      for (const char* a : {"x", "y"})
        if (fig[a].contains("categories")) c.fail(std::string(a) + ".categories", "a contour needs numeric grid 'values'");
      c.overlays(fig, 0);
    } else if (fig.contains("overlays")) {
      c.fail("overlays", "heatmaps take no overlays (use a contour for plane maps)");
    }
  } else {  // table
    const json& cols = c.need(fig, "", "columns");
    c.string_array(cols, "columns", false);
    if (cols.empty()) c.fail("columns", "must not be empty");
    const json& rows = c.need(fig, "", "rows");
    if (!rows.is_array()) c.fail("rows", "must be an array of rows");
    for (size_t i = 0; i < rows.size(); ++i) {
      std::string f = "rows[" + std::to_string(i) + "]";
      if (!rows[i].is_array() || rows[i].size() != cols.size())
        c.fail(f, "must be an array of " + std::to_string(cols.size()) + " cells, got " + Check::shown(rows[i]));
      for (size_t j = 0; j < cols.size(); ++j)
        if (rows[i][j].is_object() || rows[i][j].is_array())
          c.fail(f + "[" + std::to_string(j) + "]", "must be a number, string, bool or null");
    }
  }
}

json line_figure(const FigureInfo& info, const Axis& x, const Axis& y, const std::vector<LineSeries>& series,
                 const Overlays& overlays, const Axis& y2) {
  json j = base_json(info, "line");
  j["x"] = axis_json(x);
  j["y"] = axis_json(y);
  bool uses_y2 = false;
  j["series"] = json::array();
  for (const auto& s : series) {
    json sj = {{"name", s.name}, {"x", numbers(s.x)}, {"y", numbers(s.y)}, {"dash", s.dash}, {"mode", s.mode}};
    if (s.right_axis) {
      sj["axis"] = "y2";
      uses_y2 = true;
    }
    if (!s.color.empty()) sj["color"] = s.color;
    if (!s.group.empty()) sj["group"] = s.group;
    j["series"].push_back(sj);
  }
  if (uses_y2) j["y2"] = axis_json(y2);
  json o = overlays_json(overlays);
  if (!o.empty()) j["overlays"] = o;
  validate_figure(j, "figure '" + info.id + "'");
  return j;
}

json heatmap_figure(const FigureInfo& info, const Axis& x, const Axis& y, const ValueScale& z, const Matrix& m) {
  json j = base_json(info, "heatmap");
  j["x"] = axis_json(x);
  j["y"] = axis_json(y);
  j["z"] = value_scale_json(z);
  j["matrix"] = matrix_json(m);
  validate_figure(j, "figure '" + info.id + "'");
  return j;
}

json contour_figure(const FigureInfo& info, const Axis& x, const Axis& y, const ValueScale& z, const Matrix& m,
                    const Overlays& overlays) {
  json j = base_json(info, "contour");
  j["x"] = axis_json(x);
  j["y"] = axis_json(y);
  j["z"] = value_scale_json(z);
  j["matrix"] = matrix_json(m);
  json o = overlays_json(overlays);
  if (!o.empty()) j["overlays"] = o;
  validate_figure(j, "figure '" + info.id + "'");
  return j;
}

json table_figure(const FigureInfo& info, const std::vector<std::string>& columns,
                  const std::vector<std::vector<json>>& rows) {
  json j = base_json(info, "table");
  j["columns"] = columns;
  j["rows"] = json::array();
  for (const auto& r : rows) {
    json row = json::array();
    for (const auto& cell : r) row.push_back(cell.is_number_float() ? number_or_null(cell.get<double>()) : cell);
    j["rows"].push_back(row);
  }
  validate_figure(j, "figure '" + info.id + "'");
  return j;
}

}  // namespace closerlook
