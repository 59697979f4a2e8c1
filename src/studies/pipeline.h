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
  const std::string& dep(const std::string& id) const;
};

struct PlanRunOptions {
  std::string study;                // "" = all studies
  std::optional<int> step_index;    // run exactly this step (1-based as in --list); deps must be done
  torch::Device device = torch::kCPU;
  bool dry_run = false;
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
  // Prints the numbered plan with status (done / todo) — `reproduce --list`.
  std::string describe() const;
  // Runs the selected steps in order, skipping finished ones. Returns the number of steps run.
  int run(const PlanRunOptions& opts);

 private:
  const Step& get(const std::string& id) const;
  std::string root_;
  std::vector<Step> steps_;
  std::map<std::string, size_t> index_;
};

}  // namespace closerlook
