#include "surface/jobs.h"

#include <cstdio>
#include <filesystem>

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

PlaneResult run_plane(const PlaneJob& job) {
  CL_CHECK_INPUT(!job.out_dir.empty(), "plane: --out is required");
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
  for (size_t i = 0; i < job.project.size(); ++i) {
    const std::string& p = job.project[i];
    auto net = load_network(p, job.common.device);
    require_same_architecture(*work, *net, in.names[0], p);
    in.extra.push_back({job.project_names.empty() ? absolute(p) : job.project_names[i], flat_parameters(*net)});
  }
  DataSplit data = load_run_data(source_dir, job.common.data_overrides);
  PointEvaluator ev(*work, data, job.common.device, resolved_eval(job.common, source_dir));
  auto po = job.plane;
  po.quiet = po.quiet || job.common.quiet;
  nlohmann::json meta = {{"sources", sources}, {"data", run_data_tree(source_dir, job.common.data_overrides)}};
  return evaluate_plane(ev, in, po, job.out_dir, meta);
}

}  // namespace closerlook
