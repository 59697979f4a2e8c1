// Assembles report.html. The static parts (header, contents, claims, captions, tables) are HTML
// written here; plots are drawn in the browser by the inlined plotly.js from the inlined figure
// specs (page_assets.cpp), so the page needs nothing but itself.
#include "report/html_report.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <utility>
#include <vector>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_io.h"
#include "report/claims.h"
#include "report/forest_plot.h"
#include "report/figure_spec.h"
#include "report/json_rounding.h"
#include "report/page_assets.h"

namespace closerlook {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr int kInlinedDigits = 6;

struct StudyText {
  const char* title;
  const char* lead;
};

// The four studies of the paper, in its order; other study keys follow alphabetically.
const std::vector<std::pair<std::string, StudyText>>& known_studies() {
  static const std::vector<std::pair<std::string, StudyText>> s = {
      {"resilience",
       {"Mode-connectivity resilience: mode G vs modes A\u2013F",
        "Curves found between a standard mode G and modes A\u2013F trained very differently. If every curve keeps "
        "high accuracy, mode connectivity is a trustworthy tool for the analyses that follow."}},
      {"sgdr",
       {"SGDR vs step decay",
        "Do SGDR's warm restarts hop between isolated minima? Straight lines and mode-connecting curves between SGDR "
        "iterates, and the loss surface on the plane they span with the iterates projected onto it."}},
      {"warmup",
       {"Learning-rate warmup",
        "Large-batch training with and without warmup (and with the classifier frozen instead): accuracy, learning "
        "rate, and how much each layer's representation changes over the first iterations (CCA)."}},
      {"distillation",
       {"Knowledge distillation",
        "Layer-by-layer similarity of a distilled student and of an independently trained student to the teacher, "
        "and their difference: which layers does the teacher's knowledge reach?"}},
  };
  return s;
}

std::string esc(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

// A JSON scalar as table text: numbers to 6 significant digits.
std::string cell_text(const json& v) {
  if (v.is_null()) return "\u2013";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "yes" : "no";
  if (v.is_number_integer() || v.is_number_unsigned()) return v.dump();
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", v.get<double>());
  return buf;
}

std::string scalar_text(const json& v) { return v.is_string() ? v.get<std::string>() : v.is_null() ? "" : v.dump(); }

// JSON inside <script type="application/json">: a '<' can only occur inside JSON strings, where
// \u003c means the same, so "</script>" in a title cannot end the element early.
std::string script_safe_json(const json& j) {
  std::string s = j.dump(-1, ' ', false, json::error_handler_t::replace);
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '<') out += "\\u003c";
    else out += c;
  }
  return out;
}

std::string utc_time(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M UTC", &tm);
  return buf;
}

std::string mtime_text(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "";
  return utc_time(st.st_mtime) + " (file time of " + fs::path(path).filename().string() + ")";
}

json read_optional_json(const std::string& path) { return file_exists(path) ? read_json(path) : json(); }

std::string string_at(const json& j, std::initializer_list<const char*> keys) {
  const json* p = &j;
  for (const char* k : keys) {
    if (!p->is_object() || !p->contains(k)) return "";
    p = &(*p)[k];
  }
  return p->is_string() || p->is_number() ? scalar_text(*p) : "";
}

// The header's run metadata: summary.json "metadata" first, then what config.json recorded.
std::vector<std::pair<std::string, std::string>> run_metadata(const std::string& run_dir, const json& summary,
                                                              const json& config) {
  json meta = summary.is_object() && summary.contains("metadata") && summary["metadata"].is_object() ? summary["metadata"]
                                                                                                     : json::object();
  auto first = [](std::initializer_list<std::string> xs) {
    for (const auto& x : xs)
      if (!x.empty()) return x;
    return std::string();
  };
  std::string summary_path = (fs::path(run_dir) / "summary.json").string();
  std::string config_path = (fs::path(run_dir) / "config.json").string();
  std::vector<std::pair<std::string, std::string>> rows = {
      {"run folder", fs::absolute(run_dir).lexically_normal().string()},
      {"preset", first({string_at(meta, {"preset"}), string_at(config, {"preset"}), string_at(config, {"config", "preset"})})},
      {"config hash", first({string_at(meta, {"config_hash"}), string_at(config, {"config_hash"})})},
      {"git commit", first({string_at(meta, {"git_commit"}), string_at(config, {"runtime", "git_commit"})})},
      {"machine", first({string_at(meta, {"machine"}), string_at(meta, {"hostname"}),
                         string_at(config, {"runtime", "hostname"})})},
      {"date", first({string_at(meta, {"date"}), string_at(config, {"date"}), mtime_text(summary_path),
                      mtime_text(config_path)})},
      {"libtorch", first({string_at(meta, {"libtorch_version"}), string_at(config, {"runtime", "libtorch_version"})})},
  };
  static const std::set<std::string> shown = {"preset", "config_hash", "git_commit", "machine", "hostname", "date",
                                              "libtorch_version"};
  for (const auto& [k, v] : meta.items())
    if (!shown.count(k) && (v.is_string() || v.is_number() || v.is_boolean())) rows.push_back({k, scalar_text(v)});
  rows.erase(std::remove_if(rows.begin(), rows.end(),
                            [](const auto& r) { return r.second.empty() && r.first != "config hash" &&
                                                       r.first != "git commit" && r.first != "machine" && r.first != "date"; }),
             rows.end());
  for (auto& r : rows)
    if (r.second.empty()) r.second = "unknown";
  rows.push_back({"report written", utc_time(std::time(nullptr))});
  return rows;
}

