// report.html: one self-contained page (plotly.js, data and style inlined; no network needed to
// view it) built from a run folder's figures/*.json and summary.json (docs/report.md).
#pragma once
#include <cstddef>
#include <string>

namespace closerlook {

// Where the pinned plotly bundle lives below the resource root (core/resources.h): scripts/setup
// copies it there out of the pinned plotly wheel, `cmake --install` puts it beside the presets.
inline constexpr const char* kPlotlyRelativePath = "report/assets/plotly.min.js";

// Finds plotly.min.js: `explicit_path` (a --plotly option) if given, else the
// CLOSERLOOK_PLOTLY environment variable, else <resource_root>/<kPlotlyRelativePath>.
// Error(BadInput) naming every place tried, and telling to run scripts/setup, if none exists.
std::string locate_plotly(const std::string& explicit_path, const std::string& resource_root);

struct ReportOptions {
  std::string run_dir;
  std::string out_path;     // "" = <run_dir>/report.html
  std::string plotly_path;  // from locate_plotly
  std::string title;        // "" = "closerlook report: <run folder name>"
};

struct ReportResult {
  std::string path;
  std::size_t bytes = 0;
  int figures = 0;  // every figure on the page
  int plots = 0;    // figures drawn by plotly (all but tables): what a browser should render
  int claims = 0;
};

// Reads the run folder, validates every figure and claim (Error(BadInput) naming the file and
// field), and writes the page atomically.
ReportResult write_report(const ReportOptions& opts);

}  // namespace closerlook
