#include "models/factory.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <filesystem>

#include "core/error.h"
#include "core/runtime.h"
#include "models/init.h"
#include "models/jit_network.h"
#include "models/mlp.h"
#include "models/module_network.h"
#include "models/resnet.h"
#include "models/vgg.h"

namespace closerlook {

namespace {

const std::vector<std::string>& layouts_of(const std::string& family) {
  static const std::vector<std::string> vgg = {"vgg11", "vgg13", "vgg16", "vgg19"};
  static const std::vector<std::string> resnet = {"resnet8", "resnet20", "resnet18"};
  static const std::vector<std::string> mlp = {"mlp"};
  static const std::vector<std::string> torchscript = {"torchscript"};
  if (family == "vgg") return vgg;
  if (family == "resnet") return resnet;
  if (family == "mlp") return mlp;
  if (family == "torchscript") return torchscript;
  throw_bad_input("model.family: unknown family '" + family + "' (expected vgg, resnet, mlp or torchscript)");
}

std::string default_layout(const std::string& family) { return layouts_of(family).front(); }

std::string list_str(const std::vector<int64_t>& v) { return fmt::format("[{}]", fmt::join(v, ",")); }

// Checks a spec built in code or read from JSON; `where` prefixes messages ("model", a file).
void validate(const ModelSpec& s, const std::string& where) {
  const auto& layouts = layouts_of(s.family);
  if (std::find(layouts.begin(), layouts.end(), s.layout) == layouts.end())
    throw_bad_input(where + ": layout '" + s.layout + "' does not belong to family '" + s.family + "' (expected one of " +
                    fmt::format("{}", fmt::join(layouts, ", ")) + ")");
  if (!(s.width > 0 && s.width <= 16)) throw_bad_input(where + ": width " + fmt::format("{}", s.width) + " not in (0, 16]");
  if (!(s.dropout >= 0 && s.dropout < 1))
    throw_bad_input(where + ": dropout " + fmt::format("{}", s.dropout) + " not in [0, 1)");
  if (s.linear_init != "paper" && s.linear_init != "kaiming")
    throw_bad_input(where + ": linear_init '" + s.linear_init + "' (expected paper or kaiming)");
  if (!(s.init_scale > 0 && s.init_scale <= 100))
    throw_bad_input(where + ": init_scale " + fmt::format("{}", s.init_scale) + " not in (0, 100]");
  for (int64_t h : s.fc_hidden)
    if (h < 1) throw_bad_input(where + ": fc_hidden entry " + std::to_string(h) + " must be >= 1");
  for (int64_t h : s.mlp_hidden)
    if (h < 1) throw_bad_input(where + ": mlp_hidden entry " + std::to_string(h) + " must be >= 1");
  if (s.family == "torchscript" && s.path.empty()) throw_bad_input(where + ": family 'torchscript' needs a path");
  if (s.in_channels < 1 || s.image_size < 1 || s.num_classes < 1)
    throw_bad_input(where + ": in_channels, image_size and num_classes must be >= 1 (got " +
                    std::to_string(s.in_channels) + ", " + std::to_string(s.image_size) + ", " +
                    std::to_string(s.num_classes) + ")");
}

// Everything that decides parameter names and shapes, and nothing else (no init_scale, so that
// networks initialised at different scales stay interchangeable).
std::string arch_string(const ModelSpec& s) {
  const std::string io =
      fmt::format("in={}x{}x{} classes={}", s.in_channels, s.image_size, s.image_size, s.num_classes);
  if (s.family == "vgg")
    return fmt::format("{} w={} bn={} fc={} drop={} {}", s.layout, s.width, s.batchnorm ? 1 : 0, list_str(s.fc_hidden),
                       s.dropout, io);
  if (s.family == "resnet") return fmt::format("{} w={} bn={} {}", s.layout, s.width, s.batchnorm ? 1 : 0, io);
  return fmt::format("mlp hidden={} bn={} {}", list_str(s.mlp_hidden), s.batchnorm ? 1 : 0, io);
}

std::shared_ptr<ProbedModule> make_module(const ModelSpec& s) {
  if (s.family == "vgg") return std::make_shared<VggNet>(s);
  if (s.family == "resnet") return std::make_shared<ResNet>(s);
  return std::make_shared<Mlp>(s);
}

// Builds, then reseeds the default generator, then initialises. Seeding after construction
// matters: the module constructors draw LibTorch's own default init, and the paper's init must
// start from a fresh stream to equal Python's manual_seed + init loop.
NetworkPtr build_network(const ModelSpec& s, uint64_t seed) {
  if (s.family == "torchscript") return std::make_shared<JitNetwork>(s);
  auto module = make_module(s);
  torch::manual_seed(seed);
  init_weights(*module, s.init_scale, parse_linear_init(s.linear_init));
  auto net = std::make_shared<ModuleNetwork>(module, arch_string(s),
                                             std::vector<int64_t>{s.in_channels, s.image_size, s.image_size},
                                             s.family == "mlp");
  net->set_memory_format(default_memory_format());
  return net;
}

// What a field's JSON value must be, for the message when it is not.
const char* json_kind(const std::string*) { return "a string"; }
const char* json_kind(const double*) { return "a number"; }
const char* json_kind(const bool*) { return "a boolean"; }
const char* json_kind(const int64_t*) { return "an integer"; }
const char* json_kind(const std::vector<int64_t>*) { return "a list of integers"; }
const char* json_kind(const std::vector<std::string>*) { return "a list of strings"; }

template <class T>
void read_field(const nlohmann::json& j, const char* key, T& out) {
  auto it = j.find(key);
  if (it == j.end()) throw_bad_input(std::string("model_spec: missing field '") + key + "'");
  try {
    out = it->get<T>();
  } catch (const std::exception&) {
    throw_bad_input(std::string("model_spec: field '") + key + "' must be " + json_kind(&out) + ", got " + it->dump());
  }
}

// The fields every model_spec JSON has, once for writing and reading (f(key, member)). The
// others are conditional: linear_init only when not "paper" (older specs and their hashes stay
// as they were), path and probes only for family "torchscript".
template <class Spec, class F>
void common_fields(Spec& s, F&& f) {
  f("family", s.family);
  f("layout", s.layout);
  f("width", s.width);
  f("batchnorm", s.batchnorm);
  f("fc_hidden", s.fc_hidden);
  f("dropout", s.dropout);
  f("init_scale", s.init_scale);
  f("mlp_hidden", s.mlp_hidden);
  f("in_channels", s.in_channels);
  f("image_size", s.image_size);
  f("num_classes", s.num_classes);
}

// A key of the [model] table that this spec cannot have: Error(BadInput) naming it and why.
void reject_keys(ConfigReader& r, std::initializer_list<const char*> keys, const std::string& why) {
  for (const char* k : keys)
    if (r.has(k)) throw_bad_input(r.source() + ": key '" + r.path(k) + "': " + why);
}

// A double in (0, hi]: the reader checks [0, hi], 0 itself is rejected here.
double positive_double(ConfigReader& r, const char* key, double def, double hi) {
  const double v = r.get_double(key, def, 0.0, hi);
  if (!(v > 0)) throw_bad_input(r.source() + ": key '" + r.path(key) + "': must be > 0, got 0");
  return v;
}

// [model] family = "torchscript": path (relative = to the config file's folder) and probes;
// the built-in families' keys are rejected.
ModelSpec read_torchscript_spec(ConfigReader& r, ModelSpec s) {
  reject_keys(r, {"width", "batchnorm", "fc_hidden", "dropout", "init_scale", "linear_init", "mlp_hidden"},
              "a torchscript model's architecture comes from its file, it has no such option");
  namespace fs = std::filesystem;
  fs::path p = r.get_string("path", "");
  if (p.empty()) throw_bad_input(r.source() + ": key '" + r.path("path") + "': family 'torchscript' needs the .pt file");
  if (p.is_relative()) {
    const fs::path cfg(r.source());
    std::error_code ec;
    if (fs::is_regular_file(cfg, ec)) p = cfg.parent_path() / p;
  }
  s.path = fs::absolute(p).lexically_normal().string();
  s.probes = r.get_string_list("probes", {});
  validate(s, r.source());
  return s;
}

}  // namespace

ModelSpec read_model_spec(ConfigReader& r) {
  ModelSpec s;
  s.family = r.get_enum("family", s.family, {"vgg", "resnet", "mlp", "torchscript"});
  s.layout = r.get_enum("layout", default_layout(s.family), layouts_of(s.family));
  if (s.family == "torchscript") return read_torchscript_spec(r, s);
  const std::string not_here = "(family is '" + s.family + "')";
  reject_keys(r, {"path", "probes"}, "only the torchscript family has it " + not_here);
  s.width = positive_double(r, "width", s.width, 16.0);
  s.batchnorm = r.get_bool("batchnorm", s.batchnorm);
  s.fc_hidden = r.get_int_list("fc_hidden", s.fc_hidden, 1, 1 << 20);
  s.dropout = r.get_double("dropout", s.dropout, 0.0, 1.0);
  if (!(s.dropout < 1)) throw_bad_input(r.source() + ": key '" + r.path("dropout") + "': must be < 1, got 1");
  s.init_scale = positive_double(r, "init_scale", s.init_scale, 100.0);
  s.linear_init = r.get_enum("linear_init", s.linear_init, {"paper", "kaiming"});
  s.mlp_hidden = r.get_int_list("mlp_hidden", s.mlp_hidden, 1, 1 << 20);
  // Options that the chosen family does not have are rejected rather than silently ignored.
  if (s.family != "vgg") reject_keys(r, {"fc_hidden", "dropout"}, "only the vgg family has it " + not_here);
  if (s.family != "mlp") reject_keys(r, {"mlp_hidden"}, "only the mlp family has it " + not_here);
  if (s.family == "mlp") reject_keys(r, {"width"}, "the mlp family has no width multiplier (use mlp_hidden)");
  validate(s, r.source());
  return s;
}

nlohmann::json model_spec_to_json(const ModelSpec& s) {
  nlohmann::json j = nlohmann::json::object();
  common_fields(s, [&](const char* key, const auto& v) { j[key] = v; });
  if (s.linear_init != "paper") j["linear_init"] = s.linear_init;  // absent = paper (older specs)
  if (s.family == "torchscript") {  // only here, so built-in specs (and hashes over them) are unchanged
    j["path"] = s.path;
    j["probes"] = s.probes;
  }
  return j;
}

ModelSpec model_spec_from_json(const nlohmann::json& j) {
  if (!j.is_object()) throw_bad_input("model_spec: expected an object, got " + j.dump());
  ModelSpec s;
  common_fields(s, [&](const char* key, auto& v) { read_field(j, key, v); });
  if (j.contains("linear_init")) read_field(j, "linear_init", s.linear_init);
  if (s.family == "torchscript") {
    read_field(j, "path", s.path);
    if (j.contains("probes")) read_field(j, "probes", s.probes);
  }
  validate(s, "model_spec");
  return s;
}

std::string model_arch(const ModelSpec& spec) {
  validate(spec, "model");
  if (spec.family == "torchscript") return jit_model_arch(spec);
  return arch_string(spec);
}

NetworkPtr build_model(const ModelSpec& spec, uint64_t seed) {
  validate(spec, "model");
  return build_network(spec, seed);
}

}  // namespace closerlook
