// `closerlook dist-check`: joins the ranks described by the launcher's environment (RANK,
// WORLD_SIZE, MASTER_ADDR, MASTER_PORT or srun's SLURM_*), checks an all-reduce and an all-gather,
// times small and large all-reduces, and prints one JSON summary on rank 0. Use it to test a
// multi-machine launch before a long `closerlook train` (docs/distributed.md).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/error.h"
#include "dist/rendezvous.h"

namespace closerlook {
namespace {

struct DistCheckArgs {
  double megabytes = 16;
  int repeats = 5;
};

double seconds_of(const std::function<void()>& f, int repeats) {
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < repeats; ++i) f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / repeats;
}

void run_dist_check(const DistCheckArgs& a) {
  CL_CHECK_INPUT(a.megabytes > 0 && a.megabytes <= 4096, "--megabytes must be in (0, 4096]");
  CL_CHECK_INPUT(a.repeats >= 1, "--repeats must be >= 1");
  const Rendezvous r = rendezvous_from_env();
  const auto t0 = std::chrono::steady_clock::now();
  auto comm = connect(r);
  const double join_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const int rank = comm->rank(), world = comm->size();

  // Correctness: the sum of (1, rank) over ranks is (world, world (world - 1) / 2).
  auto t = torch::tensor({1.0, double(rank)}, torch::kFloat64);
  comm->allreduce_(t);
  const bool sum_ok = t[0].item<double>() == world && t[1].item<double>() == world * (world - 1) / 2.0;
  char host[256] = {0};
  ::gethostname(host, sizeof host - 1);
  const auto hosts = comm->allgather_blobs(host);

  auto small = torch::ones({1}, torch::kFloat32);
  const double latency = seconds_of([&] { comm->allreduce_(small); }, 20 * a.repeats);
  auto big = torch::ones({static_cast<int64_t>(a.megabytes * (1 << 20) / 4)}, torch::kFloat32);
  const double big_s = seconds_of([&] { comm->allreduce_(big); }, a.repeats);
  comm->barrier();

  if (rank == 0) {
    nlohmann::json j = {{"world", world},
                        {"rendezvous", r.describe()},
                        {"communicator", comm->describe()},
                        {"hosts", hosts},
                        {"join_seconds", join_s},
                        {"allreduce_sum_ok", sum_ok},
                        {"allreduce_4B_ms", 1000 * latency},
                        {"allreduce_MB", a.megabytes},
                        {"allreduce_big_ms", 1000 * big_s},
                        {"allreduce_big_GBps", big_s > 0 ? a.megabytes / 1024.0 / big_s : 0.0}};
    std::cout << j.dump(2) << std::endl;
  }
  if (!sum_ok)
    throw Error(ExitCode::Internal, "dist-check: rank " + std::to_string(rank) + " got a wrong all-reduce sum");
}

const CommandRegistrar reg(90, [](CLI::App& app) {
  auto args = std::make_shared<DistCheckArgs>();
  auto* cmd = app.add_subcommand(
      "dist-check", "Join the ranks of a torchrun/srun launch, check and time all-reduce (docs/distributed.md)");
  cmd->add_option("--megabytes", args->megabytes, "Size of the timed large all-reduce")->capture_default_str();
  cmd->add_option("--repeats", args->repeats, "Timed repetitions")->capture_default_str();
  cmd->callback([args] { run_dist_check(*args); });
});

}  // namespace
}  // namespace closerlook
