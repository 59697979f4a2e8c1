// A study plan: named steps (train, distil, connect, evaluate, compare, report) with
// dependencies, run in dependency order. Each step's identity is a content hash of its resolved
// inputs and of its dependencies' hashes; a step whose folder holds a DONE marker with the same
// hash is skipped, so a killed `reproduce` continues where it stopped and a changed config
// reruns exactly the steps it affects.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

namespace closerlook {

struct StepContext;

struct Step {
  std::string id;                   // "sgdr/train-sgdr", unique; also the folder under <root>/steps/
  std::string study;                // "sgdr", "resilience", "warmup", "distill", "report"
  std::string description;          // one line for --list
  std::vector<std::string> deps;    // ids of steps whose outputs this one reads
  nlohmann::json inputs;            // everything that determines the outputs (hashed)
  std::function<void(StepContext&)> run;
};

struct StepContext {
  std::string root;                 // the reproduce output folder
  std::string dir;                  // this step's folder (created before run)
  torch::Device device = torch::kCPU;
  const Step* step = nullptr;
  std::map<std::string, std::string> dep_dirs;  // dependency id -> its folder
  // The checkpoint tags of this step's run folder to write (Plan::keep_set; "init" and the rolling
  // "last" are always written); null: write every checkpoint the step's config asks for (--keep all).
  const std::set<std::string>* keep = nullptr;
  const std::string& dep(const std::string& id) const;
};

// reproduce --keep: "needed" (default) writes and keeps, of each run folder (<step>/run) only the
// checkpoints that later steps declared they read (Plan::reads) plus "final", and drops every
// resume-only file (*.state.pt, last.pt, a curve's last.state.pt) once the step is done; "all"
// keeps everything the configs ask for. The policy is not hashed: changing it reruns nothing.
enum class KeepPolicy { Needed, All };
KeepPolicy parse_keep_policy(const std::string& s);  // "needed" | "all"

struct PlanRunOptions {
  std::string study;                // "" = all studies
  std::optional<int> step_index;    // run exactly this step (1-based as in --list); deps must be done
  torch::Device device = torch::kCPU;
  bool dry_run = false;
  KeepPolicy keep = KeepPolicy::Needed;
};

class Plan {
 public:
  explicit Plan(std::string root) : root_(std::move(root)) {}
  void add(Step step);  // deps must already be added (keeps the order topological)
  const std::vector<Step>& steps() const { return steps_; }
  // Content hash of a step: its inputs + the hashes of its dependencies.
  std::string hash_of(const std::string& id) const;
  std::string dir_of(const std::string& id) const;
  bool is_done(const std::string& id) const;
  // `reader` (already added) reads the checkpoints `tags` of the run folder of its dependency
  // `run_step` (step_checkpoint(ctx.dep(run_step), tag)). Every such read must be declared: the
  // keep policy deletes (or never writes) the checkpoints nobody declared.
  void reads(const std::string& reader, const std::string& run_step, const std::vector<std::string>& tags);
  // The tags kept of `run_step`'s run folder under KeepPolicy::Needed: every declared read and "final".
  std::set<std::string> keep_set(const std::string& run_step) const;
  // What `reader` declared: (run step, tag) pairs.
  std::vector<std::pair<std::string, std::string>> reads_of(const std::string& reader) const;
  // Adds the declared reads of `other` (e.g. the same plan with --controls) for the run steps
  // that exist here, so a later run with more readers still finds its inputs.
  void merge_reads(const Plan& other);
  // Dependency wave (1 = no dependencies; otherwise 1 + the largest wave of its dependencies):
  // the steps of one wave are independent of each other (job arrays, docs/distributed.md).
  int wave_of(const std::string& id) const;
  // 1-based index as in --list.
  int index_of(const std::string& id) const;
  // KeepPolicy::Needed on a finished step's folder: deletes the undeclared checkpoints of
  // <dir>/run/checkpoints and the resume-only files; returns the paths deleted.
  std::vector<std::string> prune(const std::string& id) const;
  // Prints the numbered plan with status (done / todo) — `reproduce --list`.
  std::string describe() const;
  // Runs the selected steps in order, skipping finished ones. Returns the number of steps run.
  int run(const PlanRunOptions& opts);

 private:
  const Step& get(const std::string& id) const;
  std::string root_;
  std::vector<Step> steps_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::set<std::string>> reads_;  // run step id -> tags that readers declared
  std::map<std::string, std::set<std::pair<std::string, std::string>>> reader_reads_;  // reader -> (run step, tag)
};

}  // namespace closerlook
