// `closerlook bench train`: images/s of the training step (forward + backward + optimizer step)
// on random data held in memory, for the model of a config's [model] table and the optimizer of
// its [train] table (defaults: the vgg11-w16 workload's SGD lr 0.05, momentum 0.9, wd 5e-4).
#include <chrono>
#include <cstdio>
#include <iostream>

#include "cli/commands.h"
#include "core/config.h"
#include "core/error.h"
#include "core/runtime.h"
#include "models/factory.h"
#include "train/optimizer.h"
#include "train/train_spec.h"

namespace closerlook {
namespace {

struct BenchTrainArgs {
  std::string config;
  std::vector<std::string> sets;
  int64_t batch = 128, steps = 60, warmup = 10, channels = 1, size = 32, classes = 10;
  CommonOptions common;
};

void run_bench_train(const BenchTrainArgs& a) {
  const torch::Device dev = apply_common_options(a.common);
  CL_CHECK_INPUT(a.batch > 0 && a.steps > 0 && a.warmup >= 0, "bench train: --batch and --steps must be > 0");
  json tree = a.config.empty() ? json::object() : load_toml_file(a.config);
  for (const auto& s : a.sets) apply_override(tree, s);
  const std::string source = a.config.empty() ? "--set" : a.config;
  ConfigReader root(tree, source);
  root.ignore("seed");
  root.ignore("data");  // the bench uses random data of the given shape
  ConfigReader mr = root.section("model");
  ModelSpec spec = read_model_spec(mr);
  mr.finish();
  ConfigReader tr = root.section("train");
  TrainSpec t = read_train_spec(tr);
  tr.finish();
  root.finish();
  spec.in_channels = a.channels;
  spec.image_size = a.size;
  spec.num_classes = a.classes;

  NetworkPtr net = build_model(spec, 0);
  net->to(dev);
  net->train(true);
  auto params = net->parameters();
  auto opt = make_optimizer(t, {params});
  torch::manual_seed(1);
  auto x = torch::randn({a.batch, a.channels, a.size, a.size}).to(dev);
  auto y = torch::randint(0, a.classes, {a.batch}, torch::kLong).to(dev);

  auto step = [&] {
    clear_grads(params);
    auto loss = torch::nn::functional::cross_entropy(net->forward(x), y);
    loss.backward();
    opt->step();
    return loss;
  };
  for (int64_t i = 0; i < a.warmup; ++i) step();
  torch::Tensor loss;
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < a.steps; ++i) loss = step();
  const double final_loss = loss.item<double>();  // also waits for the device
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  json out = {{"workload", "train"},
              {"arch", net->arch()},
              {"optimizer", t.optimizer},
              {"batch", a.batch},
              {"steps", a.steps},
              {"warmup", a.warmup},
              {"threads", at::get_num_threads()},
              {"device", dev.str()},
              {"memory_format", memory_format_name(net->memory_format())},
              {"seconds", secs},
              {"seconds_per_step", secs / double(a.steps)},
              {"images_per_s", double(a.batch * a.steps) / secs},
              {"final_loss", final_loss}};
  std::cout << out.dump() << std::endl;
}

CLI::App* bench_group(CLI::App& app) {
  for (auto* s : app.get_subcommands([](CLI::App* c) { return c->get_name() == "bench"; })) return s;
  auto* b = app.add_subcommand("bench", "Throughput benchmarks (JSON on stdout)");
  b->require_subcommand(1);
  return b;
}

const CommandRegistrar reg(80, [](CLI::App& app) {
  auto args = std::make_shared<BenchTrainArgs>();
  auto* cmd = bench_group(app)->add_subcommand("train", "Training-step throughput (images/s) on data in memory");
  cmd->add_option("--config", args->config, "TOML config: its [model] and [train] tables are used")
      ->check(CLI::ExistingFile);
  cmd->add_option("--set", args->sets, "Override a config key: --set model.batchnorm=false (repeatable)");
  cmd->add_option("--batch", args->batch, "Batch size")->capture_default_str();
  cmd->add_option("--steps", args->steps, "Timed steps")->capture_default_str();
  cmd->add_option("--warmup", args->warmup, "Untimed steps first")->capture_default_str();
  cmd->add_option("--channels", args->channels, "Input channels")->capture_default_str();
  cmd->add_option("--size", args->size, "Input height and width")->capture_default_str();
  cmd->add_option("--classes", args->classes, "Number of classes")->capture_default_str();
  add_common_options(cmd, args->common);
  cmd->callback([args] { run_bench_train(*args); });
});

}  // namespace
}  // namespace closerlook
