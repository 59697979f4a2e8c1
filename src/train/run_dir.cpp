#include "train/run_dir.h"

#include <filesystem>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_io.h"

namespace fs = std::filesystem;

namespace closerlook {

std::string checkpoint_path(const std::string& run_dir, const std::string& tag) {
  return (fs::path(run_dir) / "checkpoints" / (tag + ".pt")).string();
}

std::string run_dir_of_checkpoint(const std::string& ckpt_path) {
  fs::path p(ckpt_path);
  if (!file_exists(ckpt_path)) throw_bad_input(ckpt_path + ": checkpoint not found");
  fs::path dir = p.parent_path();
  if (dir.filename() != "checkpoints" || !file_exists((dir.parent_path() / "config.json").string()))
    throw_bad_input(ckpt_path + ": not inside a closerlook run folder (<run>/checkpoints/<tag>.pt with <run>/config.json)");
  return dir.parent_path().string();
}

nlohmann::json read_run_config(const std::string& run_dir) {
  return read_json((fs::path(run_dir) / "config.json").string());
}

ModelSpec run_model_spec(const std::string& run_dir) {
  auto cfg = read_run_config(run_dir);
  if (!cfg.contains("model_spec")) throw_bad_input(run_dir + "/config.json: no 'model_spec'");
  return model_spec_from_json(cfg["model_spec"]);
}

NetworkPtr load_network(const std::string& ckpt_path, torch::Device device) {
  auto net = build_model(run_model_spec(run_dir_of_checkpoint(ckpt_path)), 0);
  net->load(ckpt_path);
  net->to(device);
  return net;
}

}  // namespace closerlook
