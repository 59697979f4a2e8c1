// `closerlook import-model MODEL.pt --out RUN_DIR [--config F.toml] [--set data.key=v] [--probes a,b]`:
// turns a TorchScript model saved from Python into a run folder (train/run_dir.h) so that every
// tool that takes <run>/checkpoints/<tag>.pt (interpolate, connect, plane, activations,
// similarity-map, train.init_from / teacher) takes it too (docs/own_models.md):
//   RUN_DIR/model.pt                a copy of MODEL.pt (the architecture the run refers to)
//   RUN_DIR/config.json             {"config": {"seed", "data", "model"}, "model_spec" (family
//                                   "torchscript", path = RUN_DIR/model.pt), "runtime", "config_hash"}
//   RUN_DIR/checkpoints/final.pt    the model's weights (JitNetwork::save)
//   RUN_DIR/summary.json            status "completed", imported: true, test loss/accuracy
// Rerunning with the same model and data is a no-op; another model or data into a used folder is an error.
#include <filesystem>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "core/atomic_file.h"
#include "core/config.h"
#include "core/error.h"
#include "core/json_io.h"
#include "core/runtime.h"
#include "data/load.h"
#include "models/factory.h"
#include "train/evaluate.h"
#include "train/run_dir.h"
#include "train/run_status.h"

namespace fs = std::filesystem;

namespace closerlook {
namespace {

struct ImportArgs {
  std::string model, out, config, probes;
  std::vector<std::string> sets;
  CommonOptions common;
};

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string p; std::getline(ss, p, ',');)
    if (!p.empty()) out.push_back(p);
  return out;
}

void run_import(const ImportArgs& a) {
  const torch::Device device = apply_common_options(a.common);
  if (!file_exists(a.model)) throw_io(a.model + ": TorchScript model file not found");
  const std::string run_dir = fs::absolute(a.out).lexically_normal().string();
  const std::string model_copy = (fs::path(run_dir) / "model.pt").string();

  // The config tree: [data] from --config (other tables ignored) and --set, [model] from the file.
  nlohmann::json data_tree = nlohmann::json::object();
  if (!a.config.empty()) {
    nlohmann::json cfg = load_toml_file(a.config);
    if (cfg.contains("data")) data_tree = cfg["data"];
  }
  nlohmann::json tree = {{"seed", 0}, {"data", data_tree}};
  for (const auto& s : a.sets) {
    if (s.rfind("data.", 0) != 0)
      throw_bad_input("--set " + s + ": import-model takes data.* keys only (e.g. data.dataset=npy)");
    apply_override(tree, s);
  }
  const auto probes = split_commas(a.probes);
  tree["model"] = {{"family", "torchscript"}, {"path", model_copy}, {"probes", probes}};

  ConfigReader root(tree, a.config.empty() ? std::string("import-model") : a.config);
  ConfigReader data_reader = root.section("data");
  const DataSpec data_spec = read_data_spec(data_reader);
  const std::string model_bytes = read_file(a.model);
  const std::string hash = content_hash(tree.dump() + "\n" + content_hash(model_bytes));

  const std::string config_path = (fs::path(run_dir) / "config.json").string();
  const std::string final_ckpt = checkpoint_path(run_dir, "final");
  if (file_exists(config_path)) {
    const auto old = read_json(config_path);
    if (old.value("config_hash", std::string()) != hash)
      throw_bad_input(run_dir + ": holds another run or import (config_hash " + old.value("config_hash", std::string()) +
                      ", this import " + hash + "); choose another --out");
    if (file_exists(final_ckpt) && file_exists((fs::path(run_dir) / "summary.json").string())) {
      std::cout << read_file((fs::path(run_dir) / "summary.json").string());
      return;
    }
  } else if (fs::exists(run_dir) && !fs::is_empty(run_dir)) {
    throw_bad_input(run_dir + ": exists, is not empty and is not a closerlook run folder (no config.json)");
  }

  DataSplit data = load_data(data_spec);
  CL_CHECK_INPUT(data.train.size() > 0, a.model + ": the [data] table gives an empty training set");
  ModelSpec spec;
  spec.family = "torchscript";
  spec.layout = "torchscript";
  spec.path = fs::absolute(a.model).lexically_normal().string();
  spec.probes = probes;
  spec.in_channels = data.train.channels();
  spec.image_size = data.train.height();
  spec.num_classes = data.train.num_classes;
  if (data.train.height() != data.train.width())
    throw_bad_input(a.model + ": the data's images are " + std::to_string(data.train.height()) + "x" +
                    std::to_string(data.train.width()) + "; closerlook model specs need square images");
  build_model(spec, 0);  // validates the original (classes, probes) before anything is written

  make_dirs((fs::path(run_dir) / "checkpoints").string());
  write_file_atomic(model_copy, model_bytes);
  spec.path = model_copy;
  NetworkPtr net = build_model(spec, 0);
  write_json(config_path, {{"config", tree},
                           {"source", "import-model " + fs::absolute(a.model).lexically_normal().string()},
                           {"model_spec", model_spec_to_json(spec)},
                           {"runtime", runtime_metadata()},
                           {"config_hash", hash}});
  net->to(device);
  net->train(false);
  net->save(final_ckpt);
  const EvalResult test = data.test.size() > 0 ? evaluate(*net, data.test, device) : EvalResult{};
  nlohmann::json summary = {{"status", RunStatus::Completed},
                            {"imported", true},
                            {"arch", net->arch()},
                            {"probes", net->probe_names()},
                            {"epoch", 0},
                            {"iter", 0},
                            {"test_loss", test.loss},
                            {"test_acc", test.accuracy},
                            {"seconds", 0.0},
                            {"config_hash", hash},
                            {"checkpoints", {{{"tag", "final"}, {"iter", 0}, {"epoch", 0}}}}};
  write_json((fs::path(run_dir) / "summary.json").string(), summary);
  std::cout << summary.dump(2) << "\n";
}

const CommandRegistrar reg(25, [](CLI::App& app) {
  auto args = std::make_shared<ImportArgs>();
  auto* cmd = app.add_subcommand(
      "import-model", "Make a run folder from a TorchScript model saved in Python, so every tool can analyse it");
  cmd->add_option("MODEL", args->model, "TorchScript file (torch.jit.script(model).save(path))")->required();
  cmd->add_option("--out", args->out, "Run folder to create (model.pt, config.json, checkpoints/final.pt)")->required();
  cmd->add_option("--config", args->config, "TOML file whose [data] table describes the data (other tables ignored)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--set", args->sets, "A data key: --set data.dataset=npy --set data.dir=/d (repeatable)");
  cmd->add_option("--probes", args->probes,
                  "Comma-separated probe points (submodule paths, e.g. features.2,classifier.0; default: all)");
  add_common_options(cmd, args->common);
  cmd->callback([args] { run_import(*args); });
});

}  // namespace
}  // namespace closerlook
