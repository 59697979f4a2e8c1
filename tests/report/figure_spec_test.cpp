// Figure specs: builders, validation messages, CSV and file round trips, claims, rounding.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <filesystem>
#include <random>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_io.h"
#include "report/claims.h"
#include "report/figure_spec.h"
#include "report/json_rounding.h"

namespace closerlook {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string temp_dir() {
  std::string tmpl = (fs::temp_directory_path() / "cl_report_test_XXXXXX").string();
  EXPECT_NE(::mkdtemp(tmpl.data()), nullptr);
  return tmpl;
}

// A minimal RFC 4180 reader: enough to check what pandas would read.
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows(1);
  std::string field;
  bool quoted = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') field += '"', ++i;
      else if (c == '"') quoted = false;
      else field += c;
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      rows.back().push_back(field), field.clear();
    } else if (c == '\n') {
      rows.back().push_back(field), field.clear();
      rows.emplace_back();
    } else {
      field += c;
    }
  }
  if (rows.back().empty()) rows.pop_back();
  return rows;
}

// Expects `fn` to throw closerlook::Error whose message contains every piece in `parts`.
template <typename Fn>
void expect_error(Fn fn, std::vector<std::string> parts) {
  try {
    fn();
    ADD_FAILURE() << "no error; expected one mentioning " << parts.front();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::BadInput);
    for (const auto& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what() << "\n  lacks: " << p;
  }
}

json a_line_figure() {
  return line_figure({"curves", "Curves", "sgdr", "caption"}, {"epoch"}, {"loss", "nats", true},
                     {{"run \"a\", seed 1", {0, 1, 2}, {2.5, 1.25, std::nan("")}}, {"run b", {0, 2}, {3.0, 0.5}, true}}, {},
                     {"learning rate"});
}

TEST(FigureSpec, LineFigureWritesJsonAndCsvThatReadBack) {
  std::string dir = temp_dir();
  json fig = a_line_figure();
  EXPECT_EQ(fig["series"][0]["y"][2], nullptr) << "NaN must become null (a gap)";
  EXPECT_EQ(fig["series"][1]["axis"], "y2");
  EXPECT_EQ(fig["y2"]["label"], "learning rate");
  std::string path = write_figure(dir, fig);
  EXPECT_EQ(path, dir + "/figures/curves.json");
  std::vector<json> back = read_figures(dir);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0], fig);

  auto rows = parse_csv(read_file(dir + "/figures/curves.csv"));
  ASSERT_EQ(rows.size(), 1u + 3 + 2);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"series", "epoch", "y", "y_label"}));
  // Every point comes back: name (with its comma and quotes), x, y (empty = NaN), its axis label.
  size_t r = 1;
  for (const auto& s : fig["series"]) {
    for (size_t i = 0; i < s["x"].size(); ++i, ++r) {
      ASSERT_EQ(rows[r].size(), 4u);
      EXPECT_EQ(rows[r][0], s["name"].get<std::string>());
      EXPECT_DOUBLE_EQ(std::stod(rows[r][1]), s["x"][i].get<double>());
      if (s["y"][i].is_null()) EXPECT_EQ(rows[r][2], "");
      else EXPECT_DOUBLE_EQ(std::stod(rows[r][2]), s["y"][i].get<double>());
      EXPECT_EQ(rows[r][3], s.value("axis", "y") == "y2" ? "learning rate" : "loss (nats)");
    }
  }
  fs::remove_all(dir);
}