struct Study {
  std::string key, title, lead;
  std::vector<const json*> figures;
  int claims = 0;
};

std::vector<Study> order_studies(const std::vector<json>& figures, const json& claims, const json& summary) {
  std::map<std::string, Study> by_key;
  auto study = [&](const std::string& key) -> Study& {
    Study& s = by_key[key];
    s.key = key;
    return s;
  };
  for (const auto& f : figures) study(f["study"]).figures.push_back(&f);
  for (const auto& c : claims) study(c["study"]).claims++;
  std::vector<Study> out;
  for (const auto& [key, text] : known_studies()) {
    auto it = by_key.find(key);
    if (it == by_key.end()) continue;
    it->second.title = text.title;
    it->second.lead = text.lead;
    out.push_back(std::move(it->second));
    by_key.erase(it);
  }
  for (auto& [key, s] : by_key) {
    s.title = key;
    out.push_back(std::move(s));
  }
  // summary.json may name or describe its studies: {"studies": {"<key>": {"title", "description"}}}.
  if (summary.is_object() && summary.contains("studies") && summary["studies"].is_object())
    for (auto& s : out) {
      const json& d = summary["studies"].value(s.key, json::object());
      if (!d.is_object()) continue;
      if (d.contains("title") && d["title"].is_string()) s.title = d["title"];
      if (d.contains("description") && d["description"].is_string()) s.lead = d["description"];
    }
  return out;
}

// "0.12 [0.05, 0.2] vs 0.05" (open bounds as ∓inf), "" without an estimate.
std::string estimate_text(const json& e) {
  if (!e.is_object() || !e.contains("effect") || !e["effect"].is_number()) return "";
  auto b = [&](int i, const char* open) -> std::string {
    const json iv = e.value("interval", json::array({nullptr, nullptr}));
    return iv.is_array() && iv.size() == 2 && iv[i].is_number() ? cell_text(iv[i]) : std::string(open);
  };
  std::string t = cell_text(e["effect"]) + " [" + b(0, "-inf") + ", " + b(1, "inf") + "]";
  if (e.contains("null") && e["null"].is_number()) t += " vs " + cell_text(e["null"]);
  return t;
}

// A coloured verdict label; `text` defaults to the verdict itself.
std::string verdict_badge(const std::string& verdict, const std::string& text = "") {
  std::string cls = verdict == "held" ? "held" : verdict == "not held" ? "not-held" : "inconclusive";
  return "<span class=\"verdict " + cls + "\">" + esc(text.empty() ? verdict : text) + "</span>";
}

void write_claims_section(std::ostringstream& h, const json& claims, const std::set<std::string>& study_keys) {
  h << "<section id=\"claims\"><h2>Claims and verdicts</h2>\n";
  if (claims.empty()) {
    h << "<p class=\"empty\">No claims recorded (summary.json has no \"claims\").</p></section>\n";
    return;
  }
  std::map<std::string, int> tally;
  for (const auto& c : claims) tally[c["verdict"].get<std::string>()]++;
  h << "<p class=\"tally\">";
  for (const char* v : {"held", "not held", "inconclusive"})
    if (tally[v]) h << verdict_badge(v, std::to_string(tally[v]) + " " + v) << " ";
  h << "</p>\n";
  h << "<div class=\"claims-wrap\"><table class=\"claims\"><thead><tr><th>Study</th><th>Claim</th><th>Verdict</th>"
       "<th>Effect [interval] vs null</th><th>Control</th><th>Numbers</th><th>Detail</th></tr></thead><tbody>\n";
  for (const auto& c : claims) {
    std::string study = c["study"];
    h << "<tr><td>";
    if (study_keys.count(study)) h << "<a href=\"#study-" << esc(study) << "\">" << esc(study) << "</a>";
    else h << esc(study);
    h << "</td><td>" << esc(c["claim"]) << "</td><td>" << verdict_badge(c["verdict"]) << "</td><td class=\"estimate\">"
      << esc(estimate_text(c.value("estimate", json()))) << "</td><td class=\"control\">";
    const json control = c.value("control", json());
    if (control.is_object())
      h << verdict_badge(control.value("verdict", "inconclusive")) << "<br>" << esc(estimate_text(control));
    else
      h << "&mdash;";
    h << "</td><td><ul class=\"numbers\">";
    const json numbers = c.value("numbers", json::object());  // a named copy: items() must not outlive it
    for (const auto& [k, v] : numbers.items())
      h << "<li>" << esc(k) << " = " << esc(cell_text(v)) << "</li>";
    h << "</ul></td><td class=\"detail\">" << esc(c.value("detail", "")) << "</td></tr>\n";
  }
  h << "</tbody></table></div>\n";
  const std::string forest = forest_plot_svg(claims);
  if (!forest.empty()) h << "<h3>All effects with their intervals</h3>\n<div class=\"forest-wrap\">" << forest << "</div>\n";
  h << "</section>\n";
}

