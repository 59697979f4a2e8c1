// closerlook reproduce: every study of the paper end to end, resumable, one command.
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <filesystem>
#include <optional>

#include "core/resources.h"
#include "cli/commands.h"
#include "core/error.h"
#include "report/html_report.h"
#include "studies/plan_cost.h"
#include "studies/reproduce.h"

namespace closerlook {
namespace {

struct ReproduceArgs {
  CommonOptions common;
  std::string preset = "quick", out, study;
  std::vector<std::string> sets;
  int seeds = 1;
  std::optional<int> step;
  bool list = false, no_report = false, controls = false, json = false, no_calibrate = false;
  std::string keep = "needed";
};

const CommandRegistrar reg(10, [](CLI::App& app) {
  auto args = std::make_shared<ReproduceArgs>();
  auto* cmd = app.add_subcommand("reproduce", "Run the paper's four studies end to end (resumable) and write the report");
  cmd->add_option("--preset", args->preset, "Preset name in configs/presets (paper, quick, smoke) or a TOML file")
      ->capture_default_str();
  cmd->add_option("--set", args->sets, "Override a preset key: key=value (repeatable)");
  cmd->add_option("--out", args->out, "Output folder (default: runs/<preset>)");
  cmd->add_option("--study", args->study, "Run one study (and what it needs): sgdr, resilience, warmup, distill");
  cmd->add_option("--seeds", args->seeds, "Repeat every study over K seeds; claims as mean ± std")->check(CLI::Range(1, 100));
  cmd->add_flag("--list", args->list,
                "Print the numbered plan with each step's status, wave and estimated disk, memory and time, and exit");
  cmd->add_flag("--json", args->json, "With --list: print the plan and its cost as JSON (steps, total)");
  cmd->add_flag("--no-calibrate", args->no_calibrate,
                "With --list: time steps from FLOP counts instead of a short timed run of each model on the device");
  cmd->add_option("--keep", args->keep,
                  "Checkpoints kept: 'needed' (what later steps read, and each run's final one; resume-only "
                  "states dropped once a step is done) or 'all'")
      ->capture_default_str();
  cmd->add_option("--step", args->step,
                  "Run only step I of --list (job arrays; default from SLURM_ARRAY_TASK_ID when set)");
  cmd->add_flag("--no-report", args->no_report, "Skip report.html");
  cmd->add_flag("--controls", args->controls,
                "Add each claim's negative control (an arm where the effect is absent by construction; it must not "
                "come out held) and show its verdict next to the claim");
  add_common_options(cmd, args->common);
  cmd->callback([args] {
    const auto device = apply_common_options(args->common);
    const std::string presets = resource_path("configs/presets");
    const std::string path = find_preset(args->preset, presets);
    ReproduceConfig cfg = load_reproduce_config(path, args->sets);
    // One study: plan just that study (and its summary), so summary.json covers what ran.
    if (!args->study.empty()) {
      if (std::find(cfg.studies.begin(), cfg.studies.end(), args->study) == cfg.studies.end())
        throw_bad_input("--study '" + args->study + "': not a study of this preset (" + path + ")");
      cfg.studies = {args->study};
    }
    ReproduceOptions ro;
    ro.out_dir = args->out.empty() ? "runs/" + std::filesystem::path(path).stem().string() : args->out;
    ro.seeds = args->seeds;
    ro.controls = args->controls;
    if (!args->no_report) ro.plotly_path = locate_plotly("", resource_root());
    Plan plan = build_reproduce_plan(cfg, ro);
    const KeepPolicy keep = parse_keep_policy(args->keep);
    CostOptions co;
    co.keep = keep;
    co.device = device;
    co.calibrate = !args->no_calibrate;
    co.cache_dir = ro.out_dir;
    if (args->list) {
      const PlanCost cost = estimate_plan_cost(plan, cfg, co);
      if (args->json) std::printf("%s\n", cost.to_json().dump(2).c_str());
      else std::printf("%s", cost.describe().c_str());
      return;
    }
    PlanRunOptions po;
    po.device = device;
    po.keep = keep;
    // A negative --step means "not given", as it always has.
    if (args->step && *args->step >= 0) po.step_index = args->step;
    if (!po.step_index)
      if (const char* a = std::getenv("SLURM_ARRAY_TASK_ID")) po.step_index = std::atoi(a);
    // The disk the plan needs against the free space of --out, before any work (the times are
    // not needed here: no calibration). CLOSERLOOK_FREE_DISK_BYTES stands in for statvfs (tests).
    {
      co.calibrate = false;
      co.cache_dir.clear();
      const PlanCost cost = estimate_plan_cost(plan, cfg, co);
      double free_bytes = free_disk_bytes(ro.out_dir);
      if (const char* f = std::getenv("CLOSERLOOK_FREE_DISK_BYTES")) free_bytes = std::atof(f);
      if (!po.step_index) check_disk_fits(cost, free_bytes, ro.out_dir);
    }
    const int ran = plan.run(po);
    std::fprintf(stderr, "reproduce: %d step(s) run, output in %s\n", ran, ro.out_dir.c_str());
    if (!po.step_index) std::printf("%s", format_claims_table(ro.out_dir).c_str());
  });
});

}  // namespace
}  // namespace closerlook
