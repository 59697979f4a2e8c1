// Figure specs: the contract between the study pipeline and the report (docs/artifacts.md).
// A study emits each figure with one call, e.g.
//   write_figure(run_dir, line_figure({"sgdr-lr", "Learning rate", "sgdr", "caption"},
//                                     {"epoch"}, {"learning rate", "", true}, series));
// which writes RUN_DIR/figures/<id>.json (the spec, full precision) and <id>.csv (its data in a
// form pandas reads directly). `closerlook report` reads only these files and summary.json, so
// the report never needs the models, and anyone can replot the numbers in Python.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace closerlook {

inline constexpr const char* kFigureSchema = "closerlook.figure/1";

// What every figure has. `id` names the files (figures/<id>.json) and the page anchor, so it is
// restricted to [A-Za-z0-9_.-]; `study` names the report section it appears in.
struct FigureInfo {
  std::string id;
  std::string title;
  std::string study;         // "resilience" | "sgdr" | "warmup" | "distillation" | any other key
  std::string caption;       // what is plotted and what a reader should look for
  int order = 0;             // position within the study's section (ties broken by id)
  bool half_width = false;   // two consecutive half-width figures share a row
  int height = 0;            // plot height in px; 0 = the default for the kind
  bool equal_aspect = false; // same scale on x and y (plane coordinates)
};

// An axis: its label and unit are shown as "label (unit)". A categorical axis (layer names, run
// names, checkpoint tags) lists its `categories`; line-series x values are then indices into
// them. Heatmaps and contours give either `categories` or numeric grid `values`.
struct Axis {
  std::string label;
  std::string unit;
  bool log = false;
  std::vector<std::string> categories;
  std::vector<double> values;
  bool reversed = false;  // e.g. first layer at the top of a layer x layer heatmap
};

// The quantity a heatmap or contour colours ("the measure").
struct ValueScale {
  std::string label;               // e.g. "PWCCA similarity", "train loss"
  std::string unit;
  bool log = false;                // colour log10(value); hover still shows the value itself
  bool diverging = false;          // blue-white-red scale centred at 0 (difference heatmaps)
  std::optional<double> min, max;  // fixed colour range (default: the data's range)
  bool show_values = false;        // print each cell's value (small heatmaps only)
};

struct LineSeries {
  std::string name;            // legend entry: run name, "straight line", "curve"
  std::vector<double> x, y;    // non-finite y values are gaps
  bool right_axis = false;     // plot against the figure's second y axis (y2)
  std::string dash = "solid";  // solid | dash | dot | dashdot
  std::string mode = "lines";  // lines | markers | lines+markers
  std::string color;           // CSS colour; "" = the palette
  std::string group;           // series with the same group toggle together in the legend
};

// Markers drawn over a plot: endpoints, bends, projected iterates.
struct PointMarkers {
  std::string name;
  std::vector<double> x, y;
  std::vector<std::string> labels;  // one per point (or none): hover text, and on the plot if show_labels
  bool show_labels = true;          // set false for many points (projected iterates)
  bool connect = false;             // join the points in order (a trajectory)
  std::string symbol = "circle";    // circle | square | diamond | cross | x | star | triangle-up
  std::string color;
};

// A polyline drawn over a plot, e.g. the Bezier curve in plane coordinates.
struct CurveOverlay {
  std::string name;
  std::vector<double> x, y;
  std::string dash = "solid";
  std::string color;
};

// A labelled vertical (x = at) or horizontal (y = at) line, e.g. an SGDR restart.
struct ReferenceLine {
  double at = 0;
  std::string label;
};

struct Overlays {
  std::vector<PointMarkers> points;
  std::vector<CurveOverlay> curves;
  std::vector<ReferenceLine> vlines, hlines;
};

// m[i][j] is the value at (x[j], y[i]): rows follow the y axis, columns the x axis.
using Matrix = std::vector<std::vector<double>>;

// Builders. Each returns a validated spec (throws Error(BadInput) naming the figure and field).
// `y2` is the right-hand axis used by series with right_axis = true (ignored otherwise).
nlohmann::json line_figure(const FigureInfo& info, const Axis& x, const Axis& y, const std::vector<LineSeries>& series,
                           const Overlays& overlays = {}, const Axis& y2 = {});
nlohmann::json heatmap_figure(const FigureInfo& info, const Axis& x, const Axis& y, const ValueScale& z,
                              const Matrix& m);
nlohmann::json contour_figure(const FigureInfo& info, const Axis& x, const Axis& y, const ValueScale& z,
                              const Matrix& m, const Overlays& overlays = {});
// A table of numbers or text (cells: number, string, bool or null).
nlohmann::json table_figure(const FigureInfo& info, const std::vector<std::string>& columns,
                            const std::vector<std::vector<nlohmann::json>>& rows);

// Checks a spec against docs/artifacts.md. `where` prefixes every message (usually the file).
void validate_figure(const nlohmann::json& fig, const std::string& where);

// The figure's data as CSV: line = long format (series,x,y,y_label); heatmap/contour = the matrix
// with y entries down the first column and x entries across the header; table = the table.
std::string figure_csv(const nlohmann::json& fig);

// Validates and writes RUN_DIR/figures/<id>.json and <id>.csv atomically; returns the JSON path.
std::string write_figure(const std::string& run_dir, const nlohmann::json& fig);

// Every RUN_DIR/figures/*.json, validated (the id must match the file name), sorted by
// (study, order, id). A missing figures/ folder is an empty list.
std::vector<nlohmann::json> read_figures(const std::string& run_dir);

// "label (unit)" or "label".
std::string axis_title(const nlohmann::json& axis);

}  // namespace closerlook