void write_table_figure(std::ostringstream& h, const json& f) {
  // A column whose cells are all numbers (or empty) is right-aligned, header included.
  const json& cols = f["columns"];
  std::vector<bool> numeric(cols.size(), true);
  for (const auto& row : f["rows"])
    for (size_t j = 0; j < cols.size(); ++j)
      if (!row[j].is_number() && !row[j].is_null()) numeric[j] = false;
  h << "<h3>" << esc(f["title"]) << "</h3>\n<table class=\"data\"><thead><tr>";
  for (size_t j = 0; j < cols.size(); ++j) h << (numeric[j] ? "<th class=\"num\">" : "<th>") << esc(cols[j]) << "</th>";
  h << "</tr></thead><tbody>\n";
  for (const auto& row : f["rows"]) {
    h << "<tr>";
    for (size_t j = 0; j < cols.size(); ++j)
      h << (numeric[j] ? "<td class=\"num\">" : "<td>") << esc(cell_text(row[j])) << "</td>";
    h << "</tr>\n";
  }
  h << "</tbody></table>\n";
}

std::string relative_link(const fs::path& target, const fs::path& from_dir) {
  std::error_code ec;
  fs::path rel = fs::relative(fs::absolute(target), fs::absolute(from_dir), ec);
  return (ec || rel.empty() ? fs::absolute(target) : rel).generic_string();
}

}  // namespace

std::string locate_plotly(const std::string& explicit_path, const std::string& resource_root) {
  std::vector<std::pair<std::string, std::string>> tried;
  if (!explicit_path.empty()) {
    if (file_exists(explicit_path)) return explicit_path;
    throw_bad_input("plotly.js not found at " + explicit_path + " (given with --plotly); run scripts/setup to install "
                    "the pinned copy (report/assets/plotly.min.js) and drop --plotly");
  }
  if (const char* env = std::getenv("CLOSERLOOK_PLOTLY"); env && *env) {
    if (file_exists(env)) return env;
    throw_bad_input(std::string("plotly.js not found at ") + env + " (from CLOSERLOOK_PLOTLY); run scripts/setup "
                    "to install the pinned copy (report/assets/plotly.min.js) and unset CLOSERLOOK_PLOTLY");
  }
  std::string installed = (fs::path(resource_root) / kPlotlyRelativePath).string();
  if (!resource_root.empty() && file_exists(installed)) return installed;
  throw_bad_input("plotly.js not found at " + installed +
                  ": run scripts/setup (it copies plotly.min.js out of the pinned plotly wheel, checked by hash), "
                  "or point CLOSERLOOK_PLOTLY / --plotly at a plotly.min.js");
}

