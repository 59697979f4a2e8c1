#include "surface/plane.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <tuple>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/job_folder.h"
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
  if (b.orthonormal) {
    c.x = d.dot(b.u).item<double>();
    c.y = d.dot(b.v).item<double>();
  } else {
    // Least squares in the (u, v) coordinates: [uu uv; uv vv] (x, y) = (d.u, d.v).
    const double uu = b.u.dot(b.u).item<double>(), uv = b.u.dot(b.v).item<double>(), vv = b.v.dot(b.v).item<double>();
    const double du = d.dot(b.u).item<double>(), dv = d.dot(b.v).item<double>();
    const double det = uu * vv - uv * uv;
    CL_CHECK_INPUT(det > 1e-12 * uu * vv, "plane: the two directions are (numerically) parallel");
    c.x = (vv * du - uv * dv) / det;
    c.y = (uu * dv - uv * du) / det;
  }
  c.off_plane = (d - c.x * b.u - c.y * b.v).norm().item<double>();
  return c;
}

std::vector<PlaneCoords> project_points(const PlaneBasis& b, const std::vector<torch::Tensor>& held,
                                        const std::vector<StreamedPoint>& stream) {
  std::vector<PlaneCoords> out;
  for (const auto& p : held) out.push_back(project_onto_plane(b, p));
  for (const auto& sp : stream) {
    CL_CHECK_INPUT(static_cast<bool>(sp.load), "plane: no loader for the point '" + sp.name + "'");
    out.push_back(project_onto_plane(b, sp.load()));  // the loaded vector is dropped here
  }
  return out;
}

torch::Tensor plane_point(const PlaneBasis& b, double x, double y) { return b.origin + x * b.u + y * b.v; }

namespace {

// grid values from min(v) - margin to max(v) + margin.
std::vector<double> cover_axis(const std::vector<double>& v, int grid, double margin) {
  const double lo = *std::min_element(v.begin(), v.end()) - margin;
  const double hi = *std::max_element(v.begin(), v.end()) + margin;
  std::vector<double> out(static_cast<size_t>(grid));
  for (int k = 0; k < grid; ++k) out[k] = lo + (hi - lo) * double(k) / double(grid - 1);
  return out;
}

// span * (2k - (G - 1)) / (G - 1): symmetric (out[G-1-k] == -out[k]) and 0 exactly in the middle.
std::vector<double> symmetric_axis(double span, int grid) {
  std::vector<double> out(static_cast<size_t>(grid));
  for (int k = 0; k < grid; ++k) out[k] = span * double(2 * k - (grid - 1)) / double(grid - 1);
  return out;
}

}  // namespace

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
  return {cover_axis(as, grid, margin), cover_axis(bs, grid, margin)};
}

nlohmann::json PlaneOptions::to_json() const {
  return {{"grid", grid}, {"margin", margin}, {"curve_points", curve_points}};
}

