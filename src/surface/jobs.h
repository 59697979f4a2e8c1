// File-level entry points of the surface tools, used by the CLI (cmd_surface.cpp) and the study
// pipeline: each takes checkpoint/curve folders and an output folder, loads the networks and the
// run's data, and writes documented files (docs/surface.md). All are resumable/idempotent.
#pragma once
#include <torch/torch.h>

#include <optional>
#include <string>
#include <vector>

#include "surface/curve_training.h"
#include "surface/directions.h"
#include "surface/path_eval.h"
#include "surface/plane.h"
#include "surface/point_eval.h"
#include "surface/profile.h"

namespace closerlook {

// Shared by every job.
struct SurfaceCommon {
  EvalSettings eval;                        // eval.weight_decay is replaced by the one below
  std::optional<double> weight_decay;       // for *_loss; not set: the source run's/curve's
  std::vector<std::string> data_overrides;  // "data.key=value"
  torch::Device device = torch::kCPU;
  bool quiet = false;
};

// Straight line between two checkpoints, or the polygonal path through several:
// writes <out>/line.{json,csv,npy} (two checkpoints) or <out>/path.{json,csv,npy}.
struct InterpolateJob {
  std::vector<std::string> checkpoints;  // >= 2, same architecture
  std::string out_dir;
  PathOptions path;
  SurfaceCommon common;
};
Profile run_interpolation(const InterpolateJob& job);

// Trains a curve between two checkpoints into a curve folder:
//   config.json ({"config": {"data", "curve", "start", "end"}, "model_spec", "runtime", "config_hash"}),
//   curve.json + bends.npy, metrics.jsonl, summary.json, checkpoints/last.state.pt,
//   checkpoints/bend-<j>.pt (each bend as a network, BN recalibrated on up to 10k training examples).
// Resumes an unfinished folder of the same config; a finished one is left as is.
// Data parallel (`data_parallel` set, e.g. dist/data_parallel.h's DataParallel, not owned): every
// rank trains the same curve on its slice of each global batch (train_curve); only rank 0 writes
// (a resume needs the folder on a filesystem all ranks see, as for `closerlook train`).
struct ConnectJob {
  std::string start, end, out_dir;
  CurveTrainOptions curve;
  std::vector<std::string> data_overrides;
  torch::Device device = torch::kCPU;
  bool quiet = false;
  DataParallelHooks* data_parallel = nullptr;
};
CurveTrainSummary run_connect(const ConnectJob& job);

// Evaluates a trained curve (and, with `with_line`, the straight line between its endpoints) at
// path.points t's: writes <out>/curve.{json,csv,npy} and <out>/line.{json,csv,npy} plus
// <out>/curve_eval.json (both summaries and the barrier comparison). out_dir "" = <curve>/eval.
struct CurveEvalJob {
  std::string curve_dir, out_dir;
  PathOptions path;
  bool with_line = true;
  SurfaceCommon common;
};
struct CurveEvalResult {
  Profile curve, line;  // line empty without with_line
  nlohmann::json summary;
};
CurveEvalResult run_curve_eval(const CurveEvalJob& job);

// A plane through three checkpoints, or through (bend 0, bend k, bend B-1) of a curve folder
// (k = the middle bend by default), with further checkpoints projected. Or a plane given by its
// directions (directions = "random": around one checkpoint along two filter-normalised random
// directions; "pca": the top two principal components of a run's epoch checkpoints around its
// final weights, every epoch projected). Projected checkpoints are read one at a time.
struct PlaneJob {
  std::vector<std::string> checkpoints;  // W0 W1 W2 (empty when curve_dir is given)
  std::string curve_dir;
  std::optional<int> bend;               // with a curve: the bend spanning v (not set: (B-1)/2 rounded up)
  std::vector<std::string> project;      // further checkpoints to project
  std::vector<std::string> project_names;  // their names in plane.json (empty: their absolute paths)
  std::string out_dir;
  PlaneOptions plane;
  SurfaceCommon common;
  std::string directions;        // "" (three points or a curve) | "random" | "pca"
  std::string around;            // random: the centre checkpoint
  std::string trajectory;        // pca: a run folder (checkpoints/epoch-<E>.pt, and final.pt as the origin)
  RandomDirectionOptions random;
  double span = 1.0;             // random: alpha, beta in [-span, span]
  PcaOptions pca;
};
PlaneResult run_plane(const PlaneJob& job);

// The checkpoints of a run's trajectory: epoch-<E>.pt by increasing E, and the final weights
// (final.pt when present, else the last epoch's). Error(BadInput) when there are none.
struct RunTrajectory {
  std::vector<std::string> epochs;  // paths
  std::vector<int> epoch_numbers;
  std::string final_checkpoint;
};
RunTrajectory run_trajectory(const std::string& run_dir);

}  // namespace closerlook
