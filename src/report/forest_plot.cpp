#include "report/forest_plot.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <vector>

namespace closerlook {

using json = nlohmann::json;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double num(const json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_number() ? j[key].get<double>() : kNaN;
}
double bound(const json& e, int i, double unbounded) {
  if (!e.is_object() || !e.contains("interval") || !e["interval"].is_array() || e["interval"].size() != 2) return unbounded;
  const json& b = e["interval"][i];
  return b.is_number() && std::isfinite(b.get<double>()) ? b.get<double>() : unbounded;
}
std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '&') o += "&amp;";
    else if (c == '"') o += "&quot;";
    else o += c;
  }
  return o;
}
std::string fmt(double v) {
  char b[32];
  std::snprintf(b, sizeof(b), "%.3g", v);
  return b;
}
const char* colour(const std::string& verdict) {
  return verdict == "held" ? "#17622c" : verdict == "not held" ? "#9b1c1c" : "#7a5800";
}

struct Row {
  std::string label, verdict, side;
  double effect, lo, hi, null_value;
  bool has_control = false;
  std::string control_verdict;
  double c_effect = kNaN, c_lo = kNaN, c_hi = kNaN;
};

}  // namespace

std::string forest_plot_svg(const json& claims) {
  std::vector<Row> rows;
  if (!claims.is_array()) return "";
  for (const auto& c : claims) {
    const json e = c.value("estimate", json());
    const double effect = num(e, "effect");
    if (!std::isfinite(effect)) continue;
    Row r;
    const json& numbers = c.value("numbers", json::object());
    r.label = numbers.contains("check") && numbers["check"].is_string() ? numbers["check"].get<std::string>()
                                                                          : c.value("claim", "");
    r.verdict = c.value("verdict", "inconclusive");
    r.side = e.value("side", "greater");
    r.effect = effect;
    r.lo = bound(e, 0, -INFINITY);
    r.hi = bound(e, 1, INFINITY);
    r.null_value = num(e, "null");
    const json k = c.value("control", json());
    if (k.is_object() && std::isfinite(num(k, "effect"))) {
      r.has_control = true;
      r.control_verdict = k.value("verdict", "inconclusive");
      r.c_effect = num(k, "effect");
      r.c_lo = bound(k, 0, -INFINITY);
      r.c_hi = bound(k, 1, INFINITY);
    }
    rows.push_back(r);
  }
  if (rows.empty()) return "";

  const double label_w = 290, plot_w = 420, pad = 16, row_h = 46, top = 44;
  const double width = label_w + plot_w + 2 * pad, height = top + row_h * rows.size() + 12;
  std::ostringstream s;
  s << "<svg class=\"forest\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " << width << ' ' << height
    << "\" width=\"" << width << "\" height=\"" << height << "\" role=\"img\" aria-label=\"forest plot of the claims\">\n"
    << "<text x=\"" << pad << "\" y=\"16\" font-size=\"12\" fill=\"#444\">Effect and interval of each claim, "
    << "each row on its own axis (units differ).</text>\n<text x=\"" << pad
    << "\" y=\"32\" font-size=\"12\" fill=\"#444\">Dashed: the null; shaded: the claimed side; hollow dot: the "
    << "negative control; arrow: an unbounded end.</text>\n";
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    const double y0 = top + row_h * i, yc = y0 + row_h / 2;
    // The row's axis: every finite value of the row, the null included, with 10% padding.
    std::vector<double> vals = {r.effect, r.null_value};
    for (double v : {r.lo, r.hi, r.c_effect, r.c_lo, r.c_hi})
      if (std::isfinite(v)) vals.push_back(v);
    vals.erase(std::remove_if(vals.begin(), vals.end(), [](double v) { return !std::isfinite(v); }), vals.end());
    double lo = *std::min_element(vals.begin(), vals.end()), hi = *std::max_element(vals.begin(), vals.end());
    const double span = hi - lo > 0 ? hi - lo : std::max(std::abs(hi), 1e-3);
    lo -= 0.1 * span;
    hi += 0.1 * span;
    const double x0 = label_w + pad, x1 = x0 + plot_w;
    auto X = [&](double v) {
      if (v == -INFINITY) return x0;
      if (v == INFINITY) return x1;
      return x0 + (v - lo) / (hi - lo) * plot_w;
    };
    if (i % 2 == 0)
      s << "<rect x=\"0\" y=\"" << y0 << "\" width=\"" << width << "\" height=\"" << row_h << "\" fill=\"#f6f7f9\"/>\n";
    s << "<text x=\"" << pad << "\" y=\"" << yc + 4 << "\" font-size=\"11.5\" fill=\"" << colour(r.verdict) << "\">"
      << esc(r.label) << " (" << esc(r.verdict) << ")</text>\n";
    if (std::isfinite(r.null_value)) {
      const double xn = X(r.null_value);
      const double sx = r.side == "less" ? x0 : xn, sw = r.side == "less" ? xn - x0 : x1 - xn;
      s << "<rect x=\"" << sx << "\" y=\"" << y0 + 4 << "\" width=\"" << std::max(0.0, sw) << "\" height=\""
        << row_h - 8 << "\" fill=\"#e3f1e6\" opacity=\"0.7\"/>\n";
      s << "<line x1=\"" << xn << "\" x2=\"" << xn << "\" y1=\"" << y0 + 2 << "\" y2=\"" << y0 + row_h - 2
        << "\" stroke=\"#555\" stroke-dasharray=\"4 3\"/>\n";
    }
    s << "<text x=\"" << x0 << "\" y=\"" << y0 + row_h - 3 << "\" font-size=\"9\" fill=\"#777\">" << fmt(lo)
      << "</text><text x=\"" << x1 << "\" y=\"" << y0 + row_h - 3 << "\" font-size=\"9\" fill=\"#777\" "
      << "text-anchor=\"end\">" << fmt(hi) << "</text>\n";
    auto bar = [&](double e, double l, double h, double y, const char* col, bool hollow, const std::string& tip) {
      s << "<g><title>" << esc(tip) << "</title><line x1=\"" << X(l) << "\" x2=\"" << X(h) << "\" y1=\"" << y
        << "\" y2=\"" << y << "\" stroke=\"" << col << "\" stroke-width=\"2\"/>";
      if (!std::isfinite(l)) s << "<path d=\"M" << x0 << ' ' << y << " l6 -4 v8 z\" fill=\"" << col << "\"/>";
      if (!std::isfinite(h)) s << "<path d=\"M" << x1 << ' ' << y << " l-6 -4 v8 z\" fill=\"" << col << "\"/>";
      s << "<circle cx=\"" << X(e) << "\" cy=\"" << y << "\" r=\"4.5\" fill=\"" << (hollow ? "white" : col)
        << "\" stroke=\"" << col << "\" stroke-width=\"2\"/></g>\n";
    };
    bar(r.effect, r.lo, r.hi, r.has_control ? yc - 6 : yc, colour(r.verdict), false,
        r.label + ": " + fmt(r.effect) + " [" + fmt(r.lo) + ", " + fmt(r.hi) + "], null " + fmt(r.null_value));
    if (r.has_control)
      bar(r.c_effect, r.c_lo, r.c_hi, yc + 8, colour(r.control_verdict), true,
          "control (" + r.control_verdict + "): " + fmt(r.c_effect) + " [" + fmt(r.c_lo) + ", " + fmt(r.c_hi) + "]");
  }
  s << "</svg>\n";
  return s.str();
}

}  // namespace closerlook
