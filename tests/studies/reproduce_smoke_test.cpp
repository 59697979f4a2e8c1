// End to end: `closerlook reproduce --preset smoke` on tiny synthetic data, its outputs, its
// resumption after SIGKILL, and that a finished plan reruns nothing.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/json_io.h"

namespace fs = std::filesystem;
using namespace closerlook;

namespace {

const std::string kBin = std::string(CL_BINARY_DIR) + "/closerlook";

std::string fresh_dir(const std::string& name) {
  auto d = fs::temp_directory_path() / ("cl_repro_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  return d.string();
}

struct RunResult {
  int code;
  std::string out;
};

RunResult run(const std::string& args) {
  const std::string log = fs::temp_directory_path() / ("cl_repro_log_" + std::to_string(::getpid()));
  int status = std::system((kBin + " " + args + " --threads 2 > " + log + " 2>&1").c_str());
  std::ifstream in(log);
  std::stringstream ss;
  ss << in.rdbuf();
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, ss.str()};
}

int count_done(const std::string& root) {
  int n = 0;
  if (!fs::exists(root + "/steps")) return 0;
  for (const auto& e : fs::recursive_directory_iterator(root + "/steps"))
    if (e.path().filename() == "DONE") ++n;
  return n;
}

// Every number leaf of a JSON tree, with its path; nulls are recorded as NaN (a value the writer
// could not represent: NaN or infinity).
void number_leaves(const nlohmann::json& j, const std::string& path, std::vector<std::pair<std::string, double>>& out) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) number_leaves(it.value(), path + "/" + it.key(), out);
  } else if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i) number_leaves(j[i], path + "/" + std::to_string(i), out);
  } else if (j.is_null()) {
    out.push_back({path, std::nan("")});
  } else if (j.is_number()) {
    out.push_back({path, j.get<double>()});
  }
}

// Two summaries' checks agree: same ids and verdicts, the same strings and the same numbers (to
// 1e-9 relative: the resumed run recomputes nothing it finished, and reruns the rest bit-exactly).
void expect_same_checks(const nlohmann::json& a, const nlohmann::json& b) {
  ASSERT_EQ(a["checks"].size(), b["checks"].size());
  for (size_t i = 0; i < a["checks"].size(); ++i) {
    const auto& x = a["checks"][i];
    const auto& y = b["checks"][i];
    EXPECT_EQ(x["id"], y["id"]);
    EXPECT_EQ(x["verdict"], y["verdict"]) << x["id"];
    EXPECT_EQ(x["detail"], y["detail"]) << x["id"];
    std::vector<std::pair<std::string, double>> nx, ny;
    number_leaves(x, "", nx);
    number_leaves(y, "", ny);
    ASSERT_EQ(nx.size(), ny.size()) << x["id"];
    for (size_t k = 0; k < nx.size(); ++k) {
      EXPECT_EQ(nx[k].first, ny[k].first);
      if (std::isnan(nx[k].second)) EXPECT_TRUE(std::isnan(ny[k].second)) << x["id"] << nx[k].first;
      else EXPECT_NEAR(nx[k].second, ny[k].second, 1e-9 * std::max(1.0, std::abs(nx[k].second))) << x["id"] << nx[k].first;
    }
  }
}

}  // namespace

