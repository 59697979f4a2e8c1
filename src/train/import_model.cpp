#include "train/import_model.h"

#include <filesystem>

#include "core/atomic_file.h"
#include "core/config.h"
#include "core/error.h"
#include "core/job_folder.h"
#include "core/json_io.h"
#include "core/runtime.h"
#include "data/load.h"
#include "models/factory.h"
#include "train/evaluate.h"
#include "train/run_dir.h"
#include "train/run_status.h"

namespace fs = std::filesystem;

namespace closerlook {

nlohmann::json run_import_model(const ImportModelJob& job) {
  if (!file_exists(job.model)) throw_io(job.model + ": TorchScript model file not found");
  const std::string run_dir = fs::absolute(job.out_dir).lexically_normal().string();
  const std::string model_copy = (fs::path(run_dir) / "model.pt").string();

  // The config tree: [data] from the config file (other tables ignored) and the overrides,
  // [model] from the file.
  nlohmann::json data_tree = nlohmann::json::object();
  if (!job.config.empty()) {
    nlohmann::json cfg = load_toml_file(job.config);
    if (cfg.contains("data")) data_tree = cfg["data"];
  }
  nlohmann::json tree = {{"seed", 0}, {"data", data_tree}};
  for (const auto& s : job.data_overrides) {
    if (s.rfind("data.", 0) != 0)
      throw_bad_input("--set " + s + ": import-model takes data.* keys only (e.g. data.dataset=npy)");
    apply_override(tree, s);
  }
  std::vector<std::string> probes;
  for (const auto& p : job.probes)
    if (!p.empty()) probes.push_back(p);
  tree["model"] = {{"family", "torchscript"}, {"path", model_copy}, {"probes", probes}};

  ConfigReader root(tree, job.config.empty() ? std::string("import-model") : job.config);
  ConfigReader data_reader = root.section("data");
  const DataSpec data_spec = read_data_spec(data_reader);
  const std::string model_bytes = read_file(job.model);
  const std::string hash = content_hash(tree.dump() + "\n" + content_hash(model_bytes));

  const std::string summary_path = (fs::path(run_dir) / "summary.json").string();
  const std::string final_ckpt = checkpoint_path(run_dir, "final");
  // The folder belongs to this import (core/job_folder.h); a finished import is not redone.
  const JobFolder folder{run_dir, hash, "an import"};
  if (open_job_folder(folder, [&] { return file_exists(final_ckpt) && file_exists(summary_path); }) == FolderState::Done)
    return read_json(summary_path);

  DataSplit data = load_data(data_spec);
  CL_CHECK_INPUT(data.train.size() > 0, job.model + ": the [data] table gives an empty training set");
  ModelSpec spec;
  spec.family = "torchscript";
  spec.layout = "torchscript";
  spec.path = fs::absolute(job.model).lexically_normal().string();
  spec.probes = probes;
  spec.in_channels = data.train.channels();
  spec.image_size = data.train.height();
  spec.num_classes = data.train.num_classes;
  if (data.train.height() != data.train.width())
    throw_bad_input(job.model + ": the data's images are " + std::to_string(data.train.height()) + "x" +
                    std::to_string(data.train.width()) + "; closerlook model specs need square images");
  build_model(spec, 0);  // validates the original (classes, probes) before anything is written

  make_dirs((fs::path(run_dir) / "checkpoints").string());
  write_file_atomic(model_copy, model_bytes);
  spec.path = model_copy;
  NetworkPtr net = build_model(spec, 0);
  write_job_record(folder, {{"config", tree},
                            {"source", "import-model " + fs::absolute(job.model).lexically_normal().string()},
                            {"model_spec", model_spec_to_json(spec)},
                            {"runtime", runtime_metadata()}});
  net->to(job.device);
  net->train(false);
  net->save(final_ckpt);
  const EvalResult test = data.test.size() > 0 ? evaluate(*net, data.test, job.device) : EvalResult{};
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
  write_json(summary_path, summary);
  return summary;
}

}  // namespace closerlook