TEST(FigureSpec, HeatmapCsvHasAxisEntriesAndMatrix) {
  std::vector<std::string> xs = {"conv1", "conv2", "fc"}, ys = {"a", "b"};
  Matrix m = {{0.1, 0.2, 0.3}, {0.4, 0.123456789012, -1}};
  json fig = heatmap_figure({"h", "H", "warmup", ""}, {"teacher layer", "", false, xs}, {"student layer", "", false, ys},
                            {"CKA"}, m);
  auto rows = parse_csv(figure_csv(fig));
  ASSERT_EQ(rows.size(), 3u);
  ASSERT_EQ(rows[0].size(), 4u);
  for (size_t j = 0; j < xs.size(); ++j) EXPECT_EQ(rows[0][j + 1], xs[j]);
  for (size_t i = 0; i < ys.size(); ++i) {
    EXPECT_EQ(rows[i + 1][0], ys[i]);
    for (size_t j = 0; j < xs.size(); ++j) EXPECT_NEAR(std::stod(rows[i + 1][j + 1]), m[i][j], 1e-9 * std::abs(m[i][j]));
  }
  EXPECT_NE(rows[0][0].find("CKA"), std::string::npos) << "the corner names the measure";
}

TEST(FigureSpec, ContourKeepsOverlaysAndTableCells) {
  Overlays o;
  o.points.push_back({"ends", {0, 1}, {0, 0}, {"w70", "w150"}});
  o.curves.push_back({"curve", {0, 0.5, 1}, {0, 1, 0}});
  json c = contour_figure({"p", "Plane", "sgdr", "", 0, false, 0, true}, {"u", "", false, {}, {0, 1}},
                          {"v", "", false, {}, {0, 1, 2}}, {"loss", "", true}, {{1, 2}, {3, 4}, {5, 6}}, o);
  EXPECT_EQ(c["overlays"]["points"][0]["labels"][1], "w150");
  EXPECT_EQ(c["overlays"]["curves"][0]["y"][1], 1.0);
  EXPECT_EQ(c["layout"]["equal_aspect"], true);
  EXPECT_EQ(c["z"]["log"], true);
  json t = table_figure({"t", "T", "sgdr", ""}, {"model", "acc"}, {{"a, b", 0.5}, {"c", nullptr}});
  auto rows = parse_csv(figure_csv(t));
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[1][0], "a, b");
  EXPECT_EQ(rows[2][1], "");
}

TEST(FigureSpec, ValidationNamesTheFieldAndValue) {
  expect_error([] { line_figure({"x", "X", "s", ""}, {"e"}, {"l"}, {{"a", {0, 1}, {1}}}); }, {"series[0].y", "1 values", "x has 2"});
  expect_error([] { line_figure({"bad/id", "X", "s", ""}, {"e"}, {"l"}, {{"a", {0}, {1}}}); }, {"'id'", "bad/id"});
  expect_error([] { line_figure({"x", "X", "s", ""}, {"e"}, {"l"}, {}); }, {"'series'", "non-empty"});
  expect_error([] { line_figure({"x", "X", "s", ""}, {"layer", "", false, {"a", "b"}}, {"l"}, {{"s", {0, 2}, {1, 1}}}); },
               {"series[0].x[1]", "0..1", "2"});
  expect_error([] { heatmap_figure({"h", "H", "s", ""}, {"x", "", false, {"a", "a"}}, {"y", "", false, {"r"}}, {"z"}, {{1, 2}}); },
               {"x.categories[1]", "duplicate", "'a'"});
  expect_error([] { heatmap_figure({"h", "H", "s", ""}, {"x", "", false, {"a"}}, {"y", "", false, {"r", "s"}}, {"z"}, {{1}}); },
               {"'matrix'", "1 rows", "2 entries"});
  expect_error([] { heatmap_figure({"h", "H", "s", ""}, {"x", "", false, {"a"}}, {"y", "", false, {"r"}}, {"z", "", false, false, 1.0, 0.0}, {{1}}); },
               {"z.max"});
  json fig = a_line_figure();
  fig["kind"] = "pie";
  expect_error([&] { validate_figure(fig, "figures/curves.json"); }, {"figures/curves.json", "'kind'", "'pie'", "line"});
  fig = a_line_figure();
  fig.erase("y2");
  expect_error([&] { validate_figure(fig, "f.json"); }, {"series[1].axis", "no 'y2'"});
  fig = a_line_figure();
  fig["series"][0]["y"][0] = "high";
  expect_error([&] { validate_figure(fig, "f.json"); }, {"series[0].y[0]", "\"high\""});
  fig = a_line_figure();
  fig["schema"] = "closerlook.figure/9";
  expect_error([&] { validate_figure(fig, "f.json"); }, {"'schema'", "closerlook.figure/9"});
}

