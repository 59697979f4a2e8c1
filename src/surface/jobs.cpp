#include "surface/jobs.h"

#include <cstdio>
#include <algorithm>
#include <filesystem>
#include <regex>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/job_folder.h"
#include "core/json_io.h"
#include "core/runtime.h"
#include "surface/bn_recalibration.h"
#include "surface/sources.h"
#include "surface/weights.h"
#include "train/run_dir.h"
#include "train/run_status.h"

namespace fs = std::filesystem;

namespace closerlook {

namespace {

std::string absolute(const std::string& p) { return fs::absolute(fs::path(p)).lexically_normal().string(); }

EvalSettings resolved_eval(const SurfaceCommon& c, const std::string& source_dir) {
  EvalSettings e = c.eval;
  e.weight_decay = c.weight_decay ? *c.weight_decay : run_weight_decay(source_dir);
  return e;
}

// The network of a curve folder's architecture (fresh weights; only its layout is used).
NetworkPtr curve_network(const std::string& curve_dir, const Curve& curve, torch::Device device) {
  auto cfg = read_run_config(curve_dir);
  if (!cfg.contains("model_spec")) throw_bad_input(curve_dir + "/config.json: no 'model_spec'");
  auto net = build_model(model_spec_from_json(cfg["model_spec"]), 0);
  net->to(device);
  auto layout = parameter_layout(*net);
  if (layout.names != curve.layout().names || layout.shapes != curve.layout().shapes)
    throw_bad_input(curve_dir + "/curve.json: the bends' parameter layout does not match the model_spec's network '" +
                    net->arch() + "'");
  return net;
}

nlohmann::json profile_barriers(const Profile& line, const Profile& curve) {
  nlohmann::json out;
  auto ls = line.summary(), cs = curve.summary();
  for (const auto& k : metric_keys()) {
    if (!cs.contains(k)) continue;
    out[k] = {{"line", ls.contains(k) ? ls[k]["barrier"] : nlohmann::json()}, {"curve", cs[k]["barrier"]}};
  }
  return out;
}

}  // namespace

Profile run_interpolation(const InterpolateJob& job) {
  CL_CHECK_INPUT(job.checkpoints.size() >= 2, "interpolate: give at least two checkpoints");
  CL_CHECK_INPUT(!job.out_dir.empty(), "interpolate: --out is required");
  auto nets = load_checkpoints(job.checkpoints, job.common.device);
  const std::string run_dir = run_dir_of_checkpoint(job.checkpoints.front());
  DataSplit data = load_run_data(run_dir, job.common.data_overrides);
  std::vector<torch::Tensor> anchors;
  for (auto& n : nets) anchors.push_back(flat_parameters(*n));
  Network& work = *nets.front();
  PointEvaluator ev(work, data, job.common.device, resolved_eval(job.common, run_dir));
  std::vector<std::string> abs;
  for (const auto& c : job.checkpoints) abs.push_back(absolute(c));
  nlohmann::json settings = {{"checkpoints", abs}, {"data", run_data_tree(run_dir, job.common.data_overrides)}};
  const std::string stem = nets.size() == 2 ? "line" : "path";
  make_dirs(job.out_dir);
  auto po = job.path;
  po.quiet = po.quiet || job.common.quiet;
  Profile p = interpolate_anchors(ev, anchors, po, settings, job.out_dir, stem);
  write_profile(p, job.out_dir, stem);
  return p;
}

CurveTrainSummary run_connect(const ConnectJob& job) {
  CL_CHECK_INPUT(!job.out_dir.empty(), "connect: --out is required");
  auto nets = load_checkpoints({job.start, job.end}, job.device);
  const std::string run_dir = run_dir_of_checkpoint(job.start);
  const nlohmann::json data_tree = run_data_tree(run_dir, job.data_overrides);
  const DataSpec spec = run_data_spec(run_dir, job.data_overrides);
  auto run_cfg = read_run_config(run_dir);

  nlohmann::json tree = {{"data", data_tree},
                         {"curve", job.curve.to_json()},
                         {"start", absolute(job.start)},
                         {"end", absolute(job.end)}};
  const std::string hash = content_hash(tree.dump());
  const bool writer = !job.data_parallel || job.data_parallel->rank() == 0;  // data parallel: rank 0 writes
  // The folder belongs to this curve's config (core/job_folder.h); train_curve resumes inside it.
  JobFolder folder{job.out_dir, hash, "a curve"};
  folder.foreign_files_ok = !writer;
  if (open_job_folder(folder) == FolderState::Fresh && writer)
    write_job_record(folder, {{"config", tree},
                              {"model_spec", run_cfg.at("model_spec")},
                              {"runtime", runtime_metadata()},
                              {"kind", "curve"}});

  DataSplit data = load_data(spec);
  Curve curve = Curve::on_line(job.curve.type, job.curve.bends, flat_parameters(*nets[0], torch::kFloat32),
                               flat_parameters(*nets[1], torch::kFloat32), parameter_layout(*nets[0]),
                               job.curve.fix_start, job.curve.fix_end);
  Network& work = *nets[0];
  CurveTrainSummary sum = train_curve(curve, work, data.train, augment_for(spec), job.device, job.curve, job.out_dir,
                                      job.quiet, job.data_parallel);

  if (writer && sum.status == RunStatus::Completed) {
    // Each bend as an ordinary network (usable by plane --project, Python, ...), with BN
    // statistics recalibrated on up to 10k training examples so that the file works as is.
    BnRecalibrationOptions bo;
    bo.samples = 10000;
    bo.order = seeded_permutation(data.train.size(), 0);
    for (int j = 0; j < curve.num_bends(); ++j) {
      const std::string path = checkpoint_path(job.out_dir, "bend-" + std::to_string(j));
      if (file_exists(path)) continue;
      load_flat_parameters(work, curve.bend(j));
      recalibrate_batchnorm(work, data.train, job.device, bo);
      work.save(path);
    }
    auto sj = read_json(job.out_dir + "/summary.json");
    sj["config_hash"] = hash;
    write_json(job.out_dir + "/summary.json", sj);
  }
  return sum;
}

CurveEvalResult run_curve_eval(const CurveEvalJob& job) {
  Curve curve = Curve::load(job.curve_dir, job.common.device);
  NetworkPtr work = curve_network(job.curve_dir, curve, job.common.device);
  DataSplit data = load_run_data(job.curve_dir, job.common.data_overrides);
  const std::string out = job.out_dir.empty() ? job.curve_dir + "/eval" : job.out_dir;
  make_dirs(out);
  PointEvaluator ev(*work, data, job.common.device, resolved_eval(job.common, job.curve_dir));
  nlohmann::json settings = {{"curve_dir", absolute(job.curve_dir)},
                             {"data", run_data_tree(job.curve_dir, job.common.data_overrides)}};
  auto po = job.path;
  po.quiet = po.quiet || job.common.quiet;
  CurveEvalResult r;
  r.curve = evaluate_curve_points(ev, curve, po, settings, out, "curve");
  write_profile(r.curve, out, "curve");
  if (job.with_line) {
    PathOptions lo = po;
    lo.t_min = 0;
    lo.t_max = 1;
    r.line = interpolate_anchors(ev, {curve.bend(0), curve.bend(curve.num_bends() - 1)}, lo, settings, out, "line");
    write_profile(r.line, out, "line");
  }
  auto cs = r.curve.summary();
  r.summary = {{"curve", cs}, {"length", {{"curve", r.curve.length()}}}};
  if (job.with_line) {
    r.summary["line"] = r.line.summary();
    r.summary["length"]["line"] = r.line.length();
    r.summary["barrier"] = profile_barriers(r.line, r.curve);
  }
  if (cs.contains("te_err"))
    r.summary["test_err"] = {{"curve_max", cs["te_err"]["max"]},
                             {"start", cs["te_err"]["start"]},
                             {"end", cs["te_err"]["end"]}};
  r.summary["settings"] = r.curve.settings;
  write_json(out + "/curve_eval.json", r.summary);
  return r;
}

namespace {

// A checkpoint projected onto a plane, read only when it is projected (then dropped).
StreamedPoint checkpoint_point(const std::string& name, const std::string& path, Network& work,
                               const std::string& work_name, torch::Device device) {
  return {name, [path, &work, work_name, device] {
            auto net = load_network(path, device);
            require_same_architecture(work, *net, work_name, path);
            return flat_parameters(*net);
          }};
}

// --directions random | pca: a plane given by its basis (surface/directions.h).
PlaneResult run_direction_plane(const PlaneJob& job) {
  CL_CHECK_INPUT(job.checkpoints.empty() && job.curve_dir.empty(),
                 "plane --directions " + job.directions + ": give --around CKPT or --trajectory RUN, not three "
                 "checkpoints or --curve");
  const torch::Device device = job.common.device;
  PlaneDefinition def;
  NetworkPtr work;
  std::string source_dir, work_name;
  nlohmann::json sources;
  if (job.directions == "random") {
    CL_CHECK_INPUT(!job.around.empty() && job.trajectory.empty(),
                   "plane --directions random: give the centre with --around CKPT (not --trajectory)");
    work = load_network(job.around, device);
    work_name = absolute(job.around);
    std::vector<torch::Tensor> weights;
    for (auto& [name, t] : work->named_parameters()) weights.push_back(t.detach());
    const RandomDirections rd = random_directions(weights, job.random);
    def.kind = "random";
    def.basis.origin = flat_parameters(*work);
    def.basis.u = rd.d1;
    def.basis.v = rd.d2;
    def.basis.dx = def.basis.dy = 1.0;
    def.basis.orthonormal = false;
    def.anchors = {{"centre", PlaneCoords{}}};
    def.span = job.span;
    def.directions = rd.to_json(job.random);
    def.directions["centre"] = work_name;
    def.units = "coefficients of d1, d2: the point is centre + x d1 + y d2 (loss-landscape's coordinates)";
    source_dir = run_dir_of_checkpoint(job.around);
    sources = {{"around", work_name}};
  } else if (job.directions == "pca") {
    CL_CHECK_INPUT(!job.trajectory.empty() && job.around.empty(),
                   "plane --directions pca: give the run with --trajectory RUN_DIR (not --around)");
    const RunTrajectory tr = run_trajectory(job.trajectory);
    work = load_network(tr.final_checkpoint, device);
    work_name = absolute(tr.final_checkpoint);
    const torch::Tensor final_w = flat_parameters(*work);
    TrajectorySource src;
    src.size = static_cast<int64_t>(tr.epochs.size());
    src.load = [&](int64_t t) {
      auto net = load_network(tr.epochs[t], device);
      require_same_architecture(*work, *net, work_name, tr.epochs[t]);
      return flat_parameters(*net);
    };
    const PcaDirections pd = trajectory_pca(src, final_w, job.pca);
    def.kind = "pca";
    def.basis.origin = final_w;
    def.basis.u = pd.pc1;
    def.basis.v = pd.pc2;
    def.basis.dx = def.basis.dy = 1.0;
    def.anchors = {{"final", PlaneCoords{}}};
    def.scale_to_points = true;
    for (size_t t = 0; t < tr.epochs.size(); ++t)
      def.project.push_back(
          checkpoint_point("epoch " + std::to_string(tr.epoch_numbers[t]), tr.epochs[t], *work, work_name, device));
    def.directions = pd.to_json(job.pca);
    def.directions["final"] = work_name;
    def.directions["epochs"] = tr.epoch_numbers;
    def.units = "weight-space units along pc1, pc2 (unit vectors); the origin is the final weights";
    source_dir = job.trajectory;
    sources = {{"trajectory", absolute(job.trajectory)}, {"final", work_name}};
  } else {
    throw_bad_input("plane: --directions '" + job.directions + "': expected random or pca");
  }
  CL_CHECK_INPUT(job.project_names.empty() || job.project_names.size() == job.project.size(),
                 "plane: give one --project-name per --project (" + std::to_string(job.project.size()) + "), got " +
                     std::to_string(job.project_names.size()));
  for (size_t i = 0; i < job.project.size(); ++i)
    def.project.push_back(checkpoint_point(job.project_names.empty() ? absolute(job.project[i]) : job.project_names[i],
                                           job.project[i], *work, work_name, device));
  DataSplit data = load_run_data(source_dir, job.common.data_overrides);
  PointEvaluator ev(*work, data, device, resolved_eval(job.common, source_dir));
  auto po = job.plane;
  po.quiet = po.quiet || job.common.quiet;
  nlohmann::json meta = {{"sources", sources}, {"data", run_data_tree(source_dir, job.common.data_overrides)}};
  return evaluate_plane_controlled(ev, plane_setup(ev, def, po, meta), data.train, po, job.out_dir);
}

}  // namespace

RunTrajectory run_trajectory(const std::string& run_dir) {
  const fs::path dir = fs::path(run_dir) / "checkpoints";
  CL_CHECK_INPUT(fs::is_directory(dir), run_dir + ": no checkpoints/ folder (not a run folder)");
  std::vector<std::pair<int, std::string>> found;
  const std::regex epoch_re("^epoch-([0-9]+)\\.pt$");
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    std::smatch m;
    if (std::regex_match(name, m, epoch_re)) found.push_back({std::stoi(m[1].str()), e.path().string()});
  }
  CL_CHECK_INPUT(!found.empty(), run_dir + ": no checkpoints/epoch-<E>.pt (train with checkpoint_every = 1)");
  std::sort(found.begin(), found.end());
  RunTrajectory t;
  for (const auto& [e, p] : found) {
    t.epoch_numbers.push_back(e);
    t.epochs.push_back(p);
  }
  const std::string final_path = checkpoint_path(run_dir, "final");
  t.final_checkpoint = file_exists(final_path) ? final_path : t.epochs.back();
  return t;
}

