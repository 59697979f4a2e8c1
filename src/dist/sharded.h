// Analyses split across the ranks of a Communicator: each rank computes its share of independent
// items (plane cells, profile points, similarity-map cells), then the results are gathered and
// rank 0 writes the files. Item i belongs to rank i % size (as `--shard i/n` does for planes).
// Results equal the single-process ones bit for bit: every item is computed by the same code on
// the same inputs, and gathering copies values without arithmetic.
#pragma once
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "dist/communicator.h"
#include "surface/grid_store.h"
#include "surface/path_eval.h"
#include "surface/point_eval.h"
#include "surface/plane.h"
#include "surface/profile.h"

namespace closerlook {

// Rows 0..n-1 of a (n, width) float64 matrix: this rank computes rows i with i % size == rank
// via row(i) (which must return `width` values); every rank gets the whole matrix.
torch::Tensor sharded_rows(Communicator& comm, int64_t n, int64_t width,
                           const std::function<std::vector<double>(int64_t)>& row);

// A grid task (surface/grid_store.h) over the ranks: rank r runs shard r of size, resuming from
// and saving to its own partial file (task.dir may be shared: the shards' files differ); the
// points are gathered, `finish` (optional) runs on every rank with the complete grid (e.g. rank 0
// writes the outputs), then each rank removes its partial file. Every rank returns the complete
// grid and the count of points it evaluated. Error(BadInput) when the ranks' grids differ.
GridRun run_grid_sharded(Communicator& comm, GridTask task,
                         const std::function<void(const GridStore&)>& finish = {});

// evaluate_profile (surface/path_eval.h) with the points spread over the ranks; every rank
// returns the whole profile (equal to the single-process one). Kept in memory (no partial file).
Profile evaluate_profile_sharded(Communicator& comm, PointEvaluator& ev, const std::string& kind,
                                 const std::vector<double>& ts, const std::function<torch::Tensor(double)>& point_at,
                                 const nlohmann::json& settings, bool quiet = false);

// evaluate_plane with shard = rank, shards = size, through run_grid_sharded: every rank keeps its
// resumable partial file in out_dir (a shared filesystem is fine but not needed), rank 0 writes
// the final outputs (identical to an unsharded run). A plane rank 0 finds finished is not
// recomputed. Every rank returns once the outputs are written. opts.shard/opts.shards are ignored.
PlaneResult evaluate_plane_sharded(Communicator& comm, PointEvaluator& ev, const PlaneInputs& in, PlaneOptions opts,
                                   const std::string& out_dir, const nlohmann::json& meta = {});

}  // namespace closerlook
