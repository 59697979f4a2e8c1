// report.html from a synthetic run folder: self-contained, every figure present, small, escaped,
// and clear errors when plotly or a figure is wrong.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <regex>

#include "core/atomic_file.h"
#include "core/error.h"
#include "report/forest_plot.h"
#include "report/html_report.h"
#include "synthetic_run.h"

namespace closerlook {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string temp_dir() {
  std::string tmpl = (fs::temp_directory_path() / "cl_report_html_XXXXXX").string();
  EXPECT_NE(::mkdtemp(tmpl.data()), nullptr);
  return tmpl;
}

// A stand-in for plotly.js, so these tests need no npm install; the browser test uses the real one.
std::string fake_plotly(const std::string& dir) {
  std::string path = dir + "/fake-plotly.js";
  write_file_atomic(path, "window.Plotly = {newPlot: function () { return Promise.resolve(); }};\n");
  return path;
}

// The page without the contents of its <script> elements (the markup a browser would fetch from).
// (String search, not std::regex: libstdc++'s regex recurses per character and would overflow
// the stack on the 1.5 MB plotly bundle.)
std::string markup_only(const std::string& html) {
  std::string out;
  size_t pos = 0;
  while (true) {
    size_t open = html.find("<script", pos);
    if (open == std::string::npos) break;
    size_t body = html.find('>', open);
    size_t close = html.find("</script>", body);
    if (body == std::string::npos || close == std::string::npos) break;
    out += html.substr(pos, body + 1 - pos);
    pos = close;
  }
  return out + html.substr(pos);
}

// The text of the element that starts with `open_tag`.
std::string element_text(const std::string& html, const std::string& open_tag, const std::string& close_tag) {
  size_t a = html.find(open_tag);
  if (a == std::string::npos) return "";
  a += open_tag.size();
  size_t b = html.find(close_tag, a);
  return b == std::string::npos ? "" : html.substr(a, b - a);
}

class HtmlReport : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = temp_dir();
    run = testing::write_synthetic_run(dir + "/run");
    plotly = fake_plotly(dir);
  }
  void TearDown() override { fs::remove_all(dir); }
  std::string dir, plotly;
  testing::SyntheticRun run;
};

TEST_F(HtmlReport, IsSelfContainedAndHasEveryFigure) {
  ReportResult r = write_report({dir + "/run", "", plotly, ""});
  EXPECT_EQ(r.path, dir + "/run/report.html");
  EXPECT_EQ(r.figures, static_cast<int>(run.figure_ids.size()));
  EXPECT_EQ(r.plots, run.plots);
  EXPECT_EQ(r.claims, 3);
  std::string html = read_file(r.path);
  EXPECT_EQ(html.size(), r.bytes);
  EXPECT_NE(html.find(read_file(plotly)), std::string::npos) << "plotly is inlined";

  std::string markup = markup_only(html);
  EXPECT_FALSE(std::regex_search(markup, std::regex("<script[^>]*\\ssrc\\s*=", std::regex::icase))) << "no external script";
  EXPECT_FALSE(std::regex_search(markup, std::regex("<link\\b", std::regex::icase))) << "no external style sheet";
  EXPECT_FALSE(std::regex_search(markup, std::regex("(src|href)\\s*=\\s*\"(https?:)?//", std::regex::icase)))
      << "nothing loaded from the network";
  EXPECT_EQ(markup.find("@import"), std::string::npos);

  for (const auto& id : run.figure_ids) {
    EXPECT_NE(html.find("id=\"fig-" + id + "\""), std::string::npos) << id;
    EXPECT_NE(html.find("href=\"figures/" + id + ".csv\""), std::string::npos) << id;
  }
  // One plot element per plotly figure, each with its spec inlined.
  json figs = json::parse(element_text(html, "<script type=\"application/json\" id=\"cl-figure-data\">", "</script>"));
  ASSERT_EQ(static_cast<int>(figs.size()), run.plots);
  for (const auto& f : figs) EXPECT_NE(html.find("id=\"plot-" + f["id"].get<std::string>() + "\""), std::string::npos);

  // Header metadata and the claims table with coloured verdicts.
  EXPECT_NE(html.find(run.config_hash), std::string::npos);
  EXPECT_NE(html.find(run.git_commit), std::string::npos);
  EXPECT_NE(html.find("testhost"), std::string::npos);
  EXPECT_NE(html.find("class=\"verdict held\""), std::string::npos);
  EXPECT_NE(html.find("class=\"verdict not-held\""), std::string::npos);
  EXPECT_NE(html.find("class=\"verdict inconclusive\""), std::string::npos);
  EXPECT_NE(html.find("barrier_line = 1.62"), std::string::npos);
  // Sections in the paper's order, each in the contents.
  size_t a = html.find("id=\"study-resilience\""), b = html.find("id=\"study-sgdr\""),
         c = html.find("id=\"study-warmup\""), d = html.find("id=\"study-distillation\"");
  ASSERT_TRUE(a != std::string::npos && b != std::string::npos && c != std::string::npos && d != std::string::npos);
  EXPECT_TRUE(a < b && b < c && c < d);
  EXPECT_NE(html.find("href=\"#study-warmup\""), std::string::npos);
  // Small: the page is the plotly bundle plus a few tens of kB for this run.
  EXPECT_LT(html.size(), read_file(plotly).size() + 200 * 1024);
}

