// `closerlook curvature CKPT`: top-k Hessian eigenvalues, trace and (optionally) the eigenvalue
// density of a checkpoint, for the whole network and per layer (docs/curvature.md). Prints the
// JSON on stdout; --out also writes <out>/curvature.json. Under a launcher (RANK/WORLD_SIZE or
// SLURM_*, dist/rendezvous.h) the subset's batches are split over the processes and every
// Hessian-vector product is all-reduced: all ranks run the same Lanczos, rank 0 prints and writes.
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "dist/rendezvous.h"
#include "train/curvature.h"

namespace closerlook {
namespace {

struct CurvatureArgs {
  CommonOptions common;
  CurvatureJob job;
  std::string bn = "eval";
  bool no_per_layer = false;
};

const CommandRegistrar reg(56, [](CLI::App& app) {
  auto a = std::make_shared<CurvatureArgs>();
  auto* cmd = app.add_subcommand("curvature", "Top Hessian eigenvalues, trace and density of a checkpoint (network and per layer)");
  cmd->add_option("checkpoint", a->job.checkpoint, "A checkpoint inside a run folder (<run>/checkpoints/<tag>.pt)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--out", a->job.out_dir, "Folder for curvature.json (default: print only)");
  cmd->add_option("--examples", a->job.examples, "The first N training images (no augmentation)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--batch", a->job.batch_size, "Batch size of the Hessian-vector products")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--bn", a->bn, "BatchNorm during the products: eval (running statistics) or train (batch statistics)")
      ->capture_default_str()
      ->check(CLI::IsMember({"eval", "train"}));
  cmd->add_option("--top-k", a->job.options.top_k, "Eigenvalues per operator")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--steps", a->job.options.steps, "Lanczos iterations (one product each)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--layer-steps", a->job.options.layer_steps, "Lanczos iterations of each layer block")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--trace-samples", a->job.options.trace_samples, "Hutchinson probes (0 = no trace)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--density-runs", a->job.options.density_runs, "Stochastic Lanczos quadrature runs (0 = no density)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--no-per-layer", a->no_per_layer, "Only the whole network (no layer blocks)");
  cmd->add_option("--seed", a->job.options.seed, "Seed of the start and probe vectors")->capture_default_str();
  cmd->add_option("--set", a->job.data_overrides, "Override a data key of the source run: --set data.dir=...");
  add_common_options(cmd, a->common);
  cmd->callback([a] {
    const auto device = apply_common_options(a->common);
    a->job.bn_train = a->bn == "train";
    a->job.options.per_layer = !a->no_per_layer;
    std::unique_ptr<Communicator> comm = connect_from_env();
    if (comm->size() > 1) {
      // All of an iteration's products in one call (the communicator stages device tensors on the host).
      Communicator* c = comm.get();
      a->job.processes = {c->rank(), c->size(), [c](std::vector<torch::Tensor>& hv) { c->allreduce_many_(hv); }};
    }
    const nlohmann::json j = run_curvature_job(a->job, device);
    if (comm->is_root()) std::printf("%s\n", j.dump(2).c_str());
  });
});

}  // namespace
}  // namespace closerlook
