// Renders a synthetic run's report.html in headless Chromium (Debian `chromium`) with the real
// plotly bundle (report/assets/plotly.min.js, copied out of the pinned plotly wheel by
// scripts/setup): no console errors, every plot drawn, and a screenshot for a person to look at
// (CL_BINARY_DIR/report_screenshot.png). Skips only if chromium or plotly is not installed, and
// fails instead in CI (tests/common/require.h).
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "../common/require.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "report/html_report.h"
#include "synthetic_run.h"

namespace closerlook {
namespace {

namespace fs = std::filesystem;

const char* const kChromium = "/usr/bin/chromium";

// The attribute value in `<tag ... name="value"` of the first `<tag` element ("" if absent).
std::string attribute(const std::string& dom, const std::string& tag, const std::string& name) {
  size_t start = dom.find("<" + tag);
  if (start == std::string::npos) return "";
  size_t end = dom.find('>', start);
  std::string open = dom.substr(start, end - start);
  size_t a = open.find(" " + name + "=\"");
  if (a == std::string::npos) return "";
  a += name.size() + 3;
  return open.substr(a, open.find('"', a) - a);
}

std::string chromium_command(const std::string& profile, const std::string& extra, const std::string& url) {
  // The flags keep a headless run off the network and free of first-run work; virtual time lets
  // the page finish its plotly promises before the DOM is dumped or the screenshot taken.
  return std::string("timeout 120 ") + kChromium +
         " --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking"
         " --disable-component-update --disable-sync --disable-default-apps --mute-audio --hide-scrollbars"
         " --user-data-dir=" + profile + " --virtual-time-budget=10000 " + extra + " '" + url + "'";
}

TEST(BrowserRender, ReportRendersEveryPlotWithoutErrors) {
  CL_REQUIRE_OR_SKIP(fs::exists(kChromium), kChromium << " not installed (scripts/setup installs it)");
  std::string plotly, missing_plotly;
  try {
    plotly = locate_plotly("", CL_SOURCE_DIR);
  } catch (const Error& e) {
    missing_plotly = e.what();
  }
  CL_REQUIRE_OR_SKIP(missing_plotly.empty(), missing_plotly);
  // This process's own folder: two test runs in one build folder never share files.
  const fs::path work = fs::path(CL_BINARY_DIR) / ("report-browser-test-" + std::to_string(::getpid()));
  fs::remove_all(work);
  fs::create_directories(work);
  testing::SyntheticRun run = testing::write_synthetic_run((work / "run").string());
  ReportResult r = write_report({(work / "run").string(), "", plotly, ""});
  ASSERT_EQ(r.plots, run.plots);
  EXPECT_LT(r.bytes, fs::file_size(plotly) + 200 * 1024) << "report should be plotly plus a little data";

  std::string profile = (work / "profile-XXXXXX").string();
  ASSERT_NE(::mkdtemp(profile.data()), nullptr);
  const std::string url = "file://" + fs::absolute(r.path).string();
  const std::string dom_path = (work / "dom.html").string(), log_path = (work / "chromium.log").string();

  // One browser run (each costs seconds) dumps the DOM and takes the screenshot; the tall window
  // shows the header, the claims and several studies.
  const std::string shot = (work / "report_screenshot.png").string();
  int rc = std::system((chromium_command(profile, "--window-size=1280,4200 --screenshot=" + shot + " --dump-dom", url) +
                        " > " + dom_path + " 2> " + log_path).c_str());
  ASSERT_EQ(rc, 0) << "chromium failed; see " << log_path;
  std::string dom = read_file(dom_path);
  ASSERT_FALSE(dom.empty()) << "chromium dumped no DOM; see " << log_path;

  // The page's own error hooks (window.onerror, rejections, console.error/warn) write here.
  size_t box = dom.find("id=\"cl-errors\"");
  ASSERT_NE(box, std::string::npos);
  size_t text_start = dom.find('>', box) + 1;
  std::string errors = dom.substr(text_start, dom.find("</pre>", text_start) - text_start);
  EXPECT_EQ(errors, "") << "errors recorded by the page";
  EXPECT_EQ(attribute(dom, "html", "data-errors"), "");
  EXPECT_EQ(attribute(dom, "body", "data-render-done"), "1");
  EXPECT_EQ(attribute(dom, "body", "data-plots-rendered"), std::to_string(run.plots));
  // Every plot holds an SVG drawn by plotly, with its modebar (PNG download).
  size_t drawn = 0;
  for (size_t p = dom.find("class=\"main-svg\""); p != std::string::npos; p = dom.find("class=\"main-svg\"", p + 1)) ++drawn;
  EXPECT_GE(drawn, static_cast<size_t>(run.plots));
  EXPECT_NE(dom.find("data-title=\"Download plot as a PNG\""), std::string::npos) << "modebar PNG button";
  EXPECT_EQ(dom.find("data-title=\"Share chart"), std::string::npos) << "no cloud button in an offline report";

  ASSERT_TRUE(fs::exists(shot)) << "no screenshot; see " << log_path;
  std::string png = read_file(shot);
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_GT(png.size(), 50u * 1024) << "a near-empty screenshot means nothing was drawn";
  // The screenshot for a person: CL_BINARY_DIR/report_screenshot.png, replaced in one rename.
  fs::rename(shot, fs::path(CL_BINARY_DIR) / "report_screenshot.png");
  if (!HasFailure()) fs::remove_all(work);  // kept (DOM, chromium log) when something failed
}

}  // namespace
}  // namespace closerlook