TEST(ReproduceSmoke, RunsEveryStudyAndWritesClaimsFiguresAndReport) {
  const std::string out = fresh_dir("full");
  RunResult r = run("reproduce --preset smoke --quiet --out " + out);
  ASSERT_EQ(r.code, 0) << r.out;

  // Claims: every study is represented, every verdict is one of the three words, with numbers.
  auto summary = read_json(out + "/summary.json");
  ASSERT_TRUE(summary.contains("claims"));
  std::set<std::string> studies;
  for (const auto& c : summary["claims"]) {
    studies.insert(c["study"].get<std::string>());
    const std::string v = c["verdict"];
    EXPECT_TRUE(v == "held" || v == "not held" || v == "inconclusive") << v;
    EXPECT_FALSE(c["numbers"].empty());
  }
  EXPECT_EQ(studies, (std::set<std::string>{"sgdr", "resilience", "warmup", "distill"}));
  EXPECT_NE(r.out.find("Claims"), std::string::npos);

  // Figures of every study, each with its CSV; the report inlines them.
  std::set<std::string> figure_studies;
  int figures = 0;
  for (const auto& e : fs::directory_iterator(out + "/figures")) {
    if (e.path().extension() != ".json") continue;
    ++figures;
    auto f = read_json(e.path().string());
    figure_studies.insert(f["study"].get<std::string>());
    EXPECT_TRUE(fs::exists(fs::path(e.path()).replace_extension(".csv"))) << e.path();
  }
  EXPECT_GE(figures, 12);
  EXPECT_EQ(figure_studies, (std::set<std::string>{"sgdr", "resilience", "warmup", "distill"}));
  ASSERT_TRUE(fs::exists(out + "/report.html"));
  EXPECT_GT(fs::file_size(out + "/report.html"), 100000u);

  // Numbers, not just files. Every figure value is finite (a null is a value the writer could not
  // represent); the smoke networks do not diverge.
  for (const auto& e : fs::directory_iterator(out + "/figures")) {
    if (e.path().extension() != ".json") continue;
    std::vector<std::pair<std::string, double>> leaves;
    number_leaves(read_json(e.path().string()), "", leaves);
    EXPECT_GT(leaves.size(), 3u) << e.path();
    for (const auto& [where, v] : leaves) EXPECT_TRUE(std::isfinite(v)) << e.path() << where;
  }
  // Every barrier in the claims is >= 0 (the one barrier definition clamps at 0), and finite
  // where the claim has one.
  int barriers = 0;
  for (const auto& c : summary["checks"]) {
    std::vector<std::pair<std::string, double>> leaves;
    number_leaves(c["numbers"], "", leaves);
    for (const auto& [where, v] : leaves)
      if (where.find("barrier") != std::string::npos && where.find("threshold") == std::string::npos &&
          where.find("fraction") == std::string::npos && where.find("has_") == std::string::npos) {
        ++barriers;
        EXPECT_TRUE(std::isfinite(v) && v >= 0) << c["id"] << where << " = " << v;
      }
  }
  EXPECT_GE(barriers, 3);
  // A curve's endpoints are the trained checkpoints: its profile starts and ends where the
  // straight line between the same two checkpoints does (both evaluated with BN recomputed on
  // the same examples), for every curve of the run.
  const std::vector<std::pair<std::string, std::string>> pairs = {
      {"sgdr/curve-w1-w3/curve.json", "sgdr/line-w1-w3/line.json"},
      {"resilience/curve-G-A/curve.json", "resilience/line-G-A/line.json"},
      {"resilience/curve-G-F/curve.json", "resilience/line-G-F/line.json"}};
  for (const auto& [curve_file, line_file] : pairs) {
    const auto curve = read_json(out + "/steps/" + curve_file), line = read_json(out + "/steps/" + line_file);
    ASSERT_EQ(curve["t"].front().get<double>(), 0.0) << curve_file;
    ASSERT_EQ(curve["t"].back().get<double>(), 1.0) << curve_file;
    for (const char* q : {"tr_nll", "tr_err", "te_nll", "te_err"}) {
      const double c0 = curve[q].front(), c1 = curve[q].back(), l0 = line[q].front(), l1 = line[q].back();
      EXPECT_NEAR(c0, l0, 1e-5 * std::max(1.0, std::abs(l0))) << curve_file << " " << q << " at t = 0";
      EXPECT_NEAR(c1, l1, 1e-5 * std::max(1.0, std::abs(l1))) << curve_file << " " << q << " at t = 1";
      for (const auto& v : curve[q]) EXPECT_TRUE(v.is_number() && std::isfinite(v.get<double>())) << curve_file << q;
    }
    // Each profile's stored barrier is >= 0.
    for (const auto* prof : {&curve, &line})
      for (const auto& seg : (*prof)["segments"])
        for (const auto& [q, b] : seg["barrier"].items()) EXPECT_GE(b.get<double>(), 0.0) << curve_file << q;
  }

  // Artifacts the figures were drawn from.
  EXPECT_TRUE(fs::exists(out + "/steps/sgdr/plane/plane/tr_loss.npy"));
  EXPECT_TRUE(fs::exists(out + "/steps/sgdr/curve-w1-w3/curve.json"));
  EXPECT_TRUE(fs::exists(out + "/steps/resilience/curve-G-A/curve.csv"));
  EXPECT_TRUE(fs::exists(out + "/steps/distill/train-teacher/run/checkpoints/final.pt"));

  // A finished plan reruns nothing.
  const int done = count_done(out);
  RunResult again = run("reproduce --preset smoke --quiet --out " + out);
  ASSERT_EQ(again.code, 0) << again.out;
  EXPECT_NE(again.out.find("0 step(s) run"), std::string::npos) << again.out;
  EXPECT_EQ(count_done(out), done);

  RunResult list = run("reproduce --preset smoke --list --out " + out);
  ASSERT_EQ(list.code, 0);
  EXPECT_EQ(list.out.find("[todo]"), std::string::npos) << list.out;
}