TEST_F(HtmlReport, InlinedDataIsRoundedButFilesKeepFullPrecision) {
  json fig = line_figure({"precise", "P", "sgdr", ""}, {"x"}, {"y"}, {{"s", {0.1234567891234}, {9.87654321987e-5}}});
  write_figure(dir + "/run", fig);
  std::string html = read_file(write_report({dir + "/run", dir + "/out/r.html", plotly, ""}).path);
  EXPECT_NE(html.find("[0.123457]"), std::string::npos);
  EXPECT_NE(html.find("[9.87654e-05]"), std::string::npos);
  EXPECT_EQ(html.find("0.1234567891234"), std::string::npos);
  EXPECT_NE(read_file(dir + "/run/figures/precise.json").find("0.1234567891234"), std::string::npos);
  // A report written elsewhere links back to the run folder's data files.
  EXPECT_NE(html.find("href=\"../run/figures/precise.csv\""), std::string::npos);
}

TEST_F(HtmlReport, TextFromSpecsCannotBreakThePage) {
  json fig = line_figure({"evil", "</script><script>alert(1)</script>", "sgdr", "<img src=x onerror=alert(2)>"},
                         {"x"}, {"y"}, {{"</script>", {0}, {1}}});
  write_figure(dir + "/run", fig);
  std::string html = read_file(write_report({dir + "/run", "", plotly, ""}).path);
  EXPECT_EQ(html.find("<script>alert(1)"), std::string::npos);
  EXPECT_EQ(html.find("<img src=x"), std::string::npos);
  EXPECT_NE(html.find("&lt;/script&gt;&lt;script&gt;alert(1)"), std::string::npos) << "shown as text in the contents";
  EXPECT_NE(html.find("\\u003c/script>\\u003cscript>alert(1)"), std::string::npos) << "escaped in the inlined JSON";
}

TEST_F(HtmlReport, ClearErrorsForMissingPlotlyAndBadFigures) {
  const char* saved = std::getenv("CLOSERLOOK_PLOTLY");
  std::string saved_value = saved ? saved : "";
  ::unsetenv("CLOSERLOOK_PLOTLY");
  try {
    locate_plotly("", dir + "/no-source-tree");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("scripts/setup"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(dir + "/no-source-tree/report/assets"), std::string::npos) << e.what();
  }
  ::setenv("CLOSERLOOK_PLOTLY", plotly.c_str(), 1);
  EXPECT_EQ(locate_plotly("", dir + "/no-source-tree"), plotly);
  EXPECT_EQ(locate_plotly(plotly, ""), plotly);
  ::setenv("CLOSERLOOK_PLOTLY", (dir + "/missing.js").c_str(), 1);
  EXPECT_THROW(locate_plotly("", ""), Error);
  if (saved) ::setenv("CLOSERLOOK_PLOTLY", saved_value.c_str(), 1);
  else ::unsetenv("CLOSERLOOK_PLOTLY");

  write_file_atomic(dir + "/run/figures/broken.json", R"({"schema": "closerlook.figure/1", "id": "broken", "title": "B",
      "study": "sgdr", "kind": "heatmap", "x": {"label": "x", "categories": ["a"]}, "y": {"label": "y", "categories": ["b"]},
      "z": {"label": "z"}, "matrix": [[1, 2]]})");
  try {
    write_report({dir + "/run", "", plotly, ""});
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("broken.json"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("matrix[0]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(write_report({dir + "/empty-nothing", "", plotly, ""}), Error);
}

}  // namespace
}  // namespace closerlook

// The forest plot: one row per claim with an estimate, the control as a hollow dot, unbounded
// intervals as arrows; nothing without estimates.
TEST(ForestPlot, RowsForClaimsWithEstimates) {
  using nlohmann::json;
  json with = {{"study", "sgdr"}, {"claim", "c1"}, {"verdict", "held"}, {"numbers", {{"check", "sgdr.a"}}},
               {"estimate", {{"effect", 0.5}, {"interval", {0.3, 0.7}}, {"null", 0.05}, {"side", "greater"}}},
               {"control", {{"verdict", "not held"}, {"effect", 0.0}, {"interval", {-0.1, 0.04}}, {"null", 0.05}}}};
  json open = {{"study", "warmup"}, {"claim", "c2"}, {"verdict", "inconclusive"}, {"numbers", {{"check", "warmup.b"}}},
               {"estimate", {{"effect", 0.1}, {"interval", {nullptr, nullptr}}, {"null", 0.0}, {"side", "less"}}}};
  json none = {{"study", "x"}, {"claim", "c3"}, {"verdict", "held"}};
  EXPECT_EQ(closerlook::forest_plot_svg(json::array({none})), "");
  const std::string svg = closerlook::forest_plot_svg(json::array({with, open, none}));
  ASSERT_FALSE(svg.empty());
  EXPECT_NE(svg.find("sgdr.a (held)"), std::string::npos);
  EXPECT_NE(svg.find("warmup.b (inconclusive)"), std::string::npos);
  EXPECT_EQ(svg.find("c3"), std::string::npos);
  auto count = [&](const std::string& needle) {
    size_t n = 0;
    for (size_t p = svg.find(needle); p != std::string::npos; p = svg.find(needle, p + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count("<circle"), 3u);           // two effects and one control
  EXPECT_EQ(count("fill=\"white\""), 1u);    // the control is hollow
  EXPECT_EQ(count("<path d="), 2u);          // both ends of the open interval
  EXPECT_EQ(count("stroke-dasharray"), 2u);  // one null line per row
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  EXPECT_EQ(svg.find("inf\""), std::string::npos);
}
