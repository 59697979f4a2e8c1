#include "surface/plane.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <regex>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_io.h"
#include "core/npy.h"
#include "core/progress.h"

namespace closerlook {

namespace fs = std::filesystem;

PlaneBasis plane_basis(const torch::Tensor& w0, const torch::Tensor& w1, const torch::Tensor& w2) {
  CL_CHECK_INPUT(w0.dim() == 1 && w0.sizes().equals(w1.sizes()) && w0.sizes().equals(w2.sizes()),
                 "plane: the three weight vectors must be flat and of equal size (" + std::to_string(w0.numel()) +
                     ", " + std::to_string(w1.numel()) + ", " + std::to_string(w2.numel()) + ")");
  PlaneBasis b;
  b.origin = w0.to(torch::kFloat64).clone();
  b.u = w2.to(torch::kFloat64) - b.origin;
  b.dx = b.u.norm().item<double>();
  CL_CHECK_INPUT(b.dx > 0 && std::isfinite(b.dx), "plane: w0 and w2 coincide (or are not finite): no direction u");
  b.u /= b.dx;
  b.v = w1.to(torch::kFloat64) - b.origin;
  b.x1 = b.v.dot(b.u).item<double>();
  b.v -= b.x1 * b.u;
  b.dy = b.v.norm().item<double>();
  const double scale = std::max({b.dx, std::fabs(b.x1), (w1.to(torch::kFloat64) - b.origin).norm().item<double>()});
  CL_CHECK_INPUT(b.dy > 1e-12 * scale, "plane: the three weight vectors are collinear (w1 lies on the line w0-w2)");
  b.v /= b.dy;
  return b;
}

PlaneCoords project_onto_plane(const PlaneBasis& b, const torch::Tensor& p) {
  auto d = p.to(torch::kFloat64) - b.origin;
  PlaneCoords c;
  c.x = d.dot(b.u).item<double>();
  c.y = d.dot(b.v).item<double>();
  c.off_plane = (d - c.x * b.u - c.y * b.v).norm().item<double>();
  return c;
}

torch::Tensor plane_point(const PlaneBasis& b, double x, double y) { return b.origin + x * b.u + y * b.v; }

std::pair<std::vector<double>, std::vector<double>> plane_axes(const PlaneBasis& b,
                                                               const std::vector<PlaneCoords>& extra, int grid,
                                                               double margin) {
  CL_CHECK_INPUT(grid >= 2, "plane: --grid must be >= 2, got " + std::to_string(grid));
  CL_CHECK_INPUT(margin >= 0, "plane: --margin must be >= 0");
  std::vector<double> as = {0.0, 1.0, b.x1 / b.dx}, bs = {0.0, 0.0, 1.0};
  for (const auto& c : extra) {
    as.push_back(c.x / b.dx);
    bs.push_back(c.y / b.dy);
  }
  auto axis = [&](const std::vector<double>& v) {
    const double lo = *std::min_element(v.begin(), v.end()) - margin;
    const double hi = *std::max_element(v.begin(), v.end()) + margin;
    std::vector<double> out(static_cast<size_t>(grid));
    for (int k = 0; k < grid; ++k) out[k] = lo + (hi - lo) * double(k) / double(grid - 1);
    return out;
  };
  return {axis(as), axis(bs)};
}

nlohmann::json PlaneOptions::to_json() const {
  return {{"grid", grid}, {"margin", margin}, {"curve_points", curve_points}};
}

namespace {

const int kChannels = 7;  // six metrics + filled mask

std::string partial_name(int shard, int shards) {
  return "partial-" + std::to_string(shard) + "-of-" + std::to_string(shards) + ".npy";
}

nlohmann::json coords_json(const std::string& name, const PlaneCoords& c, const PlaneBasis& b) {
  return {{"name", name},         {"x", c.x}, {"y", c.y}, {"alpha", c.x / b.dx}, {"beta", c.y / b.dy},
          {"off_plane", c.off_plane}};
}

torch::Tensor vec(const std::vector<double>& v) { return torch::tensor(v, torch::kFloat64); }

// Writes the final outputs of a plane from its setup record and a filled (7, G, G) tensor.
void write_plane_outputs(const nlohmann::json& setup, const torch::Tensor& cells, const std::string& dir) {
  make_dirs(dir);
  const auto alphas = setup.at("alphas").get<std::vector<double>>();
  const auto betas = setup.at("betas").get<std::vector<double>>();
  const double dx = setup.at("dx").get<double>(), dy = setup.at("dy").get<double>();
  const int64_t G = static_cast<int64_t>(alphas.size());
  write_npy(dir + "/alphas.npy", vec(alphas));
  write_npy(dir + "/betas.npy", vec(betas));
  auto grid = torch::empty({G, G, 2}, torch::kFloat64);
  auto ga = grid.accessor<double, 3>();
  for (int64_t i = 0; i < G; ++i)
    for (int64_t j = 0; j < G; ++j) {
      ga[i][j][0] = alphas[i] * dx;
      ga[i][j][1] = betas[j] * dy;
    }
  write_npy(dir + "/grid.npy", grid);
  auto bends = torch::empty({3, 2}, torch::kFloat64);
  for (int k = 0; k < 3; ++k) {
    bends[k][0] = setup.at("bend_coordinates")[k].at("x").get<double>();
    bends[k][1] = setup.at("bend_coordinates")[k].at("y").get<double>();
  }
  write_npy(dir + "/bend_coordinates.npy", bends);
  if (setup.contains("curve_coordinates")) {
    const auto& cc = setup["curve_coordinates"];
    auto m = torch::empty({static_cast<int64_t>(cc.size()), 2}, torch::kFloat64);
    for (size_t k = 0; k < cc.size(); ++k) {
      m[k][0] = cc[k].at("x").get<double>();
      m[k][1] = cc[k].at("y").get<double>();
    }
    write_npy(dir + "/curve_coordinates.npy", m);
    std::vector<double> ts;
    for (const auto& c : cc) ts.push_back(c.at("t").get<double>());
    write_npy(dir + "/ts.npy", vec(ts));
  }
  const auto& keys = metric_keys();
  nlohmann::json extremes;
  for (size_t k = 0; k < keys.size(); ++k) {
    auto m = cells[k].clone();
    write_npy(dir + "/" + keys[k] + ".npy", m);
    auto finite = m.isfinite();
    if (finite.any().item<bool>()) {
      auto f = m.masked_select(finite);
      extremes[keys[k]] = {{"min", f.min().item<double>()}, {"max", f.max().item<double>()}};
    }
  }
  std::ostringstream csv;
  csv.precision(10);
  csv << "i,j,alpha,beta,x,y";
  for (const auto& k : keys) csv << "," << k;
  csv << "\n";
  auto ca = cells.accessor<double, 3>();
  for (int64_t i = 0; i < G; ++i)
    for (int64_t j = 0; j < G; ++j) {
      csv << i << "," << j << "," << alphas[i] << "," << betas[j] << "," << alphas[i] * dx << "," << betas[j] * dy;
      for (size_t k = 0; k < keys.size(); ++k) csv << "," << ca[k][i][j];
      csv << "\n";
    }
  write_file_atomic(dir + "/plane.csv", csv.str());
  nlohmann::json out = setup;
  out["complete"] = true;
  out["extremes"] = extremes;
  write_json(dir + "/plane.json", out);
}

struct ShardFile {
  std::string path;
  int shard = 0, shards = 1;
};

std::vector<ShardFile> list_partials(const std::string& dir) {
  std::vector<ShardFile> out;
  if (!fs::is_directory(dir)) return out;
  static const std::regex re("partial-([0-9]+)-of-([0-9]+)\\.npy");
  for (const auto& e : fs::directory_iterator(dir)) {
    std::smatch m;
    const std::string name = e.path().filename().string();
    if (std::regex_match(name, m, re)) out.push_back({e.path().string(), std::stoi(m[1]), std::stoi(m[2])});
  }
  std::sort(out.begin(), out.end(), [](const ShardFile& a, const ShardFile& b) { return a.shard < b.shard; });
  return out;
}

torch::Tensor read_partial(const std::string& path, int64_t G) {
  auto t = read_npy(path);
  CL_CHECK_INPUT(t.dim() == 3 && t.size(0) == kChannels && t.size(1) == G && t.size(2) == G,
                 path + ": expected a (" + std::to_string(kChannels) + ", " + std::to_string(G) + ", " +
                     std::to_string(G) + ") float64 array");
  return t.to(torch::kFloat64).contiguous();
}

}  // namespace

PlaneResult evaluate_plane(PointEvaluator& ev, const PlaneInputs& in, const PlaneOptions& opts,
                           const std::string& out_dir, const nlohmann::json& meta) {
  CL_CHECK_INPUT(opts.shards >= 1 && opts.shard >= 0 && opts.shard < opts.shards,
                 "plane: --shard " + std::to_string(opts.shard) + "/" + std::to_string(opts.shards) +
                     " is not of the form i/n with 0 <= i < n");
  CL_CHECK_INPUT(opts.save_every >= 1, "plane: save_every must be >= 1");
  const PlaneBasis b = plane_basis(in.w0, in.w1, in.w2);
  std::vector<std::string> names = in.names;
  while (names.size() < 3) names.push_back("w" + std::to_string(names.size()));

  // Projections of every extra point, and of the curve.
  std::vector<PlaneCoords> extra;
  nlohmann::json projections = nlohmann::json::array();
  for (const auto& [name, p] : in.extra) {
    extra.push_back(project_onto_plane(b, p));
    projections.push_back(coords_json(name, extra.back(), b));
  }
  nlohmann::json curve_coords;
  if (in.curve) {
    curve_coords = nlohmann::json::array();
    for (int k = 0; k < opts.curve_points; ++k) {
      const double t = opts.curve_points == 1 ? 0.0 : double(k) / double(opts.curve_points - 1);
      auto c = project_onto_plane(b, in.curve->point(t));
      curve_coords.push_back({{"t", t}, {"x", c.x}, {"y", c.y}, {"off_plane", c.off_plane}});
      extra.push_back(c);
    }
  }
  const auto [alphas, betas] = plane_axes(b, extra, opts.grid, opts.margin);
  const int64_t G = opts.grid;

  nlohmann::json setup;
  setup["format"] = "closerlook-plane-1";
  setup["names"] = names;
  setup["dx"] = b.dx;
  setup["dy"] = b.dy;
  setup["x1"] = b.x1;
  setup["alphas"] = alphas;
  setup["betas"] = betas;
  setup["options"] = opts.to_json();
  setup["bend_coordinates"] = nlohmann::json::array(
      {coords_json(names[0], {0, 0, 0}, b), coords_json(names[1], {b.x1, b.dy, 0}, b),
       coords_json(names[2], {b.dx, 0, 0}, b)});
  setup["projections"] = projections;
  if (in.curve) setup["curve_coordinates"] = curve_coords;
  setup["eval"] = ev.settings().to_json();
  setup["examples"] = {{"bn", ev.bn_examples()}, {"train", ev.train_examples()}, {"test", ev.test_examples()}};
  setup["keys"] = metric_keys();
  setup["units"] = {{"err", "fraction in [0, 1]"}, {"nll", "mean cross-entropy (nats)"},
                    {"loss", "nll + 0.5 * weight_decay * ||w||^2"}, {"x, y", "weight-space units along u, v"}};
  setup["meta"] = meta;
  const std::string hash = content_hash(setup.dump());
  setup["setup_hash"] = hash;

  make_dirs(out_dir);
  const std::string setup_path = out_dir + "/plane-setup.json";
  if (file_exists(setup_path)) {
    auto old = read_json(setup_path);
    if (old.value("setup_hash", std::string()) != hash)
      throw_bad_input(out_dir + " holds a plane with different inputs or settings (plane-setup.json); "
                      "use another --out or remove that folder");
  } else {
    write_json(setup_path, setup);
  }

  PlaneResult res;
  res.dir = out_dir;
  res.cells_total = static_cast<int>(G * G);
  const std::string final_path = out_dir + "/plane.json";
  if (opts.shards == 1 && file_exists(final_path)) {
    auto fin = read_json(final_path);
    if (fin.value("setup_hash", std::string()) == hash && fin.value("complete", false)) {
      res.complete = true;
      return res;
    }
  }

  const std::string partial_path = out_dir + "/" + partial_name(opts.shard, opts.shards);
  torch::Tensor cells;
  if (file_exists(partial_path)) {
    cells = read_partial(partial_path, G);
  } else {
    cells = torch::full({kChannels, G, G}, std::numeric_limits<double>::quiet_NaN(), torch::kFloat64);
    cells[kChannels - 1].zero_();
  }
  auto ca = cells.accessor<double, 3>();
  std::vector<int64_t> todo;
  for (int64_t c = 0; c < G * G; ++c)
    if (c % opts.shards == opts.shard && ca[kChannels - 1][c / G][c % G] != 1.0) todo.push_back(c);

  Progress progress("plane cells", static_cast<int64_t>(todo.size()), opts.quiet);
  const auto& keys = metric_keys();
  int since_save = 0;
  for (int64_t c : todo) {
    const int64_t i = c / G, j = c % G;
    const PointMetrics m = ev.evaluate_flat(plane_point(b, alphas[i] * b.dx, betas[j] * b.dy));
    for (size_t k = 0; k < keys.size(); ++k) ca[k][i][j] = metric_value(m, keys[k]);
    ca[kChannels - 1][i][j] = 1.0;
    ++res.cells_evaluated;
    if (++since_save >= opts.save_every) {
      write_npy(partial_path, cells);
      since_save = 0;
    }
    progress.tick(1, "tr_loss " + std::to_string(m.tr_loss) + " te_err " + std::to_string(m.te_err));
  }
  progress.done();
  write_npy(partial_path, cells);

  if (opts.shards == 1) {
    write_plane_outputs(setup, cells, out_dir);
    fs::remove(partial_path);
    res.complete = true;
  }
  return res;
}

void merge_plane_shards(const std::vector<std::string>& dirs, const std::string& out_dir) {
  CL_CHECK_INPUT(!dirs.empty(), "plane-merge: no folders given");
  nlohmann::json setup;
  std::string hash;
  torch::Tensor merged;
  int shards = -1;
  std::vector<bool> seen;
  for (const auto& d : dirs) {
    const std::string sp = d + "/plane-setup.json";
    if (!file_exists(sp)) throw_bad_input(d + ": not a plane folder (no plane-setup.json)");
    auto s = read_json(sp);
    const std::string h = s.value("setup_hash", std::string());
    if (hash.empty()) {
      hash = h;
      setup = s;
      const int64_t G = static_cast<int64_t>(s.at("alphas").size());
      merged = torch::full({kChannels, G, G}, std::numeric_limits<double>::quiet_NaN(), torch::kFloat64);
      merged[kChannels - 1].zero_();
    } else if (h != hash) {
      throw_bad_input(d + ": plane setup differs from " + dirs.front() + " (different inputs or settings)");
    }
    const int64_t G = merged.size(1);
    auto parts = list_partials(d);
    for (const auto& p : parts) {
      if (shards < 0) {
        shards = p.shards;
        seen.assign(static_cast<size_t>(shards), false);
      }
      if (p.shards != shards)
        throw_bad_input(p.path + ": a shard of " + std::to_string(p.shards) + ", others are of " +
                        std::to_string(shards));
      auto t = read_partial(p.path, G);
      auto mask = t[kChannels - 1].eq(1.0);
      for (int k = 0; k < kChannels; ++k) merged[k].masked_scatter_(mask, t[k].masked_select(mask));
      seen[p.shard] = true;
    }
  }
  CL_CHECK_INPUT(shards > 0, "plane-merge: no partial-<i>-of-<n>.npy files in the given folders");
  std::string missing_shards;
  for (int s = 0; s < shards; ++s)
    if (!seen[s]) missing_shards += (missing_shards.empty() ? "" : ", ") + std::to_string(s);
  const int64_t missing = merged[kChannels - 1].ne(1.0).sum().item<int64_t>();
  if (missing > 0)
    throw_bad_input("plane-merge: " + std::to_string(missing) + " cells are not filled yet" +
                    (missing_shards.empty() ? std::string(" (finish the shards)")
                                            : " (no file from shard(s) " + missing_shards + " of " +
                                                  std::to_string(shards) + ")"));
  write_json(out_dir + "/plane-setup.json", setup);
  write_plane_outputs(setup, merged, out_dir);
}

std::map<std::string, torch::Tensor> read_plane_metrics(const std::string& dir) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& k : metric_keys()) out[k] = read_npy(dir + "/" + k + ".npy");
  return out;
}

}  // namespace closerlook