namespace {

const char* kGridName = "plane";  // the grid store's name: plane.partial*.json

nlohmann::json coords_json(const std::string& name, const PlaneCoords& c, const PlaneBasis& b) {
  return {{"name", name},         {"x", c.x}, {"y", c.y}, {"alpha", c.x / b.dx}, {"beta", c.y / b.dy},
          {"off_plane", c.off_plane}};
}

torch::Tensor vec(const std::vector<double>& v) { return torch::tensor(v, torch::kFloat64); }

// The fields every plane's setup record ends with, and its hash.
void finish_record(nlohmann::json& setup, const PointEvaluator& ev, const nlohmann::json& meta,
                   const nlohmann::json& xy_units) {
  setup["eval"] = ev.settings().to_json();
  setup["examples"] = {{"bn", ev.bn_examples()}, {"train", ev.train_examples()}, {"test", ev.test_examples()}};
  setup["keys"] = metric_keys();
  setup["units"] = {{"err", "fraction in [0, 1]"}, {"nll", "mean cross-entropy (nats)"},
                    {"loss", "nll + 0.5 * weight_decay * ||w||^2"}, {"x, y", "weight-space units along u, v"}};
  if (!xy_units.is_null()) setup["units"]["x, y"] = xy_units;
  setup["meta"] = meta;
  setup["setup_hash"] = content_hash(setup.dump());
}

// The empty G x G grid of a plane's setup record.
GridStore plane_cells(const nlohmann::json& setup) {
  const int64_t G = static_cast<int64_t>(setup.at("alphas").size());
  return GridStore({G, G}, plane_cell_keys(setup), setup.at("setup_hash").get<std::string>());
}

nlohmann::json finite_json(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }

// EvalSettings::train_method of a recorded settings object (the record is what the plane is).
std::string train_method_of(const nlohmann::json& eval) {
  EvalSettings e;
  e.train_samples = eval.value("train_samples", int64_t(0));
  e.train_rel_se = eval.value("train_rel_se", 0.0);
  e.train_controls = eval.value("train_controls", false);
  return e.train_method();
}

const std::vector<std::string> kSamplingKeys = {"tr_nll_se", "tr_examples"};

bool records_sampling(const nlohmann::json& eval) {
  return eval.contains("train_controls") || eval.contains("train_rel_se");
}

// FNV-1a of a tensor's bytes (CPU, contiguous): the cache key of the train controls.
std::string tensor_content_hash(const torch::Tensor& t) {
  const torch::Tensor c = t.cpu().contiguous();
  return content_hash(std::string(static_cast<const char*>(c.data_ptr()), c.nbytes()));
}

}  // namespace

std::vector<std::string> plane_cell_keys(const nlohmann::json& setup) {
  std::vector<std::string> keys = metric_keys();
  if (records_sampling(setup.value("eval", nlohmann::json::object())))
    keys.insert(keys.end(), kSamplingKeys.begin(), kSamplingKeys.end());
  return keys;
}

std::vector<torch::Tensor> train_controls_at(PointEvaluator& ev, const std::vector<torch::Tensor>& weights,
                                             const Dataset& train) {
  std::vector<torch::Tensor> out;
  for (const auto& w : weights) {
    ev.evaluate_flat(w);  // BN recalibrated exactly as at a cell
    out.push_back(ev.per_example_nll(train));
  }
  return out;
}

std::vector<torch::Tensor> plane_train_controls(PointEvaluator& ev, const PlaneSetup& s, const Dataset& train,
                                                const std::string& out_dir) {
  CL_CHECK_INPUT(!s.anchor_xy.empty(), "plane: no anchor points to take the train controls at");
  std::vector<torch::Tensor> weights;
  std::string anchors_hash;
  for (const auto& [x, y] : s.anchor_xy) {
    weights.push_back(plane_point(s.basis, x, y));
    anchors_hash += tensor_content_hash(weights.back());
  }
  const nlohmann::json key = {{"setup_hash", s.record.at("setup_hash")},
                              {"anchors", content_hash(anchors_hash)},
                              {"train_images", tensor_content_hash(train.images)},
                              {"train_labels", tensor_content_hash(train.labels)}};
  const std::string npy = out_dir + "/train-controls.npy", rec = out_dir + "/train-controls.json";
  // The record is written after the array: a record naming this key means the array is whole.
  if (file_exists(rec) && file_exists(npy) && read_json(rec).value("key", nlohmann::json()) == key) {
    const torch::Tensor m = read_npy(npy);
    if (m.dim() == 2 && m.size(0) == int64_t(weights.size()) && m.size(1) == train.size()) {
      std::vector<torch::Tensor> out;
      for (int64_t k = 0; k < m.size(0); ++k) out.push_back(m[k].to(torch::kFloat64).clone());
      return out;
    }
  }
  const std::vector<torch::Tensor> out = train_controls_at(ev, weights, train);
  make_dirs(out_dir);
  write_npy(npy, torch::stack(out, 0));
  write_json(rec, {{"key", key},
                   {"anchors", s.anchor_xy},
                   {"what", "per-example train NLL (rows: anchors, columns: training examples in dataset order)"}});
  return out;
}

