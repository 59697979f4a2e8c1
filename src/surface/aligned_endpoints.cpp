#include "surface/aligned_endpoints.h"

#include <filesystem>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_io.h"
#include "surface/sources.h"
#include "train/run_data.h"
#include "train/run_dir.h"

namespace fs = std::filesystem;

namespace closerlook {

namespace {

std::string absolute(const std::string& p) { return fs::absolute(fs::path(p)).lexically_normal().string(); }

// What identifies an alignment: a folder holding the same is reused.
nlohmann::json alignment_key(const std::string& reference, const std::string& source, const EndpointAlignment& a) {
  nlohmann::json k = {{"to", absolute(reference)},
                      {"source", absolute(source)},
                      {"method", a.method},
                      {"seed", a.options.seed},
                      {"max_iterations", a.options.max_iterations}};
  if (a.method == "activations") {
    k["samples"] = a.options.samples;
    k["data_overrides"] = a.data_overrides;
  }
  return k;
}

void add_record(nlohmann::json& out, const nlohmann::json& record) {
  if (record.is_null()) return;
  out["align"] = record;
}

}  // namespace

std::string parse_align_method(const std::string& s) {
  if (s == "none" || s == "weights" || s == "activations") return s;
  throw_bad_input("--align '" + s + "': expected none, weights or activations");
}

AlignedCheckpoint write_aligned_checkpoint(const std::string& reference, const std::string& source,
                                           const EndpointAlignment& a, const std::string& dir, torch::Device device) {
  parse_align_method(a.method);
  CL_CHECK_INPUT(a.enabled(), "write_aligned_checkpoint: method 'none' aligns nothing");
  const nlohmann::json key = alignment_key(reference, source, a);
  AlignedCheckpoint out;
  out.path = dir + "/checkpoints/aligned.pt";
  const std::string record_path = dir + "/align.json", perm_path = dir + "/permutation.json";
  if (file_exists(record_path) && file_exists(out.path) && file_exists(perm_path)) {
    auto r = read_json(record_path);
    if (r.value("key", nlohmann::json()) == key) {
      out.record = r;
      out.record["permutation"] = read_json(perm_path);
      return out;
    }
  }
  auto nets = load_checkpoints({reference, source}, device);
  DataSplit data;
  AlignOptions opts = a.options;
  opts.method = a.method;
  if (a.method == "activations") data = load_run_data(run_dir_of_checkpoint(reference), a.data_overrides);
  const AlignResult r = align_networks(*nets[0], *nets[1], opts, a.method == "activations" ? &data.train : nullptr);
  make_dirs(dir + "/checkpoints");
  auto cfg = read_run_config(run_dir_of_checkpoint(source));
  cfg["aligned"] = {{"to", key["to"]}, {"source", key["source"]}, {"method", r.method}};
  write_json(dir + "/config.json", cfg);
  // Written to a temporary name and renamed: a reader never sees half a checkpoint, and a
  // folder with align.json always holds its checkpoint.
  const std::string tmp = out.path + ".tmp";
  nets[1]->save(tmp);
  fs::rename(tmp, out.path);
  const nlohmann::json perm = permutation_to_json(r.permutation);
  write_json(perm_path, perm);
  out.record = r.to_json();
  out.record["a"] = key["to"];
  out.record["b"] = key["source"];
  out.record["seed"] = a.options.seed;
  out.record["key"] = key;
  out.record["aligned"] = absolute(out.path);
  write_json(record_path, out.record);
  out.record["permutation"] = perm;
  return out;
}

AlignedEndpoints align_to_first(const std::vector<std::string>& checkpoints, const EndpointAlignment& a,
                                const std::string& dir, torch::Device device) {
  AlignedEndpoints out;
  out.checkpoints = checkpoints;
  parse_align_method(a.method);
  if (!a.enabled() || checkpoints.size() < 2) return out;
  out.record = {{"method", a.method},
                {"reference", absolute(checkpoints.front())},
                {"options",
                 {{"seed", a.options.seed}, {"max_iterations", a.options.max_iterations}, {"samples", a.options.samples}}},
                {"aligned", nlohmann::json::array()}};
  for (size_t k = 1; k < checkpoints.size(); ++k) {
    AlignedCheckpoint c =
        write_aligned_checkpoint(checkpoints.front(), checkpoints[k], a, dir + "/" + std::to_string(k), device);
    out.checkpoints[k] = c.path;
    out.record["aligned"].push_back(c.record);
  }
  return out;
}

Profile run_aligned_interpolation(InterpolateJob job, const EndpointAlignment& a) {
  if (!a.enabled()) return run_interpolation(job);
  CL_CHECK_INPUT(job.checkpoints.size() >= 2, "interpolate: give at least two checkpoints");
  CL_CHECK_INPUT(!job.out_dir.empty(), "interpolate: --out is required");
  const AlignedEndpoints al = align_to_first(job.checkpoints, a, job.out_dir + "/aligned", job.common.device);
  job.checkpoints = al.checkpoints;
  Profile p = run_interpolation(job);
  // The record goes into the profile's settings after the evaluation (the points' resume key is
  // the computation itself: the aligned checkpoints' paths are in settings.checkpoints).
  add_record(p.settings, al.record);
  const std::string stem = job.checkpoints.size() == 2 ? "line" : "path";
  write_profile(p, job.out_dir, stem);
  write_json(job.out_dir + "/align.json", al.record);
  return p;
}

CurveTrainSummary run_aligned_connect(ConnectJob job, const EndpointAlignment& a) {
  if (!a.enabled()) return run_connect(job);
  CL_CHECK_INPUT(!job.out_dir.empty(), "connect: --out is required");
  const std::string dir = fs::path(job.out_dir).lexically_normal().string();
  const std::string adir = (dir.empty() || dir.back() == '/' ? dir.substr(0, dir.size() - 1) : dir) + ".aligned";
  EndpointAlignment aa = a;
  if (aa.data_overrides.empty()) aa.data_overrides = job.data_overrides;
  const AlignedEndpoints al = align_to_first({job.start, job.end}, aa, adir, job.device);
  job.end = al.checkpoints[1];
  CurveTrainSummary s = run_connect(job);
  const bool writer = !job.data_parallel || job.data_parallel->rank() == 0;
  if (writer) {
    write_json(adir + "/align.json", al.record);
    const std::string sp = job.out_dir + "/summary.json";
    if (file_exists(sp)) {
      auto sj = read_json(sp);
      add_record(sj, al.record);
      write_json(sp, sj);
    }
  }
  return s;
}

PlaneResult run_aligned_plane(PlaneJob job, const EndpointAlignment& a) {
  if (!a.enabled()) return run_plane(job);
  CL_CHECK_INPUT(job.directions.empty() && job.curve_dir.empty(),
                 "plane --align " + a.method + ": only a plane through three checkpoints is aligned (a curve's "
                 "bends are aligned by the curve's endpoints; a plane by directions has one network)");
  CL_CHECK_INPUT(job.checkpoints.size() == 3, "plane: give three checkpoints W0 W1 W2 (or --curve DIR), got " +
                                                  std::to_string(job.checkpoints.size()));
  CL_CHECK_INPUT(!job.out_dir.empty(), "plane: --out is required");
  std::vector<std::string> all = job.checkpoints;
  all.insert(all.end(), job.project.begin(), job.project.end());
  if (job.project_names.empty())  // the projected points keep their given paths as names
    for (const auto& p : job.project) job.project_names.push_back(absolute(p));
  const AlignedEndpoints al = align_to_first(all, a, job.out_dir + "/aligned", job.common.device);
  for (size_t k = 0; k < 3; ++k) job.checkpoints[k] = al.checkpoints[k];
  for (size_t k = 0; k < job.project.size(); ++k) job.project[k] = al.checkpoints[3 + k];
  PlaneResult r = run_plane(job);
  write_json(job.out_dir + "/align.json", al.record);
  const std::string pj = job.out_dir + "/plane.json";
  if (r.complete && file_exists(pj)) {
    auto meta = read_json(pj);
    add_record(meta, al.record);
    write_json(pj, meta);
  }
  return r;
}

}  // namespace closerlook
