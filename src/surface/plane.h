// The plane through three weight vectors w0, w1, w2 (dnn-mode-connectivity's plane.py, for any
// three points: curve endpoints and a bend, or three checkpoints such as SGDR iterates).
//   Basis (Gram-Schmidt, float64): u = (w2 - w0)/dx, dx = ||w2 - w0||;
//                                  v = (w1 - w0 - ((w1 - w0).u) u)/dy, dy = its norm.
//   Coordinates of p: x = (p - w0).u, y = (p - w0).v; off-plane distance ||p - (w0 + x u + y v)||.
//   Grid (Garipov's alpha/beta): x = alpha dx, y = beta dy; w0 = (0, 0), w2 = (1, 0), the bend at
//   (x1/dx, 1). Axes span the three points (and any projected extra points) plus `margin` on
//   each side in alpha/beta units (default: alphas = betas = linspace(-0.2, 1.2, 21)).
//   Cell (i, j) is alphas[i], betas[j]; arrays are G x G indexed [i][j] as in plane.npz.
//
// Planes given by their basis alone (random directions around a point, a trajectory's principal
// components; surface/directions.h) go through the same setup record, cells, shards, resume and
// outputs: a plane is (origin, u, v, axes) whatever chose u and v (PlaneDefinition below).
// Points to project may be streamed (StreamedPoint: loaded when projected, then dropped), so the
// memory of a plane does not grow with the number of projected checkpoints.
//
// Output folder (see docs/surface.md): plane.json (metadata, projections), alphas.npy, betas.npy,
// grid.npy (G x G x 2, the (x, y) of each cell), bend_coordinates.npy (3 x 2), curve_coordinates.npy
// (T x 2, with a curve), tr_loss/tr_nll/tr_err/te_loss/te_nll/te_err.npy (G x G float64), plane.csv.
// Work in progress: the cells of each shard in the grid store's partial file (surface/grid_store.h,
// name "plane": plane.partial.json, plane.partial-<i>-of-<n>.json) next to plane-setup.json;
// resumed when present, merged by merge_plane_shards.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "surface/curve.h"
#include "surface/grid_store.h"
#include "surface/point_eval.h"