void write_plane_outputs(const nlohmann::json& setup, const GridStore& cells, const std::string& dir) {
  CL_CHECK_INPUT(cells.complete(), "plane: " + std::to_string(cells.missing().size()) + " cells are not filled");
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
  // (N, 2) x, y of named points: the three points of a three-point plane, a definition's anchors.
  auto xy = [&](const nlohmann::json& pts, const std::string& file) {
    auto m = torch::empty({static_cast<int64_t>(pts.size()), 2}, torch::kFloat64);
    for (size_t k = 0; k < pts.size(); ++k) {
      m[k][0] = pts[k].at("x").get<double>();
      m[k][1] = pts[k].at("y").get<double>();
    }
    write_npy(dir + "/" + file, m);
  };
  if (setup.contains("bend_coordinates")) xy(setup["bend_coordinates"], "bend_coordinates.npy");
  if (setup.contains("anchors")) xy(setup["anchors"], "anchor_coordinates.npy");
  if (!setup.value("projections", nlohmann::json::array()).empty()) {
    // (N, 3): x, y, off-plane distance of every projected point, in plane.json's order.
    const auto& ps = setup["projections"];
    auto m = torch::empty({static_cast<int64_t>(ps.size()), 3}, torch::kFloat64);
    for (size_t k = 0; k < ps.size(); ++k) {
      m[k][0] = ps[k].at("x").get<double>();
      m[k][1] = ps[k].at("y").get<double>();
      m[k][2] = ps[k].at("off_plane").get<double>();
    }
    write_npy(dir + "/projection_coordinates.npy", m);
  }
  if (setup.contains("directions")) write_json(dir + "/directions.json", setup["directions"]);
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
  for (const auto& key : keys) {
    auto m = cells.tensor(key);
    write_npy(dir + "/" + key + ".npy", m);
    auto finite = m.isfinite();
    if (finite.any().item<bool>()) {
      auto f = m.masked_select(finite);
      extremes[key] = {{"min", f.min().item<double>()}, {"max", f.max().item<double>()}};
    }
  }
  nlohmann::json sampling;
  if (records_sampling(setup.value("eval", nlohmann::json::object()))) {
    // Per cell: the train NLL's standard error and the examples read ([i][j] as the .npy files).
    for (const auto& key : kSamplingKeys) write_npy(dir + "/" + key + ".npy", cells.tensor(key));
    auto rows = [&](const torch::Tensor& t) {
      const auto a = t.to(torch::kFloat64).contiguous();
      nlohmann::json m = nlohmann::json::array();
      for (int64_t i = 0; i < G; ++i) {
        nlohmann::json r = nlohmann::json::array();
        for (int64_t j = 0; j < G; ++j) r.push_back(finite_json(a[i][j].item<double>()));
        m.push_back(r);
      }
      return m;
    };
    const torch::Tensor rel_se = cells.tensor("tr_nll_se") / cells.tensor("tr_nll").abs();
    sampling = {{"tr_nll_se", rows(cells.tensor("tr_nll_se"))},
                {"tr_examples", rows(cells.tensor("tr_examples"))},
                {"max_rel_se", rel_se.max().item<double>()},
                {"mean_examples", cells.tensor("tr_examples").mean().item<double>()}};
  }
  std::ostringstream csv;
  csv.precision(10);
  csv << "i,j,alpha,beta,x,y";
  for (const auto& k : cells.keys()) csv << "," << k;
  csv << "\n";
  for (int64_t i = 0; i < G; ++i)
    for (int64_t j = 0; j < G; ++j) {
      csv << i << "," << j << "," << alphas[i] << "," << betas[j] << "," << alphas[i] * dx << "," << betas[j] * dy;
      for (double v : cells.values(i * G + j)) csv << "," << v;
      csv << "\n";
    }
  write_file_atomic(dir + "/plane.csv", csv.str());
  nlohmann::json out = setup;
  out["complete"] = true;
  out["extremes"] = extremes;
  out["train_method"] = train_method_of(setup.value("eval", nlohmann::json::object()));
  if (!sampling.is_null()) out["train_sampling"] = sampling;
  write_json(dir + "/plane.json", out);
}

