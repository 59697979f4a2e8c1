// `closerlook align A.pt B.pt --method weights|activations --out DIR`: permutes B's hidden units
// to match A (surface/align.h) and writes DIR as a run folder holding the aligned B:
//   DIR/config.json             B's run config.json plus "aligned": {to, source, method}
//   DIR/checkpoints/aligned.pt  B permuted (loads like any checkpoint: interpolate A DIR/checkpoints/aligned.pt)
//   DIR/permutation.json        per group: size, the parameter axes, the permutation
//   DIR/align.json              method, iterations, objective and distance before/after, seconds
// `--show-groups` prints A's derived permutation groups and exits.
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_io.h"
#include "surface/align.h"
#include "surface/aligned_endpoints.h"
#include "surface/sources.h"
#include "train/run_data.h"
#include "train/run_dir.h"

namespace closerlook {
namespace {

struct AlignArgs {
  CommonOptions common;
  std::string a, b, out;
  AlignOptions opts;
  bool show_groups = false;
  std::vector<std::string> sets;
};

const CommandRegistrar reg(45, [](CLI::App& app) {
  auto a = std::make_shared<AlignArgs>();
  auto* cmd = app.add_subcommand("align", "Permute B's hidden units to match A (weight or activation matching)");
  cmd->add_option("a", a->a, "Reference checkpoint <run>/checkpoints/<tag>.pt")->required();
  cmd->add_option("b", a->b, "Checkpoint to permute (same architecture)");
  cmd->add_option("--out", a->out, "Output folder (a run folder holding checkpoints/aligned.pt)");
  cmd->add_option("--method", a->opts.method, "weights | activations")->capture_default_str();
  cmd->add_option("--seed", a->opts.seed, "Seed (weights: group order; activations: image subset)")->capture_default_str();
  cmd->add_option("--max-iter", a->opts.max_iterations, "weights: most sweeps over the groups")->capture_default_str();
  cmd->add_option("--samples", a->opts.samples, "activations: training images correlated")->capture_default_str();
  cmd->add_option("--batch", a->opts.batch_size, "activations: images per forward pass")->capture_default_str();
  cmd->add_option("--set", a->sets, "activations: override a data key of A's run: --set data.train_subset=1000");
  cmd->add_flag("--show-groups", a->show_groups, "Print A's permutation groups and exit");
  add_common_options(cmd, a->common);
  cmd->callback([a] {
    const auto device = apply_common_options(a->common);
    if (a->show_groups) {
      auto net = load_network(a->a, device);
      std::cout << format_groups(derive_permutation_spec(*net));
      return;
    }
    CL_CHECK_INPUT(!a->b.empty() && !a->out.empty(), "align: needs checkpoints A and B and --out");
    CL_CHECK_INPUT(a->opts.method == "weights" || a->opts.method == "activations",
                   "align: --method '" + a->opts.method + "': expected weights or activations");
    // The one implementation the path tools' --align uses too (surface/aligned_endpoints.h); a
    // folder that holds this alignment already is reused.
    EndpointAlignment e;
    e.method = a->opts.method;
    e.options = a->opts;
    e.data_overrides = a->sets;
    const AlignedCheckpoint c = write_aligned_checkpoint(a->a, a->b, e, a->out, device);
    auto j = c.record;
    j.erase("permutation");
    j["out"] = a->out;
    std::cout << j.dump(2) << std::endl;
  });
});

}  // namespace
}  // namespace closerlook
