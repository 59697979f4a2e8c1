#include "similarity/activations.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <map>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_io.h"
#include "core/npy.h"

namespace closerlook {
namespace {

constexpr const char* kFormat = "closerlook-activations/1";
constexpr const char* kIndex = "activations.json";

std::string file_stem(size_t index, const std::string& name) {
  std::string s;
  for (char c : name) s += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') ? c : '_';
  return fmt::format("{:02d}_{}", index, s.empty() ? "layer" : s);
}

}  // namespace

std::string conv_mode_name(ConvMode m) {
  switch (m) {
    case ConvMode::Gap: return "gap";
    case ConvMode::Spatial: return "spatial";
    case ConvMode::Flatten: return "flatten";
  }
  return "?";
}

ConvMode parse_conv_mode(const std::string& s) {
  if (s == "gap") return ConvMode::Gap;
  if (s == "spatial") return ConvMode::Spatial;
  if (s == "flatten") return ConvMode::Flatten;
  throw_bad_input("unknown conv mode '" + s + "' (expected gap, spatial or flatten)");
}

torch::Tensor reduce_activation(const torch::Tensor& raw, ConvMode mode, int64_t stride) {
  if (raw.dim() < 2) throw_bad_input(fmt::format("activation with {} dimensions; expected (N, ...)", raw.dim()));
  if (stride < 1) throw_bad_input(fmt::format("spatial stride must be >= 1, got {}", stride));
  if (raw.dim() == 2) return raw;
  const int64_t n = raw.size(0), c = raw.size(1);
  std::vector<int64_t> spatial_dims;
  for (int64_t d = 2; d < raw.dim(); ++d) spatial_dims.push_back(d);
  switch (mode) {
    case ConvMode::Gap: return raw.mean(spatial_dims);
    case ConvMode::Flatten: return raw.reshape({n, -1});
    case ConvMode::Spatial: {
      auto x = raw;
      for (int64_t d : spatial_dims) x = x.slice(d, 0, std::nullopt, stride);
      std::vector<int64_t> perm = {0};
      perm.insert(perm.end(), spatial_dims.begin(), spatial_dims.end());
      perm.push_back(1);
      return x.permute(perm).reshape({-1, c});
    }
  }
  return raw;
}

CapturedActivations capture_activations(Network& net, const Dataset& data, const CaptureOptions& opts) {
  const int64_t available = data.size();
  const int64_t n = opts.examples == 0 ? available : opts.examples;
  if (n < 1 || n > available)
    throw_bad_input(fmt::format("activations: asked for {} examples but {} has {}", opts.examples, data.name,
                                available));
  if (opts.batch < 1) throw_bad_input(fmt::format("activations: batch must be >= 1, got {}", opts.batch));
  if (opts.spatial_stride < 1)
    throw_bad_input(fmt::format("activations: spatial stride must be >= 1, got {}", opts.spatial_stride));
  const auto all = net.probe_names();
  std::vector<std::string> probes = opts.probes.empty() ? all : opts.probes;
  for (const auto& p : probes)
    if (std::find(all.begin(), all.end(), p) == all.end())
      throw_bad_input(fmt::format("activations: unknown probe '{}' (the model has: {})", p, fmt::join(all, ", ")));

  const bool was_training = net.is_training();
  net.train(false);
  torch::NoGradGuard no_grad;
  std::map<std::string, std::vector<torch::Tensor>> parts;
  std::map<std::string, std::vector<int64_t>> raw_shape;
  try {
    for (int64_t start = 0; start < n; start += opts.batch) {
      const int64_t end = std::min(n, start + opts.batch);
      auto x = data.images.slice(0, start, end).to(opts.device);
      std::map<std::string, torch::Tensor> acts;
      net.forward_probes(x, probes, acts);
      for (const auto& p : probes) {
        auto it = acts.find(p);
        if (it == acts.end())
          throw Error(ExitCode::Internal, fmt::format("activations: the model did not record probe '{}'", p));
        const auto& a = it->second;
        if (!raw_shape.count(p)) raw_shape[p] = std::vector<int64_t>(a.sizes().begin() + 1, a.sizes().end());
        parts[p].push_back(
            reduce_activation(a.detach(), opts.conv_mode, opts.spatial_stride).to(torch::kCPU, torch::kFloat32));
      }
    }
  } catch (...) {
    net.train(was_training);
    throw;
  }
  net.train(was_training);

  CapturedActivations out;
  out.meta["format"] = kFormat;
  out.meta["examples"] = n;
  out.meta["dataset"] = data.name;
  out.meta["conv_mode"] = conv_mode_name(opts.conv_mode);
  out.meta["spatial_stride"] = opts.spatial_stride;
  out.meta["layers"] = nlohmann::json::array();
  for (const auto& p : probes) {
    auto t = torch::cat(parts[p], 0).contiguous();
    out.meta["layers"].push_back({{"name", p}, {"rows", t.size(0)}, {"features", t.size(1)}, {"raw_shape", raw_shape[p]}});
    out.layers.emplace_back(p, t);
  }
  return out;
}

void save_activations(const std::string& dir, const CapturedActivations& acts) {
  make_dirs(dir);
  auto meta = acts.meta;
  if (!meta.contains("format")) meta["format"] = kFormat;
  auto layers = nlohmann::json::array();
  for (size_t i = 0; i < acts.layers.size(); ++i) {
    const auto& [name, t] = acts.layers[i];
    const std::string file = file_stem(i, name) + ".npy";
    write_npy(dir + "/" + file, t.to(torch::kCPU, torch::kFloat32).contiguous());
    nlohmann::json entry = {{"name", name}, {"file", file}, {"rows", t.size(0)}, {"features", t.size(1)}};
    if (meta.contains("layers") && meta["layers"].is_array() && i < meta["layers"].size() &&
        meta["layers"][i].contains("raw_shape"))
      entry["raw_shape"] = meta["layers"][i]["raw_shape"];
    layers.push_back(entry);
  }
  meta["layers"] = layers;
  write_json(dir + "/" + kIndex, meta);  // written last: a complete index means complete arrays
}

bool is_activation_dir(const std::string& path) { return file_exists(path + "/" + kIndex); }

CapturedActivations load_activations(const std::string& dir) {
  const std::string index = dir + "/" + kIndex;
  if (!file_exists(index)) throw_bad_input(dir + ": not an activation folder (no " + kIndex + ")");
  CapturedActivations out;
  out.meta = read_json(index);
  if (out.meta.value("format", std::string()) != kFormat)
    throw_bad_input(index + ": 'format' must be '" + kFormat + "'");
  if (!out.meta.contains("layers") || !out.meta["layers"].is_array() || out.meta["layers"].empty())
    throw_bad_input(index + ": 'layers' must be a non-empty list");
  for (const auto& l : out.meta["layers"]) {
    if (!l.contains("name") || !l.contains("file") || !l["name"].is_string() || !l["file"].is_string())
      throw_bad_input(index + ": every layer needs a 'name' and a 'file'");
    const std::string file = l["file"].get<std::string>();
    if (file.find('/') != std::string::npos || file.find("..") != std::string::npos)
      throw_bad_input(index + ": layer file '" + file + "' must be a plain file name inside the folder");
    auto t = read_npy(dir + "/" + file);
    if (t.dim() != 2 || !t.is_floating_point())
      throw_bad_input(fmt::format("{}/{}: expected a 2-D float array, got {} dimensions of {}", dir, file, t.dim(),
                                  std::string(c10::toString(t.scalar_type()))));
    if (l.contains("rows") && l.contains("features") &&
        (l["rows"].get<int64_t>() != t.size(0) || l["features"].get<int64_t>() != t.size(1)))
      throw_bad_input(fmt::format("{}/{}: shape {}x{} does not match the index ({}x{})", dir, file, t.size(0),
                                  t.size(1), l["rows"].get<int64_t>(), l["features"].get<int64_t>()));
    out.layers.emplace_back(l["name"].get<std::string>(), t);
  }
  return out;
}

torch::Tensor read_activation_npy(const std::string& path, bool neuron_major) {
  auto t = read_npy(path);
  if (t.scalar_type() != torch::kFloat32 && t.scalar_type() != torch::kFloat64)
    throw_bad_input(fmt::format("{}: expected float32 or float64 activations, got {}", path,
                                std::string(c10::toString(t.scalar_type()))));
  if (t.dim() == 1) t = t.unsqueeze(1);
  if (t.dim() != 2)
    throw_bad_input(fmt::format("{}: expected a 2-D array ({}), got {} dimensions", path,
                                neuron_major ? "neurons x examples" : "examples x features", t.dim()));
  return neuron_major ? t.t().contiguous() : t;
}

}  // namespace closerlook