PlaneSetup plane_setup(const PointEvaluator& ev, const PlaneInputs& in, const PlaneOptions& opts,
                       const nlohmann::json& meta) {
  PlaneSetup s;
  s.basis = plane_basis(in.w0, in.w1, in.w2);
  const PlaneBasis& b = s.basis;
  std::vector<std::string> names = in.names;
  while (names.size() < 3) names.push_back("w" + std::to_string(names.size()));

  // Projections of every extra point, and of the curve.
  std::vector<torch::Tensor> held;
  std::vector<std::string> extra_names;
  for (const auto& [name, p] : in.extra) {
    held.push_back(p);
    extra_names.push_back(name);
  }
  for (const auto& sp : in.stream) extra_names.push_back(sp.name);
  std::vector<PlaneCoords> extra = project_points(b, held, in.stream);
  held.clear();
  nlohmann::json projections = nlohmann::json::array();
  for (size_t k = 0; k < extra.size(); ++k) projections.push_back(coords_json(extra_names[k], extra[k], b));
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
  std::tie(s.alphas, s.betas) = plane_axes(b, extra, opts.grid, opts.margin);

  nlohmann::json& setup = s.record;
  setup["format"] = "closerlook-plane-1";
  setup["names"] = names;
  setup["dx"] = b.dx;
  setup["dy"] = b.dy;
  setup["x1"] = b.x1;
  setup["alphas"] = s.alphas;
  setup["betas"] = s.betas;
  setup["options"] = opts.to_json();
  setup["bend_coordinates"] = nlohmann::json::array(
      {coords_json(names[0], {0, 0, 0}, b), coords_json(names[1], {b.x1, b.dy, 0}, b),
       coords_json(names[2], {b.dx, 0, 0}, b)});
  setup["projections"] = projections;
  if (in.curve) setup["curve_coordinates"] = curve_coords;
  s.anchor_xy = {{0.0, 0.0}, {b.x1, b.dy}, {b.dx, 0.0}};
  finish_record(setup, ev, meta, {});
  return s;
}