TEST(FigureSpec, ReadFiguresChecksFileNamesAndSorts) {
  std::string dir = temp_dir();
  write_figure(dir, line_figure({"b2", "B", "beta", "", 2}, {"e"}, {"l"}, {{"a", {0}, {1}}}));
  write_figure(dir, line_figure({"b1", "B", "beta", "", 5}, {"e"}, {"l"}, {{"a", {0}, {1}}}));
  write_figure(dir, line_figure({"a9", "A", "alpha", "", 9}, {"e"}, {"l"}, {{"a", {0}, {1}}}));
  auto figs = read_figures(dir);
  ASSERT_EQ(figs.size(), 3u);
  EXPECT_EQ(figs[0]["id"], "a9");  // study alpha first
  EXPECT_EQ(figs[1]["id"], "b2");  // then beta by order
  EXPECT_EQ(figs[2]["id"], "b1");
  json renamed = read_json(dir + "/figures/b1.json");
  write_file_atomic(dir + "/figures/other.json", renamed.dump());
  expect_error([&] { read_figures(dir); }, {"other.json", "'id'", "'b1'"});
  fs::remove_all(dir);
  EXPECT_TRUE(read_figures(dir).empty()) << "no figures/ folder = no figures";
}

TEST(Claims, WriteClaimsKeepsOtherSummaryKeysAndValidates) {
  std::string dir = temp_dir();
  write_json(dir + "/summary.json", {{"status", "completed"}, {"claims", json::array({1})}});
  write_claims(dir, {{"sgdr", "restarts cross barriers", "held", {{"barrier", 1.5}}, "d"}});
  json s = read_json(dir + "/summary.json");
  EXPECT_EQ(s["status"], "completed");
  ASSERT_EQ(s["claims"].size(), 1u);
  EXPECT_EQ(s["claims"][0]["numbers"]["barrier"], 1.5);
  EXPECT_NO_THROW(validate_claims(s, "summary.json"));
  expect_error([] { claim_json({"sgdr", "c", "maybe"}); }, {"'verdict'", "'maybe'", "held | not held | inconclusive"});
  s["claims"][0]["numbers"]["bad"] = json::array({1, 2});
  expect_error([&] { validate_claims(s, "summary.json"); }, {"summary.json", "claims[0]", "numbers.bad"});
  fs::remove_all(dir);
}

TEST(JsonRounding, KeepsSixSignificantDigitsAndShortText) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> mant(-1, 1);
  std::uniform_int_distribution<int> expo(-12, 12);
  for (int i = 0; i < 2000; ++i) {
    double v = mant(rng) * std::pow(10.0, expo(rng));
    json j = v;
    round_significant(j, 6);
    double r = j.get<double>();
    EXPECT_LE(std::abs(r - v), 5.0000001e-6 * std::abs(v)) << v;
    // The shortest round-trip text of a 6-digit value has at most 6 significant digits.
    std::string text = j.dump();
    std::string digits;
    for (char c : text.substr(0, text.find_first_of("eE"))) if (std::isdigit(static_cast<unsigned char>(c))) digits += c;
    digits.erase(0, digits.find_first_not_of('0'));
    while (!digits.empty() && digits.back() == '0') digits.pop_back();
    EXPECT_LE(digits.size(), 6u) << text << " from " << v;
  }
  json tree = {{"i", 123456789}, {"s", "0.123456789"}, {"a", {0.123456789, std::nan(""), 1e300 * 1e10}}};
  round_significant(tree, 6);
  EXPECT_EQ(tree["i"], 123456789) << "integers are exact";
  EXPECT_EQ(tree["s"], "0.123456789") << "strings are untouched";
  EXPECT_EQ(tree["a"][0].dump(), "0.123457");
  EXPECT_TRUE(tree["a"][1].is_null());
  EXPECT_TRUE(tree["a"][2].is_null());
}

}  // namespace
}  // namespace closerlook