namespace closerlook {

struct PlaneBasis {
  torch::Tensor origin, u, v;  // float64, flat
  double dx = 0, dy = 0;       // ||w2 - w0||, height of w1 above the line w0-w2
  double x1 = 0;               // x coordinate of w1
  // u, v unit and orthogonal (three points, PCA). False for random directions (u = d1, v = d2 as
  // drawn, dx = dy = 1): coordinates then solve the 2 x 2 Gram system of u, v.
  bool orthonormal = true;
};

// Error(BadInput) when the three points are (numerically) collinear.
PlaneBasis plane_basis(const torch::Tensor& w0, const torch::Tensor& w1, const torch::Tensor& w2);

struct PlaneCoords {
  double x = 0, y = 0, off_plane = 0;
};
PlaneCoords project_onto_plane(const PlaneBasis& b, const torch::Tensor& p);
torch::Tensor plane_point(const PlaneBasis& b, double x, double y);  // float64

// Grid axes in alpha/beta units covering (0,0), (1,0), (x1/dx, 1) and `extra` with the margin.
std::pair<std::vector<double>, std::vector<double>> plane_axes(const PlaneBasis& b,
                                                               const std::vector<PlaneCoords>& extra, int grid,
                                                               double margin);

struct PlaneOptions {
  int grid = 21;
  double margin = 0.2;
  int shard = 0, shards = 1;   // this process evaluates cells c with c % shards == shard (c = i*G + j)
  int save_every = 4;          // write the partial file every k evaluated cells
  int curve_points = 61;       // points of the curve projected (curve_coordinates)
  bool quiet = false;
  nlohmann::json to_json() const;
};

// A point projected without being held: `load` is called once, when the point is projected.
struct StreamedPoint {
  std::string name;
  std::function<torch::Tensor()> load;
};
// Projections of held points then streamed ones (one loaded at a time), in that order.
std::vector<PlaneCoords> project_points(const PlaneBasis& b, const std::vector<torch::Tensor>& held,
                                        const std::vector<StreamedPoint>& stream);

struct PlaneInputs {
  torch::Tensor w0, w1, w2;                 // flat parameter vectors
  std::vector<std::string> names;           // labels of w0, w1, w2 (paths, "bend 1", ...)
  std::vector<std::pair<std::string, torch::Tensor>> extra;  // further points to project
  std::vector<StreamedPoint> stream;        // projected after `extra`, one at a time
  const Curve* curve = nullptr;             // projected at curve_points t's when set
};

struct PlaneResult {
  bool complete = false;  // every cell of the grid filled (false for a shard of several)
  int cells_evaluated = 0, cells_total = 0;
  std::string dir;
};

// The phases of evaluate_plane, for runners that spread the cells over processes (dist/sharded.h).
struct PlaneSetup {
  PlaneBasis basis;
  std::vector<double> alphas, betas;
  nlohmann::json record;  // plane-setup.json (with "setup_hash")
  // The plane's named points as (x, y): a three-point plane's w0, w1, w2; a defined plane's
  // anchors (the centre, the final weights). The train controls are taken there.
  std::vector<std::pair<double, double>> anchor_xy;
};
PlaneSetup plane_setup(const PointEvaluator& ev, const PlaneInputs& in, const PlaneOptions& opts,
                       const nlohmann::json& meta = {});
// Writes plane-setup.json into out_dir, or checks the one there (Error(BadInput) when it is of
// another plane); true when out_dir already holds this plane finished.
bool open_plane_dir(const PlaneSetup& s, const std::string& out_dir);
// The G x G cells (values: metric_keys()) with their partial files in out_dir.
GridTask plane_task(PointEvaluator& ev, const PlaneSetup& s, const PlaneOptions& opts, const std::string& out_dir);
// The final outputs of a plane from its setup record and its complete cells.
void write_plane_outputs(const nlohmann::json& setup, const GridStore& cells, const std::string& dir);

// A plane given by its basis alone (surface/directions.h chooses u, v).
struct PlaneDefinition {
  std::string kind;                 // "random" | "pca" (plane.json "kind")
  PlaneBasis basis;                 // origin: the centre point / the final iterate
  std::vector<std::pair<std::string, PlaneCoords>> anchors;  // named points on the plane (the centre)
  // Axes: alpha = beta in [-span, span] (symmetric, 0 exactly in the middle of an odd grid) when
  // set; else covering the anchors and the projections plus opts.margin, with dx, dy first set to
  // the largest |x|, |y| among them (scale_to_points) so the margin is relative.
  std::optional<double> span;
  bool scale_to_points = false;
  std::vector<StreamedPoint> project;  // projected into plane.json's "projections"
  nlohmann::json directions;           // how u, v were chosen: directions.json (seed, norms, variance)
  nlohmann::json units;                // what x, y mean
};
PlaneSetup plane_setup(const PointEvaluator& ev, const PlaneDefinition& def, const PlaneOptions& opts,
                       const nlohmann::json& meta = {});
PlaneResult evaluate_plane(PointEvaluator& ev, const PlaneDefinition& def, const PlaneOptions& opts,
                           const std::string& out_dir, const nlohmann::json& meta = {});
// Shard, evaluate, write (both forms of evaluate_plane).
PlaneResult evaluate_plane_setup(PointEvaluator& ev, const PlaneSetup& s, const PlaneOptions& opts,
                                 const std::string& out_dir);

// Evaluates this shard's cells (resuming from its partial file) and, when the run is unsharded,
// writes the final outputs. `meta` is stored in plane.json (e.g. data spec, sources).
PlaneResult evaluate_plane(PointEvaluator& ev, const PlaneInputs& in, const PlaneOptions& opts,
                           const std::string& out_dir, const nlohmann::json& meta = {});

// Control variates of the fast plane method (EvalSettings::train_controls, docs/surface.md "Fast
// planes"): the per-example NLL over the whole of `train` (dataset order, float64) at each of
// `weights`, BN recalibrated as `ev` does at every cell. One pass over the training set per weight.
std::vector<torch::Tensor> train_controls_at(PointEvaluator& ev, const std::vector<torch::Tensor>& weights,
                                             const Dataset& train);
// The same at the plane's anchor points, cached in out_dir/train-controls.npy (K x N, written
// atomically) with train-controls.json holding its key: the setup hash, the anchor weights' and
// the training data's content hashes. A cache of another key is recomputed, never used.
std::vector<torch::Tensor> plane_train_controls(PointEvaluator& ev, const PlaneSetup& s, const Dataset& train,
                                                const std::string& out_dir);
// evaluate_plane_setup, with the train controls set first when ev's settings ask for them
// (plane_train_controls; the job entry points of surface/jobs.h use this).
PlaneResult evaluate_plane_controlled(PointEvaluator& ev, const PlaneSetup& s, const Dataset& train,
                                      const PlaneOptions& opts, const std::string& out_dir);
// The values stored per cell: metric_keys(), then tr_nll_se and tr_examples when the setup's
// evaluation samples the train set adaptively or with controls (older planes keep their keys).
std::vector<std::string> plane_cell_keys(const nlohmann::json& setup);

// Merges the partial files of all shards found in `dirs` (same setup) into `out_dir`'s final
// outputs. Error(BadInput) when setups differ or cells are missing (names the shards).
void merge_plane_shards(const std::vector<std::string>& dirs, const std::string& out_dir);

// The six metric grids of a finished plane folder, [key] -> G x G float64.
std::map<std::string, torch::Tensor> read_plane_metrics(const std::string& dir);

}  // namespace closerlook