PlaneSetup plane_setup(const PointEvaluator& ev, const PlaneDefinition& def, const PlaneOptions& opts,
                       const nlohmann::json& meta) {
  CL_CHECK_INPUT(!def.kind.empty(), "plane: a plane definition needs a kind");
  CL_CHECK_INPUT(def.basis.origin.defined() && def.basis.u.defined() && def.basis.v.defined(),
                 "plane '" + def.kind + "': no basis");
  CL_CHECK_INPUT(opts.grid >= 2, "plane: --grid must be >= 2, got " + std::to_string(opts.grid));
  PlaneSetup s;
  s.basis = def.basis;
  PlaneBasis& b = s.basis;
  std::vector<PlaneCoords> projected = project_points(b, {}, def.project);
  if (def.scale_to_points) {  // alpha/beta units: the largest |x|, |y| of the anchors and projections
    double mx = 0, my = 0;
    for (const auto& c : projected) mx = std::max(mx, std::fabs(c.x)), my = std::max(my, std::fabs(c.y));
    for (const auto& a : def.anchors) mx = std::max(mx, std::fabs(a.second.x)), my = std::max(my, std::fabs(a.second.y));
    CL_CHECK_INPUT(mx > 0 && my > 0 && std::isfinite(mx) && std::isfinite(my),
                   "plane '" + def.kind + "': the projected points do not spread along both directions");
    b.dx = mx;
    b.dy = my;
  }
  if (def.span) {
    CL_CHECK_INPUT(*def.span > 0 && std::isfinite(*def.span), "plane: --span must be > 0");
    s.alphas = s.betas = symmetric_axis(*def.span, opts.grid);
  } else {
    CL_CHECK_INPUT(opts.margin >= 0, "plane: --margin must be >= 0");
    std::vector<double> as, bs;
    for (const auto& a : def.anchors) as.push_back(a.second.x / b.dx), bs.push_back(a.second.y / b.dy);
    for (const auto& c : projected) as.push_back(c.x / b.dx), bs.push_back(c.y / b.dy);
    CL_CHECK_INPUT(!as.empty(), "plane '" + def.kind + "': no points to cover and no span");
    s.alphas = cover_axis(as, opts.grid, opts.margin);
    s.betas = cover_axis(bs, opts.grid, opts.margin);
  }
  nlohmann::json& setup = s.record;
  setup["format"] = "closerlook-plane-1";
  setup["kind"] = def.kind;
  nlohmann::json names = nlohmann::json::array(), anchors = nlohmann::json::array(),
                 projections = nlohmann::json::array();
  for (const auto& [name, c] : def.anchors) {
    names.push_back(name);
    anchors.push_back(coords_json(name, c, b));
    s.anchor_xy.push_back({c.x, c.y});
  }
  for (size_t k = 0; k < projected.size(); ++k) projections.push_back(coords_json(def.project[k].name, projected[k], b));
  setup["names"] = names;
  setup["dx"] = b.dx;
  setup["dy"] = b.dy;
  setup["alphas"] = s.alphas;
  setup["betas"] = s.betas;
  auto o = opts.to_json();
  o.erase("curve_points");
  if (def.span) {
    o.erase("margin");
    o["span"] = *def.span;
  }
  setup["options"] = o;
  setup["anchors"] = anchors;
  setup["projections"] = projections;
  setup["directions"] = def.directions;
  finish_record(setup, ev, meta, def.units);
  return s;
}

bool open_plane_dir(const PlaneSetup& s, const std::string& out_dir) {
  // The folder belongs to this plane's inputs and settings (core/job_folder.h): its record is
  // plane-setup.json; it is done when plane.json is complete for the same setup.
  JobFolder folder{out_dir, s.record.at("setup_hash").get<std::string>(), "a plane"};
  folder.record = "plane-setup.json";
  folder.hash_key = "setup_hash";
  folder.foreign_files_ok = true;  // planes have always been written into existing folders
  const FolderState state = open_job_folder(folder, [&] {
    return file_has_hash(folder, "plane.json", "setup_hash") && read_json(out_dir + "/plane.json").value("complete", false);
  });
  if (state == FolderState::Fresh) write_job_record(folder, s.record);
  return state == FolderState::Done;
}

GridTask plane_task(PointEvaluator& ev, const PlaneSetup& s, const PlaneOptions& opts, const std::string& out_dir) {
  GridTask t;
  t.grid = plane_cells(s.record);
  t.dir = out_dir;
  t.name = kGridName;
  t.save_every = opts.save_every;
  t.label = "plane cells";
  t.quiet = opts.quiet;
  const int64_t G = static_cast<int64_t>(s.alphas.size());
  // A plane recorded with controls is never evaluated without them (its cells would mix methods).
  CL_CHECK_INPUT(!ev.settings().train_controls || ev.has_train_controls(),
                 "plane: the settings ask for train controls but none are set (plane_train_controls)");
  const bool sampling = records_sampling(s.record.at("eval"));
  t.evaluate = [&ev, b = s.basis, alphas = s.alphas, betas = s.betas, G, sampling](int64_t c) {
    const PointMetrics m = ev.evaluate_flat(plane_point(b, alphas[c / G] * b.dx, betas[c % G] * b.dy));
    std::vector<double> v;
    for (const auto& k : metric_keys()) v.push_back(metric_value(m, k));
    if (sampling) v.push_back(m.tr_nll_se), v.push_back(double(m.tr_examples));
    return v;
  };
  t.describe = [](int64_t, const std::vector<double>& v) {
    return "tr_loss " + std::to_string(v[0]) + " te_err " + std::to_string(v[5]);
  };
  return t;
}

