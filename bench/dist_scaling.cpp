// Data-parallel scaling on one machine: the same global batch trained by
//   A  1 process  x 2 threads   (intra-op parallelism)
//   B  2 processes x 1 thread   (c10d Gloo data parallel over 127.0.0.1: each takes half the batch)
//   C  1 process  x 1 thread    (reference)
// on vgg11-w16 (+BN by default; --no-bn for the variant) with synthetic 1x32x32 images in memory
// (the Fashion-MNIST geometry). Figure: training images/s (forward + backward + all-reduce +
// step) after warm-up; efficiency = B / A (same cores), speed-up of B over C. The configurations
// alternate `--rounds` times and the median is reported, because the machine is shared.
//   dist_scaling [--steps 30] [--warmup 5] [--batch 128] [--rounds 3] [--no-bn]
#include <CLI/CLI.hpp>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "data/loader.h"
#include "data/synthetic.h"
#include "dist/data_parallel.h"
#include "dist/rendezvous.h"
#include "models/factory.h"

using namespace closerlook;

namespace {

struct Args {
  int steps = 30, warmup = 5, batch = 128, rounds = 3;
  bool bn = true;
};

// CLI11 for the options; the re-executed workers get the same argv (run_config).
Args parse(int argc, char** argv) {
  Args a;
  CLI::App app{"dist_scaling: data-parallel training, P processes x T threads against 1 process x P*T threads"};
  app.add_option("--steps", a.steps, "Timed steps")->capture_default_str();
  app.add_option("--warmup", a.warmup, "Untimed steps first")->capture_default_str();
  app.add_option("--batch", a.batch, "Global batch")->capture_default_str();
  app.add_option("--rounds", a.rounds)->capture_default_str();
  app.add_flag_callback("--no-bn", [&] { a.bn = false; }, "VGG without BatchNorm");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    std::exit(app.exit(e));
  }
  return a;
}