PlaneResult run_plane(const PlaneJob& job) {
  CL_CHECK_INPUT(!job.out_dir.empty(), "plane: --out is required");
  if (!job.directions.empty()) return run_direction_plane(job);
  PlaneInputs in;
  NetworkPtr work;
  std::string source_dir;
  Curve curve;
  nlohmann::json sources;
  if (!job.curve_dir.empty()) {
    CL_CHECK_INPUT(job.checkpoints.empty(), "plane: give either three checkpoints or --curve, not both");
    curve = Curve::load(job.curve_dir, job.common.device);
    work = curve_network(job.curve_dir, curve, job.common.device);
    const int B = curve.num_bends();
    const int k = job.bend.value_or(B / 2);
    CL_CHECK_INPUT(k > 0 && k < B - 1, "plane: --bend " + std::to_string(k) + " is not an interior bend of a " +
                                           std::to_string(B) + "-bend curve");
    in.w0 = curve.bend(0).to(torch::kFloat64);
    in.w1 = curve.bend(k).to(torch::kFloat64);
    in.w2 = curve.bend(B - 1).to(torch::kFloat64);
    in.names = {"bend 0", "bend " + std::to_string(k), "bend " + std::to_string(B - 1)};
    in.curve = &curve;
    source_dir = job.curve_dir;
    sources = {{"curve_dir", absolute(job.curve_dir)}, {"bend", k}};
  } else {
    CL_CHECK_INPUT(job.checkpoints.size() == 3, "plane: give three checkpoints W0 W1 W2 (or --curve DIR), got " +
                                                    std::to_string(job.checkpoints.size()));
    auto nets = load_checkpoints(job.checkpoints, job.common.device);
    in.w0 = flat_parameters(*nets[0]);
    in.w1 = flat_parameters(*nets[1]);
    in.w2 = flat_parameters(*nets[2]);
    for (const auto& c : job.checkpoints) in.names.push_back(absolute(c));
    work = nets[0];
    source_dir = run_dir_of_checkpoint(job.checkpoints[0]);
    sources = {{"checkpoints", in.names}};
  }
  CL_CHECK_INPUT(job.project_names.empty() || job.project_names.size() == job.project.size(),
                 "plane: give one --project-name per --project (" + std::to_string(job.project.size()) + "), got " +
                     std::to_string(job.project_names.size()));
  // Streamed: one projected checkpoint in memory at a time, whatever their number (issue 16).
  for (size_t i = 0; i < job.project.size(); ++i)
    in.stream.push_back(checkpoint_point(job.project_names.empty() ? absolute(job.project[i]) : job.project_names[i],
                                         job.project[i], *work, in.names[0], job.common.device));
  DataSplit data = load_run_data(source_dir, job.common.data_overrides);
  PointEvaluator ev(*work, data, job.common.device, resolved_eval(job.common, source_dir));
  auto po = job.plane;
  po.quiet = po.quiet || job.common.quiet;
  nlohmann::json meta = {{"sources", sources}, {"data", run_data_tree(source_dir, job.common.data_overrides)}};
  return evaluate_plane_controlled(ev, plane_setup(ev, in, po, meta), data.train, po, job.out_dir);
}

}  // namespace closerlook