PlaneResult evaluate_plane(PointEvaluator& ev, const PlaneInputs& in, const PlaneOptions& opts,
                           const std::string& out_dir, const nlohmann::json& meta) {
  GridShard{opts.shard, opts.shards}.check();
  CL_CHECK_INPUT(opts.save_every >= 1, "plane: save_every must be >= 1");
  return evaluate_plane_setup(ev, plane_setup(ev, in, opts, meta), opts, out_dir);
}

PlaneResult evaluate_plane(PointEvaluator& ev, const PlaneDefinition& def, const PlaneOptions& opts,
                           const std::string& out_dir, const nlohmann::json& meta) {
  GridShard{opts.shard, opts.shards}.check();
  CL_CHECK_INPUT(opts.save_every >= 1, "plane: save_every must be >= 1");
  return evaluate_plane_setup(ev, plane_setup(ev, def, opts, meta), opts, out_dir);
}

PlaneResult evaluate_plane_setup(PointEvaluator& ev, const PlaneSetup& s, const PlaneOptions& opts,
                                 const std::string& out_dir) {
  const GridShard shard{opts.shard, opts.shards};
  shard.check();
  CL_CHECK_INPUT(opts.save_every >= 1, "plane: save_every must be >= 1");
  PlaneResult res;
  res.dir = out_dir;
  res.cells_total = opts.grid * opts.grid;
  if (open_plane_dir(s, out_dir) && opts.shards == 1) {
    res.complete = true;
    return res;
  }
  const GridTask task = plane_task(ev, s, opts, out_dir);
  const GridRun run = run_grid(task, shard);
  res.cells_evaluated = static_cast<int>(run.evaluated);
  if (opts.shards == 1) {
    write_plane_outputs(s.record, run.store, out_dir);
    remove_partial(task, shard);
    res.complete = true;
  }
  return res;
}

PlaneResult evaluate_plane_controlled(PointEvaluator& ev, const PlaneSetup& s, const Dataset& train,
                                      const PlaneOptions& opts, const std::string& out_dir) {
  GridShard{opts.shard, opts.shards}.check();
  CL_CHECK_INPUT(opts.save_every >= 1, "plane: save_every must be >= 1");
  // The folder is opened (a foreign one refused) before the controls' cache is written into it.
  const bool done = open_plane_dir(s, out_dir) && opts.shards == 1;
  if (ev.settings().train_controls && !done) ev.set_train_controls(plane_train_controls(ev, s, train, out_dir));
  return evaluate_plane_setup(ev, s, opts, out_dir);
}

void merge_plane_shards(const std::vector<std::string>& dirs, const std::string& out_dir) {
  CL_CHECK_INPUT(!dirs.empty(), "plane-merge: no folders given");
  nlohmann::json setup;
  std::string hash;
  for (const auto& d : dirs) {
    const std::string sp = d + "/plane-setup.json";
    if (!file_exists(sp)) throw_bad_input(d + ": not a plane folder (no plane-setup.json)");
    auto s = read_json(sp);
    const std::string h = s.value("setup_hash", std::string());
    if (hash.empty()) {
      hash = h;
      setup = s;
    } else if (h != hash) {
      throw_bad_input(d + ": plane setup differs from " + dirs.front() + " (different inputs or settings)");
    }
  }
  GridTask task;
  task.grid = plane_cells(setup);
  task.name = kGridName;
  const GridStore cells = merge_partials(task, dirs);
  write_json(out_dir + "/plane-setup.json", setup);
  write_plane_outputs(setup, cells, out_dir);
}

std::map<std::string, torch::Tensor> read_plane_metrics(const std::string& dir) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& k : metric_keys()) out[k] = read_npy(dir + "/" + k + ".npy");
  return out;
}

}  // namespace closerlook