TEST(ReproduceSmoke, KilledRunResumesWithoutRedoingFinishedSteps) {
  const std::string out = fresh_dir("kill");
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const std::string log = out + ".log";
    freopen(log.c_str(), "w", stderr);
    execl(kBin.c_str(), kBin.c_str(), "reproduce", "--preset", "smoke", "--study", "sgdr", "--quiet", "--no-report",
          "--threads", "2", "--out", out.c_str(), (char*)nullptr);
    _exit(127);
  }
  // Wait until a few steps are finished, then kill without warning.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
  while (count_done(out) < 3 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  const int done_before = count_done(out);
  ASSERT_GE(done_before, 3);
  std::map<std::string, fs::file_time_type> stamps;
  for (const auto& e : fs::recursive_directory_iterator(out + "/steps"))
    if (e.path().filename() == "DONE") stamps[e.path().string()] = fs::last_write_time(e.path());

  RunResult r = run("reproduce --preset smoke --study sgdr --quiet --no-report --out " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  for (const auto& [path, t] : stamps) EXPECT_EQ(fs::last_write_time(path), t) << path << " was redone";
  EXPECT_GT(count_done(out), done_before);
  size_t skipped = 0;
  for (size_t p = r.out.find("done (skipped)"); p != std::string::npos; p = r.out.find("done (skipped)", p + 1)) ++skipped;
  EXPECT_EQ(skipped, stamps.size());

  // The killed-and-resumed run decides every claim with the same numbers as an uninterrupted one.
  const std::string clean = fresh_dir("clean");
  RunResult u = run("reproduce --preset smoke --study sgdr --quiet --no-report --out " + clean);
  ASSERT_EQ(u.code, 0) << u.out;
  expect_same_checks(read_json(clean + "/summary.json"), read_json(out + "/summary.json"));
}

// reproduce --controls: every study adds its negative controls, each attached to its claim in
// summary.json, and no control comes out "held" (an arm where the effect is absent by
// construction must not pass the claim's own check). Every claim and control is decided by an
// interval (effect, interval, null, reason present).
TEST(ReproduceSmoke, NoNegativeControlIsHeld) {
  const std::string out = fresh_dir("controls");
  RunResult r = run("reproduce --preset smoke --controls --no-report --quiet --out " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  const auto summary = read_json(out + "/summary.json");
  std::set<std::string> controlled_studies, uncontrolled;
  int controls = 0;
  for (const auto& c : summary["checks"]) {
    EXPECT_FALSE(c.contains("control_of")) << c["id"] << ": a control without its claim";
    for (const char* k : {"effect", "interval", "null", "verdict", "reason"}) EXPECT_TRUE(c.contains(k)) << c["id"] << k;
    if (!c.contains("control")) {
      uncontrolled.insert(c["id"].get<std::string>());
      continue;
    }
    ++controls;
    controlled_studies.insert(c["study"].get<std::string>());
    const auto& k = c["control"];
    EXPECT_NE(k["verdict"], "held") << c["id"] << ": its negative control " << k["id"] << " came out held: "
                                    << k.value("reason", "");
    EXPECT_EQ(k["id"].get<std::string>(), c["id"].get<std::string>() + ".control");
    EXPECT_FALSE(k.value("reason", "").empty());
  }
  EXPECT_EQ(controlled_studies, (std::set<std::string>{"sgdr", "resilience", "warmup", "distill"}));
  // Every claim has its control but the plane one (docs/studies.md says why: no arm without the
  // effect by construction that costs less than a second curve and plane).
  EXPECT_EQ(uncontrolled, (std::set<std::string>{"sgdr.plane_trajectory"}));
  EXPECT_GE(controls, 4);
  // The report's claims carry the controls too (the table and the forest plot read them).
  int report_controls = 0;
  for (const auto& c : summary["claims"]) report_controls += c.contains("control");
  EXPECT_EQ(report_controls, controls);
}
