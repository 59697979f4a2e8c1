#include "dist/sharded.h"

#include <filesystem>
#include <fmt/format.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_io.h"
#include "core/npy.h"
#include "core/progress.h"

namespace fs = std::filesystem;

namespace closerlook {

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
  if (R == 1) return mine;
  comm.wait_for_all();  // ranks finish their shares at different times
  auto all = comm.allgather(mine);
  auto out = torch::empty({n, width}, torch::kFloat64);
  for (int64_t i = 0; i < n; ++i) out[i].copy_(all[static_cast<size_t>(i % R)][i]);  // copies, no arithmetic
  return out;
}

Profile evaluate_profile_sharded(Communicator& comm, PointEvaluator& ev, const std::string& kind,
                                 const std::vector<double>& ts, const std::function<torch::Tensor(double)>& point_at,
                                 const nlohmann::json& settings, bool quiet) {
  // The same record as evaluate_profile (surface/path_eval.cpp).
  Profile p;
  p.kind = kind;
  p.t = ts;
  p.settings = settings;
  p.settings["eval"] = ev.settings().to_json();
  p.settings["bn_examples"] = ev.bn_examples();
  p.settings["train_examples"] = ev.train_examples();
  p.settings["test_examples"] = ev.test_examples();
  p.points.resize(ts.size());
  p.dl.assign(ts.size(), 0.0);
  const int64_t n = static_cast<int64_t>(ts.size());

  // Chord lengths need consecutive points; every rank computes them (cheap next to evaluation).
  torch::Tensor prev;
  for (int64_t i = 0; i < n; ++i) {
    torch::Tensor w = point_at(ts[static_cast<size_t>(i)]).to(torch::kFloat64);
    if (prev.defined()) p.dl[static_cast<size_t>(i)] = (w - prev).norm().item<double>();
    prev = w;
  }
  const auto& keys = metric_keys();
  const int64_t width = static_cast<int64_t>(keys.size()) + 1;  // six metrics + weight_norm
  const int64_t share = (n - comm.rank() + comm.size() - 1) / comm.size();
  Progress progress(kind + " points (rank " + std::to_string(comm.rank()) + ")", share, quiet || comm.rank() != 0);
  auto rows = sharded_rows(comm, n, width, [&](int64_t i) {
    const PointMetrics m = ev.evaluate_flat(point_at(ts[static_cast<size_t>(i)]).to(torch::kFloat64));
    std::vector<double> v;
    for (const auto& k : keys) v.push_back(metric_value(m, k));
    v.push_back(m.weight_norm);
    progress.tick(1);
    return v;
  });
  progress.done();
  auto acc = rows.accessor<double, 2>();
  for (int64_t i = 0; i < n; ++i) {
    PointMetrics& m = p.points[static_cast<size_t>(i)];
    for (size_t k = 0; k < keys.size(); ++k) set_metric_value(m, keys[k], acc[i][static_cast<int64_t>(k)]);
    m.weight_norm = acc[i][width - 1];
  }
  return p;
}

namespace {

std::string shards_root(const std::string& out_dir, int n) { return out_dir + "/shards-of-" + std::to_string(n); }
std::string shard_dir(const std::string& out_dir, int r, int n) {
  return shards_root(out_dir, n) + "/rank-" + std::to_string(r);
}

// After every rank has evaluated its shard into shard_dir(rank): gathers the shards to rank 0,
// which merges them into out_dir; then each rank removes its shard folder.
PlaneResult gather_plane(Communicator& comm, const PlaneResult& mine, const std::string& out_dir) {
  const int R = comm.size(), me = comm.rank();
  const std::string dir = shard_dir(out_dir, me, R);
  comm.wait_for_all();

  const std::string setup_text = read_file(dir + "/plane-setup.json");
  const auto setups = comm.allgather_blobs(setup_text);
  const std::string hash0 = nlohmann::json::parse(setups[0]).value("setup_hash", std::string());
  for (int r = 1; r < R; ++r) {
    const std::string h = nlohmann::json::parse(setups[static_cast<size_t>(r)]).value("setup_hash", std::string());
    if (h != hash0)
      throw_bad_input(fmt::format("sharded plane {}: rank {} evaluated another plane than rank 0 (setup hash {} vs "
                                  "{}): every rank needs the same checkpoints, data and settings",
                                  out_dir, r, h, hash0));
  }
  const std::string partial = fmt::format("{}/partial-{}-of-{}.npy", dir, me, R);
  auto cells = read_npy(partial).to(torch::kFloat64).contiguous();
  auto parts = comm.allgather(cells);

  if (me == 0) {
    const std::string gathered = shards_root(out_dir, R) + "/gathered";
    make_dirs(gathered);
    write_file_atomic(gathered + "/plane-setup.json", setups[0]);
    for (int r = 0; r < R; ++r)
      write_npy(fmt::format("{}/partial-{}-of-{}.npy", gathered, r, R), parts[static_cast<size_t>(r)]);
    merge_plane_shards({gathered}, out_dir);
    fs::remove_all(gathered);
  }
  comm.wait_for_all();  // the outputs exist once every rank returns
  std::error_code ec;
  fs::remove_all(dir, ec);
  comm.barrier();
  if (me == 0) fs::remove(shards_root(out_dir, R), ec);  // only when empty (the others removed theirs)

  PlaneResult res = mine;
  res.dir = out_dir;
  res.complete = true;
  return res;
}

}  // namespace

PlaneResult evaluate_plane_sharded(Communicator& comm, PointEvaluator& ev, const PlaneInputs& in, PlaneOptions opts,
                                   const std::string& out_dir, const nlohmann::json& meta) {
  opts.shard = 0;
  opts.shards = 1;
  if (comm.size() == 1) return evaluate_plane(ev, in, opts, out_dir, meta);
  opts.shard = comm.rank();
  opts.shards = comm.size();
  opts.quiet = opts.quiet || comm.rank() != 0;
  const PlaneResult mine = evaluate_plane(ev, in, opts, shard_dir(out_dir, comm.rank(), comm.size()), meta);
  return gather_plane(comm, mine, out_dir);
}

}  // namespace closerlook
