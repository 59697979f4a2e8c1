#include "studies/pipeline.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <set>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_io.h"
#include "core/progress.h"

namespace fs = std::filesystem;

namespace closerlook {

const std::string& StepContext::dep(const std::string& id) const {
  auto it = dep_dirs.find(id);
  if (it == dep_dirs.end()) throw Error(ExitCode::Internal, "step " + step->id + " reads undeclared dependency " + id);
  return it->second;
}

void Plan::add(Step step) {
  if (index_.count(step.id)) throw Error(ExitCode::Internal, "duplicate step id " + step.id);
  for (const auto& d : step.deps)
    if (!index_.count(d)) throw Error(ExitCode::Internal, "step " + step.id + " depends on unknown step " + d);
  index_[step.id] = steps_.size();
  steps_.push_back(std::move(step));
}

const Step& Plan::get(const std::string& id) const {
  auto it = index_.find(id);
  if (it == index_.end()) throw Error(ExitCode::Internal, "unknown step " + id);
  return steps_[it->second];
}

std::string Plan::hash_of(const std::string& id) const {
  const Step& s = get(id);
  nlohmann::json h = {{"id", s.id}, {"inputs", s.inputs}, {"deps", nlohmann::json::object()}};
  for (const auto& d : s.deps) h["deps"][d] = hash_of(d);
  return content_hash(h.dump());
}

std::string Plan::dir_of(const std::string& id) const { return (fs::path(root_) / "steps" / id).string(); }

bool Plan::is_done(const std::string& id) const {
  const std::string marker = (fs::path(dir_of(id)) / "DONE").string();
  if (!file_exists(marker)) return false;
  try {
    return read_json(marker).value("hash", "") == hash_of(id);
  } catch (const Error&) {
    return false;
  }
}

KeepPolicy parse_keep_policy(const std::string& s) {
  if (s == "needed") return KeepPolicy::Needed;
  if (s == "all") return KeepPolicy::All;
  throw_bad_input("--keep '" + s + "': expected 'needed' (the checkpoints later steps read, and the final one) or 'all'");
}

void Plan::reads(const std::string& reader, const std::string& run_step, const std::vector<std::string>& tags) {
  const Step& r = get(reader);
  get(run_step);
  if (std::find(r.deps.begin(), r.deps.end(), run_step) == r.deps.end())
    throw Error(ExitCode::Internal, "step " + reader + " declares reads of " + run_step + ", not one of its dependencies");
  reads_[run_step].insert(tags.begin(), tags.end());
  for (const auto& t : tags) reader_reads_[reader].insert({run_step, t});
}

std::vector<std::pair<std::string, std::string>> Plan::reads_of(const std::string& reader) const {
  auto it = reader_reads_.find(reader);
  if (it == reader_reads_.end()) return {};
  return {it->second.begin(), it->second.end()};
}

std::set<std::string> Plan::keep_set(const std::string& run_step) const {
  std::set<std::string> k = {"final"};
  auto it = reads_.find(run_step);
  if (it != reads_.end()) k.insert(it->second.begin(), it->second.end());
  return k;
}

void Plan::merge_reads(const Plan& other) {
  for (const auto& [id, tags] : other.reads_)
    if (index_.count(id)) reads_[id].insert(tags.begin(), tags.end());
}

int Plan::wave_of(const std::string& id) const {
  int w = 1;
  for (const auto& d : get(id).deps) w = std::max(w, 1 + wave_of(d));
  return w;
}

int Plan::index_of(const std::string& id) const {
  get(id);
  return static_cast<int>(index_.at(id)) + 1;
}

std::vector<std::string> Plan::prune(const std::string& id) const {
  std::vector<std::string> gone;
  auto drop = [&](const fs::path& p) {
    std::error_code ec;
    if (fs::remove(p, ec)) gone.push_back(p.string());
  };
  const fs::path dir = dir_of(id);
  // A training run: <tag>.pt of the kept tags stay; the rest and every resume-only state go.
  const fs::path run_ck = dir / "run" / "checkpoints";
  if (fs::is_directory(run_ck)) {
    const std::set<std::string> keep = keep_set(id);
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(run_ck)) files.push_back(e.path());
    for (const auto& p : files) {
      const std::string name = p.filename().string();
      const bool state = name.size() > 9 && name.compare(name.size() - 9, 9, ".state.pt") == 0;
      const bool model = !state && p.extension() == ".pt";
      if (!state && !model) continue;
      const std::string tag = name.substr(0, name.size() - (state ? 9 : 3));
      if (state || !keep.count(tag)) drop(p);
    }
    // The run's summary.json lists what it wrote; it must not name the files just deleted (a
    // reader would follow a dangling path). The pruned tags are recorded instead.
    const fs::path summary = dir / "run" / "summary.json";
    if (file_exists(summary.string())) {
      nlohmann::json j = read_json(summary.string());
      if (j.contains("checkpoints") && j["checkpoints"].is_array()) {
        nlohmann::json kept = nlohmann::json::array(), pruned = j.value("pruned_checkpoints", nlohmann::json::array());
        for (const auto& c : j["checkpoints"]) {
          const std::string rel = c.is_object() ? c.value("path", "") : "";
          if (rel.empty() || fs::exists(dir / "run" / rel)) kept.push_back(c);
          else pruned.push_back(c.value("tag", rel));
        }
        if (kept.size() != j["checkpoints"].size()) {
          j["checkpoints"] = kept;
          j["pruned_checkpoints"] = pruned;
          write_json(summary.string(), j);
        }
      }
    }
  }
  // A curve: the curve is bends.npy (what the plane and curve-eval read); its resumable state,
  // epoch snapshots and the bend-<k>.pt copies of the bends (for Python users; --keep all) go.
  const fs::path curve_ck = dir / "curve" / "checkpoints";
  if (fs::is_directory(curve_ck)) {
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(curve_ck)) files.push_back(e.path());
    for (const auto& p : files) {
      const std::string name = p.filename().string();
      if (name == "last.state.pt" || (name.rfind("bend-", 0) == 0 && p.extension() == ".pt") ||
          (name.rfind("epoch-", 0) == 0 && name.find(".bends.npy") != std::string::npos))
        drop(p);
    }
  }
  return gone;
}

