// One training run from a TrainConfig into a run folder (layout: train/run_dir.h). This is the
// entry point of `closerlook train` and of the study pipeline.
//   auto cfg = read_train_config(tree, "quick.toml");   // or load_train_config(path, overrides)
//   TrainSummary s = run_training(cfg, "runs/x", RunOptions{device});
// - a fresh folder: trains from the start (from [train] init_from weights if given);
// - a folder with checkpoints/last.state.pt of the same config: resumes exactly;
// - a folder whose summary.json says completed (or diverged) for the same config: returns that
//   summary with already_done = true and does nothing;
// - a folder of another config: Error(BadInput).
// A diverged run returns status "diverged" (the CLI maps it to exit code 4).
#pragma once
#include <string>

#include "train/train_config.h"
#include "train/trainer.h"

namespace closerlook {

TrainSummary run_training(const TrainConfig& cfg, const std::string& out_dir, const RunOptions& opts);

// Reads <run>/summary.json (Error(BadInput) if absent or malformed).
TrainSummary read_train_summary(const std::string& run_dir);

}  // namespace closerlook
