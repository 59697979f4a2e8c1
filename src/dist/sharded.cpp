#include "dist/sharded.h"

#include <fmt/format.h>

#include "core/error.h"

namespace closerlook {

namespace {

// Row i of the result is row i of rank i % size's matrix (copies, no arithmetic).
torch::Tensor gather_rows(Communicator& comm, const torch::Tensor& mine) {
  const int R = comm.size();
  if (R == 1) return mine;
  comm.wait_for_all();  // ranks finish their shares at different times
  auto all = comm.allgather(mine);
  auto out = torch::empty_like(mine);
  for (int64_t i = 0; i < mine.size(0); ++i) out[i].copy_(all[static_cast<size_t>(i % R)][i]);
  return out;
}

// Error(BadInput) unless every rank computes the same grid.
void require_same_grid(Communicator& comm, const GridTask& task) {
  const auto hashes = comm.allgather_blobs(task.grid.hash());
  for (size_t r = 1; r < hashes.size(); ++r)
    if (hashes[r] != hashes[0])
      throw_bad_input(fmt::format("sharded {} in '{}': rank {} computes another grid than rank 0 (hash {} vs {}): "
                                  "every rank needs the same inputs, data and settings",
                                  task.name, task.dir, r, hashes[r], hashes[0]));
}

}  // namespace

torch::Tensor sharded_rows(Communicator& comm, int64_t n, int64_t width,
                           const std::function<std::vector<double>(int64_t)>& row) {
  CL_CHECK_INPUT(n >= 0 && width >= 1, fmt::format("sharded_rows: bad shape ({}, {})", n, width));
  const int R = comm.size(), me = comm.rank();
  auto mine = torch::zeros({n, width}, torch::kFloat64);
  auto acc = mine.accessor<double, 2>();
  for (int64_t i = me; i < n; i += R) {
    const auto v = row(i);
    CL_CHECK_INPUT(static_cast<int64_t>(v.size()) == width,
                   fmt::format("sharded_rows: row {} has {} values, expected {}", i, v.size(), width));
    for (int64_t k = 0; k < width; ++k) acc[i][k] = v[static_cast<size_t>(k)];
  }
  return gather_rows(comm, mine);
}

GridRun run_grid_sharded(Communicator& comm, GridTask task, const std::function<void(const GridStore&)>& finish) {
  const int R = comm.size(), me = comm.rank();
  require_same_grid(comm, task);
  const GridShard shard{me, R};
  task.quiet = task.quiet || me != 0;
  task.label += R > 1 ? fmt::format(" (rank {})", me) : "";
  const GridRun mine = run_grid(task, shard);

  const int64_t n = mine.store.size(), width = static_cast<int64_t>(task.grid.keys().size());
  auto rows = torch::zeros({n, width}, torch::kFloat64);
  auto mine_acc = rows.accessor<double, 2>();
  for (int64_t p = me; p < n; p += R) {
    const auto v = mine.store.values(p);
    for (int64_t k = 0; k < width; ++k) mine_acc[p][k] = v[static_cast<size_t>(k)];
  }
  rows = gather_rows(comm, rows);
  GridRun out{task.grid, mine.evaluated};
  auto acc = rows.accessor<double, 2>();
  for (int64_t p = 0; p < n; ++p) {
    std::vector<double> v(static_cast<size_t>(width));
    for (int64_t k = 0; k < width; ++k) v[static_cast<size_t>(k)] = acc[p][k];
    out.store.set(p, v);
  }
  if (finish) finish(out.store);
  comm.wait_for_all();  // the outputs exist before any partial file goes
  remove_partial(task, shard);
  return out;
}

Profile evaluate_profile_sharded(Communicator& comm, PointEvaluator& ev, const std::string& kind,
                                 const std::vector<double>& ts, const std::function<torch::Tensor(double)>& point_at,
                                 const nlohmann::json& settings, bool quiet) {
  const ProfileGrid g = profile_grid(ev, kind, ts, point_at, settings, /*partial_dir=*/"", "profile", quiet);
  return finish_profile(g, run_grid_sharded(comm, g.task).store, point_at);
}

PlaneResult evaluate_plane_sharded(Communicator& comm, PointEvaluator& ev, const PlaneInputs& in, PlaneOptions opts,
                                   const std::string& out_dir, const nlohmann::json& meta) {
  opts.shard = 0;
  opts.shards = 1;
  if (comm.size() == 1) return evaluate_plane(ev, in, opts, out_dir, meta);
  const PlaneSetup s = plane_setup(ev, in, opts, meta);
  PlaneResult res;
  res.dir = out_dir;
  res.cells_total = opts.grid * opts.grid;
  res.complete = true;
  const GridTask task = plane_task(ev, s, opts, out_dir);
  require_same_grid(comm, task);  // before any rank touches out_dir
  // Rank 0 decides whether the plane is finished: it is the one that writes the outputs.
  const bool done = open_plane_dir(s, out_dir);
  if (comm.allgather_blobs(done ? "1" : "0")[0] == "1") return res;
  const GridRun run = run_grid_sharded(comm, task, [&](const GridStore& cells) {
    if (comm.is_root()) write_plane_outputs(s.record, cells, out_dir);
  });
  res.cells_evaluated = static_cast<int>(run.evaluated);
  return res;
}

}  // namespace closerlook