std::string Plan::describe() const {
  std::ostringstream out;
  for (size_t i = 0; i < steps_.size(); ++i) {
    const Step& s = steps_[i];
    char line[512];
    std::snprintf(line, sizeof(line), "%3zu  [%s]  %-34s %s", i + 1, is_done(s.id) ? "done" : "todo", s.id.c_str(),
                  s.description.c_str());
    out << line << "\n";
  }
  return out.str();
}

int Plan::run(const PlanRunOptions& opts) {
  std::vector<size_t> selected;
  if (opts.step_index) {
    const int k = *opts.step_index;
    if (k < 1 || k > static_cast<int>(steps_.size()))
      throw_bad_input("--step " + std::to_string(k) + ": the plan has steps 1.." + std::to_string(steps_.size()));
    selected.push_back(static_cast<size_t>(k - 1));
  } else {
    // The chosen study's steps plus everything they depend on.
    std::set<std::string> want;
    std::function<void(const std::string&)> pull = [&](const std::string& id) {
      if (!want.insert(id).second) return;
      for (const auto& d : get(id).deps) pull(d);
    };
    for (const auto& s : steps_)
      if (opts.study.empty() || s.study == opts.study) pull(s.id);
    if (want.empty()) throw_bad_input("--study '" + opts.study + "': no such study in the plan");
    for (size_t i = 0; i < steps_.size(); ++i)
      if (want.count(steps_[i].id)) selected.push_back(i);
  }

  int ran = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (size_t k = 0; k < selected.size(); ++k) {
    const Step& s = steps_[selected[k]];
    const std::string hash = hash_of(s.id);
    if (is_done(s.id)) {
      std::fprintf(stderr, "[%zu/%zu] %s: done (skipped)\n", k + 1, selected.size(), s.id.c_str());
      // A folder finished under --keep all is brought to the policy (the readers' checkpoints stay).
      if (opts.keep == KeepPolicy::Needed && !opts.dry_run) prune(s.id);
      continue;
    }
    for (const auto& d : s.deps)
      if (!is_done(d)) throw_bad_input("step " + s.id + " needs step " + d + " to be finished first");
    if (opts.dry_run) continue;
    const std::string dir = dir_of(s.id);
    // A folder from an older config is kept aside, never silently mixed with new results.
    const std::string stamp = (fs::path(dir) / "STEP.json").string();
    if (file_exists(stamp) && read_json(stamp).value("hash", "") != hash) {
      std::string aside = dir + ".old-" + read_json(stamp).value("hash", "x");
      std::error_code ec;
      fs::remove_all(aside, ec);
      fs::rename(dir, aside, ec);
      if (ec) throw_io(dir + ": cannot move the outdated step folder aside: " + ec.message());
    }
    make_dirs(dir);
    write_json(stamp, {{"id", s.id}, {"hash", hash}, {"inputs", s.inputs}});
    double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "[%zu/%zu] %s: %s (elapsed %s)\n", k + 1, selected.size(), s.id.c_str(),
                 s.description.c_str(), format_duration(el).c_str());
    StepContext ctx;
    ctx.root = root_;
    ctx.dir = dir;
    ctx.device = opts.device;
    ctx.step = &s;
    for (const auto& d : s.deps) ctx.dep_dirs[d] = dir_of(d);
    const std::set<std::string> keep = keep_set(s.id);
    if (opts.keep == KeepPolicy::Needed) ctx.keep = &keep;
    const auto ts = std::chrono::steady_clock::now();
    s.run(ctx);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - ts).count();
    write_json((fs::path(dir) / "DONE").string(), {{"hash", hash}, {"seconds", secs}});
    if (opts.keep == KeepPolicy::Needed) prune(s.id);
    ++ran;
  }
  return ran;
}

}  // namespace closerlook