// One worker: trains warmup + steps iterations and prints {"images_per_s", ...} on rank 0.
int worker(const Args& a) {
  const int threads = std::atoi(std::getenv("CL_BENCH_THREADS"));
  at::set_num_threads(threads);
  auto comm = connect_from_env();
  DataParallel dp(*comm);

  const int64_t n = int64_t(a.batch) * 8;
  RawImages raw = make_synthetic(n, 1, 32, 10, 7, 0);
  Dataset ds;
  ds.name = "synthetic/train";
  ds.images = ((raw.images.to(torch::kFloat32) - 0.5) / 0.25).contiguous();
  ds.labels = raw.labels;
  ds.num_classes = 10;
  ds.mean = {0.5};
  ds.std = {0.25};
  BatchLoader loader(ds, a.batch, true, true, AugmentSpec{}, 1);
  loader.set_shard(comm->rank(), comm->size());

  ModelSpec spec;
  spec.family = "vgg";
  spec.layout = "vgg11";
  spec.width = 0.25;
  spec.batchnorm = a.bn;
  spec.fc_hidden = {128, 128};
  spec.in_channels = 1;
  spec.image_size = 32;
  spec.num_classes = 10;
  NetworkPtr net = build_model(spec, 3);
  std::vector<torch::Tensor> params;
  for (auto& [name, p] : net->named_parameters()) params.push_back(p);
  torch::optim::SGD opt(params, torch::optim::SGDOptions(0.05).momentum(0.9).weight_decay(5e-4));
  net->train(true);
  dp.on_start(*net, 0);

  double seconds = 0, comm_seconds = 0;
  auto now = [] { return std::chrono::steady_clock::now(); };
  for (int it = 0; it < a.warmup + a.steps; ++it) {
    const auto t0 = now();
    Batch b = loader.batch(it % loader.num_batches());
    opt.zero_grad();
    auto loss = torch::nn::functional::cross_entropy(net->forward(b.x), b.y);
    loss.backward();
    const auto c0 = now();
    dp.reduce_gradients(*net, loss.detach(), b.x.size(0));
    const auto c1 = now();
    opt.step();
    if (it >= a.warmup) {
      seconds += std::chrono::duration<double>(now() - t0).count();
      comm_seconds += std::chrono::duration<double>(c1 - c0).count();
    }
  }
  // The slowest rank sets the pace.
  auto t = torch::tensor({seconds, comm_seconds}, torch::kFloat64);
  comm->allreduce_(t, ReduceKind::Max);
  if (comm->is_root())
    std::printf("%s\n", nlohmann::json({{"images_per_s", a.steps * a.batch / t[0].item<double>()},
                                        {"allreduce_ms_per_step", 1000 * t[1].item<double>() / a.steps},
                                        {"processes", comm->size()},
                                        {"threads", threads}})
                            .dump()
                            .c_str());
  return 0;
}

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// Runs `processes` workers with `threads` threads each; returns rank 0's JSON line.
nlohmann::json run_config(int argc, char** argv, int processes, int threads) {
  const std::string exe = std::filesystem::read_symlink("/proc/self/exe").string();
  const int port = free_port();
  const std::string log = fmt::format("/tmp/dist_scaling_{}_{}p{}t.log", ::getpid(), processes, threads);
  std::vector<pid_t> pids;
  for (int r = 0; r < processes; ++r) {
    pid_t pid = ::fork();
    if (pid == 0) {
      ::setenv("CL_BENCH_ROLE", "worker", 1);
      ::setenv("CL_BENCH_THREADS", std::to_string(threads).c_str(), 1);
      ::setenv("OMP_NUM_THREADS", std::to_string(threads).c_str(), 1);
      ::setenv("CL_DIST", processes > 1 ? "on" : "off", 1);
      if (processes > 1) {
        ::setenv("RANK", std::to_string(r).c_str(), 1);
        ::setenv("WORLD_SIZE", std::to_string(processes).c_str(), 1);
        ::setenv("MASTER_ADDR", "127.0.0.1", 1);
        ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      } else {
        ::unsetenv("RANK");
        ::unsetenv("WORLD_SIZE");
      }
      if (r == 0) {
        FILE* f = std::freopen(log.c_str(), "w", stdout);
        (void)f;
      }
      ::execv(exe.c_str(), argv);
      ::_exit(127);
    }
    pids.push_back(pid);
  }
  for (pid_t p : pids) {
    int st = 0;
    ::waitpid(p, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) throw std::runtime_error("a worker failed; see " + log);
  }
  std::ifstream f(log);
  std::string line, last;
  while (std::getline(f, line))
    if (!line.empty() && line[0] == '{') last = line;
  std::filesystem::remove(log);
  (void)argc;
  return nlohmann::json::parse(last);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Args a = parse(argc, argv);
    const char* role = std::getenv("CL_BENCH_ROLE");
    if (role && std::string(role) == "worker") return worker(a);

    std::map<std::string, std::vector<double>> ips, comm_ms;
    const std::vector<std::pair<std::string, std::pair<int, int>>> configs = {
        {"1p x 2t", {1, 2}}, {"2p x 1t", {2, 1}}, {"1p x 1t", {1, 1}}};
    for (int round = 0; round < a.rounds; ++round)
      for (const auto& [name, pt] : configs) {
        auto j = run_config(argc, argv, pt.first, pt.second);
        ips[name].push_back(j["images_per_s"].get<double>());
        comm_ms[name].push_back(j["allreduce_ms_per_step"].get<double>());
        std::fprintf(stderr, "round %d %-8s %8.1f img/s (all-reduce %.2f ms/step)\n", round + 1, name.c_str(),
                     ips[name].back(), comm_ms[name].back());
      }
    const double A = median(ips["1p x 2t"]), B = median(ips["2p x 1t"]), C = median(ips["1p x 1t"]);
    nlohmann::json out = {{"workload", std::string("vgg11-w16") + (a.bn ? "+BN" : " (no BN)") +
                                           ", synthetic 1x32x32, global batch " + std::to_string(a.batch)},
                          {"steps", a.steps},
                          {"rounds", a.rounds},
                          {"images_per_s", {{"1p_x_2t", A}, {"2p_x_1t", B}, {"1p_x_1t", C}}},
                          {"allreduce_ms_per_step_2p", median(comm_ms["2p x 1t"])},
                          {"efficiency_2p_vs_2t", B / A},
                          {"speedup_2p_vs_1t", B / C},
                          {"speedup_2t_vs_1t", A / C}};
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dist_scaling: %s\n", e.what());
    return 1;
  }
}