ReportResult write_report(const ReportOptions& opts) {
  std::error_code ec;
  if (!fs::is_directory(opts.run_dir, ec)) throw_bad_input(opts.run_dir + ": run folder not found");
  const fs::path run_dir(opts.run_dir);
  std::string summary_path = (run_dir / "summary.json").string();
  json summary = read_optional_json(summary_path);
  if (!summary.is_null()) validate_claims(summary, summary_path);
  json config = read_optional_json((run_dir / "config.json").string());
  std::vector<json> figures = read_figures(opts.run_dir);
  json claims = summary.is_object() && summary.contains("claims") ? summary["claims"] : json::array();
  if (figures.empty() && summary.is_null())
    throw_bad_input(opts.run_dir + ": no figures/*.json and no summary.json: nothing to report (is this a study run folder?)");

  std::string plotly = read_file(opts.plotly_path);
  if (plotly.find("Plotly") == std::string::npos)
    throw_bad_input(opts.plotly_path + ": does not look like plotly.js (no 'Plotly' in it)");
  // The bundle is inlined between <script> tags; it must not close that element itself.
  if (plotly.find("</script") != std::string::npos)
    throw_bad_input(opts.plotly_path + ": contains '</script' and cannot be inlined");

  std::string out_path = opts.out_path.empty() ? (run_dir / "report.html").string() : opts.out_path;
  fs::path out_dir = fs::absolute(out_path).parent_path();
  std::string run_name = fs::absolute(run_dir).lexically_normal().filename().string();
  if (run_name.empty()) run_name = fs::absolute(run_dir).lexically_normal().parent_path().filename().string();
  std::string title = opts.title.empty() ? "closerlook report: " + run_name : opts.title;

  std::vector<Study> studies = order_studies(figures, claims, summary);
  std::set<std::string> study_keys;
  for (const auto& s : studies) study_keys.insert(s.key);

  ReportResult result;
  result.path = out_path;
  result.claims = static_cast<int>(claims.size());

  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
       "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
       "<meta name=\"generator\" content=\"closerlook report\">\n<title>"
    << esc(title) << "</title>\n<style>" << kReportCss << "</style>\n<script>" << kReportErrorHooksJs
    << "</script>\n</head>\n<body data-render-done=\"0\">\n";

  // Header with the run's metadata.
  h << "<header class=\"top\"><div class=\"page\"><h1>" << esc(title) << "</h1>\n<p class=\"sub\">"
    << "A Closer Look at Deep Learning Heuristics (Gotmare et al., ICLR 2019): reproduction report</p>\n"
    << "<table class=\"meta\">";
  for (const auto& [k, v] : run_metadata(opts.run_dir, summary, config))
    h << "<tr><th>" << esc(k) << "</th><td>" << esc(v) << "</td></tr>";
  h << "</table></div></header>\n<div class=\"page\">\n<pre id=\"cl-errors\" hidden></pre>\n";

  // Contents.
  h << "<nav class=\"toc\"><h2>Contents</h2><ol>\n<li><a href=\"#claims\">Claims and verdicts</a> (" << claims.size()
    << ")</li>\n";
  for (const auto& s : studies) {
    h << "<li><a href=\"#study-" << esc(s.key) << "\">" << esc(s.title) << "</a>";
    if (!s.figures.empty()) {
      h << "<ol>";
      for (const json* f : s.figures)
        h << "<li><a href=\"#fig-" << esc((*f)["id"]) << "\">" << esc((*f)["title"]) << "</a></li>";
      h << "</ol>";
    }
    h << "</li>\n";
  }
  h << "</ol></nav>\n<main>\n";

  write_claims_section(h, claims, study_keys);

  json inlined = json::array();
  int number = 0;
  for (const auto& s : studies) {
    h << "<section class=\"study\" id=\"study-" << esc(s.key) << "\"><h2>" << esc(s.title) << "</h2>\n";
    if (!s.lead.empty()) h << "<p class=\"lead\">" << esc(s.lead) << "</p>\n";
    if (s.figures.empty()) h << "<p class=\"empty\">No figures for this study.</p>\n";
    h << "<div class=\"figgrid\">\n";
    for (const json* fp : s.figures) {
      const json& f = *fp;
      std::string id = f["id"];
      bool half = f.value("layout", json::object()).value("width", "full") == "half";
      h << "<figure class=\"fig " << (half ? "half" : "full") << "\" id=\"fig-" << esc(id) << "\">\n";
      ++number;
      ++result.figures;
      if (f["kind"] == "table") {
        write_table_figure(h, f);
      } else {
        ++result.plots;
        h << "<div class=\"plot\" id=\"plot-" << esc(id) << "\"></div>\n";
        json data = f;
        data.erase("caption");
        round_significant(data, kInlinedDigits);
        inlined.push_back(std::move(data));
      }
      std::string json_link = relative_link(run_dir / "figures" / (id + ".json"), out_dir);
      std::string csv_link = relative_link(run_dir / "figures" / (id + ".csv"), out_dir);
      h << "<figcaption><b>Figure " << number << ".</b> " << esc(f.value("caption", "")) << " <span class=\"files\">data: "
        << "<a href=\"" << esc(csv_link) << "\">" << esc(id) << ".csv</a> \u00b7 <a href=\"" << esc(json_link) << "\">"
        << esc(id) << ".json</a></span></figcaption>\n</figure>\n";
    }
    h << "</div></section>\n";
  }

  h << "</main>\n<footer>Written by <code>closerlook report</code>. Plots: plotly.js (MIT licence), inlined; hover a "
       "plot for exact values, use its camera button to save it as PNG. Each figure's numbers are in the run folder's "
       "figures/ as JSON and CSV.</footer>\n</div>\n";
  h << "<script>" << plotly << "\n</script>\n";
  h << "<script type=\"application/json\" id=\"cl-figure-data\">" << script_safe_json(inlined) << "</script>\n";
  h << "<script>" << kReportRenderJs << "</script>\n</body>\n</html>\n";

  std::string page = h.str();
  write_file_atomic(out_path, page);
  result.bytes = page.size();
  return result;
}

}  // namespace closerlook
