#include "studies/reproduce_config.h"

#include <cmath>
#include <filesystem>

#include "core/atomic_file.h"
#include "core/config.h"
#include "core/error.h"
#include "train/train_config.h"

namespace fs = std::filesystem;

namespace closerlook {

std::string find_preset(const std::string& name_or_path, const std::string& presets_dir) {
  if (file_exists(name_or_path) && fs::is_regular_file(name_or_path)) return name_or_path;
  const std::string p = (fs::path(presets_dir) / (name_or_path + ".toml")).string();
  if (file_exists(p)) return p;
  std::string names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(presets_dir, ec))
    if (e.path().extension() == ".toml") names += (names.empty() ? "" : ", ") + e.path().stem().string();
  throw_bad_input("--preset '" + name_or_path + "': no such preset file or name (presets in " + presets_dir + ": " +
                  (names.empty() ? "none" : names) + ")");
}

nlohmann::json ReproduceConfig::run_tree(uint64_t run_seed, const nlohmann::json& train_over,
                                         const nlohmann::json& model_over, const nlohmann::json& data_over) const {
  nlohmann::json t = {{"seed", run_seed}, {"data", data}, {"model", model}, {"train", train}};
  // JSON merge-patch; a null/absent override leaves the table as it is.
  if (train_over.is_object()) t["train"].merge_patch(train_over);
  if (model_over.is_object()) t["model"].merge_patch(model_over);
  if (data_over.is_object()) t["data"].merge_patch(data_over);
  return t;
}

namespace {

// A table that a study merge-patches onto [model] ([resilience.model], [warmup.model],
// [distill.teacher_model], [distill.student_model]): taken whole from the preset tree, its keys are
// checked when the run's training config is read. `out` keeps its default when the table is absent.
void read_model_patch(ConfigReader& section, const nlohmann::json& tree, const char* section_name, const char* key,
                      nlohmann::json& out) {
  if (!section.has(key)) return;
  section.ignore(key);
  out = tree.at(section_name).at(key);
}

}  // namespace

ReproduceConfig load_reproduce_config(const std::string& path, const std::vector<std::string>& overrides) {
  ReproduceConfig c;
  c.source = path;
  c.tree = load_toml_file(path);
  for (const auto& o : overrides) apply_override(c.tree, o);

  ConfigReader r(c.tree, path);
  c.seed = static_cast<uint64_t>(r.get_int("seed", 0, 0, (int64_t(1) << 62)));
  c.studies = r.get_string_list("studies", c.studies);
  for (const auto& s : c.studies)
    if (s != "sgdr" && s != "resilience" && s != "warmup" && s != "distill")
      throw_bad_input(path + ": key 'studies': unknown study '" + s + "' (sgdr, resilience, warmup, distill)");
  for (const char* k : {"data", "model", "train"}) {
    r.ignore(k);
    c.tree[k] = c.tree.value(k, nlohmann::json::object());
  }
  c.data = c.tree["data"];
  c.model = c.tree["model"];
  c.train = c.tree["train"];
  // Validate the common recipe once, up front, so a typo fails before any work starts.
  (void)read_train_config(c.run_tree(c.seed, nlohmann::json::object()), path);
  {
    ConfigReader dr(c.data, path, "data");
    c.data_spec = read_data_spec(dr);
  }

  auto e = r.section("eval");
  c.eval.points = static_cast<int>(e.get_int("points", c.eval.points, 3, 1001));
  c.eval.plane_grid = static_cast<int>(e.get_int("plane_grid", c.eval.plane_grid, 2, 201));
  c.eval.plane_margin = e.get_double("plane_margin", c.eval.plane_margin, 0.0, 10.0);
  c.eval.settings.bn_samples = e.get_int("bn_samples", 0, 0, int64_t(1) << 40);
  c.eval.settings.train_samples = e.get_int("train_samples", 0, -1, int64_t(1) << 40);
  c.eval.settings.test_samples = e.get_int("test_samples", 0, -1, int64_t(1) << 40);
  c.eval.settings.batch_size = e.get_int("batch_size", EvalSettings{}.batch_size, 1, 1 << 20);
  c.eval.settings.bn_batch_size = e.get_int("bn_batch_size", EvalSettings{}.bn_batch_size, 2, 1 << 20);
  c.eval.settings.precision = e.get_enum("precision", EvalSettings{}.precision, {"float32", "bf16"});
  // [0, 1): a relative standard error (1 or more would stop after the first chunk whatever the cell).
  c.eval.plane_train_rel_se = e.get_double("plane_train_rel_se", 0.0, 0.0, std::nextafter(1.0, 0.0));
  if (c.eval.plane_train_rel_se > 0 && c.eval.settings.train_samples <= 0)
    throw_bad_input(path + ": [eval] plane_train_rel_se > 0 needs train_samples > 0 (the most examples a plane "
                    "cell reads), got " + std::to_string(c.eval.settings.train_samples));
  e.finish();

  auto cv = r.section("curve");
  c.curve.type = parse_curve_type(cv.get_enum("type", curve_type_name(c.curve.type), {"bezier", "polychain"}));
  c.curve.bends = static_cast<int>(cv.get_int("bends", 3, 3, 3));  // the plane needs the 3-bend curve
  c.curve.epochs = cv.get_int("epochs", c.curve.epochs, 1, 100000);
  c.curve.lr = cv.get_double("lr", c.curve.lr, 1e-8, 100);
  c.curve.momentum = cv.get_double("momentum", c.curve.momentum, 0, 0.9999);
  c.curve.weight_decay = cv.get_double("weight_decay", c.curve.weight_decay, 0, 1);
  c.curve.batch_size = cv.get_int("batch_size", c.curve.batch_size, 1, 1 << 20);
  cv.finish();

  auto sm = r.section("similarity");
  c.similarity.examples = sm.get_int("examples", c.similarity.examples, 4, int64_t(1) << 30);
  c.similarity.conv_mode = sm.get_enum("conv_mode", c.similarity.conv_mode, {"gap", "spatial", "flatten"});
  c.similarity.measures = sm.get_string_list("measures", c.similarity.measures);
  c.similarity.primary = sm.get_string("primary", c.similarity.primary);
  bool primary_listed = false;
  for (const auto& m : c.similarity.measures) primary_listed |= (m == c.similarity.primary);
  if (!primary_listed)
    throw_bad_input(path + ": key 'similarity.primary': '" + c.similarity.primary + "' is not in similarity.measures");
  sm.finish();

  auto sg = r.section("sgdr");
  c.sgdr.epochs = sg.get_int("epochs", c.sgdr.epochs, 2, 100000);
  c.sgdr.t0 = sg.get_int("t0", c.sgdr.t0, 1, 100000);
  c.sgdr.tmult = sg.get_int("tmult", c.sgdr.tmult, 1, 100);
  c.sgdr.lr = sg.get_double("lr", c.sgdr.lr, 1e-8, 100);
  c.sgdr.eta_min = sg.get_double("eta_min", c.sgdr.eta_min, 0, 100);
  c.sgdr.sgd_milestones = sg.get_int_list("sgd_milestones", c.sgdr.sgd_milestones, 1, 100000);
  c.sgdr.barrier_rel = sg.get_double("barrier_rel", c.sgdr.barrier_rel, 0, 100);
  c.sgdr.curve_fraction = sg.get_double("curve_fraction", c.sgdr.curve_fraction, 0, 1);
  c.sgdr.contrast_margin = sg.get_double("contrast_margin", c.sgdr.contrast_margin, 0, 100);
  c.sgdr.contrast_margin_err = sg.get_double("contrast_margin_err", c.sgdr.contrast_margin_err, 0, 1);
  c.sgdr.overfit_margin = sg.get_double("overfit_margin", c.sgdr.overfit_margin, 0, 1);
  c.sgdr.plane_max_off = sg.get_double("plane_max_off", c.sgdr.plane_max_off, 0, 1000);
  sg.finish();

  auto al = r.section("align");
  c.align.method = al.get_enum("method", c.align.method, {"none", "weights", "activations"});
  c.align.seed = static_cast<uint64_t>(al.get_int("seed", 0, 0, int64_t(1) << 62));
  c.align.max_iterations = al.get_int("max_iterations", c.align.max_iterations, 1, 100000);
  c.align.samples = al.get_int("samples", c.align.samples, 2, int64_t(1) << 30);
  al.finish();

  auto cl = r.section("claims");
  c.claims.level = cl.get_double("level", c.claims.level, 0.5, 0.9999);
  cl.finish();

  auto rs = r.section("resilience");
  c.resilience.modes = rs.get_string_list("modes", c.resilience.modes);
  for (const auto& m : c.resilience.modes)
    if (m.size() != 1 || m[0] < 'A' || m[0] > 'F')
      throw_bad_input(path + ": key 'resilience.modes': unknown mode '" + m + "' (A-F)");
  c.resilience.large_batch = rs.get_int("large_batch", c.resilience.large_batch, 1, 1 << 20);
  c.resilience.adam_lr = rs.get_double("adam_lr", c.resilience.adam_lr, 1e-8, 1e6);
  c.resilience.small_weight_decay = rs.get_double("small_weight_decay", c.resilience.small_weight_decay, 0, 1);
  c.resilience.init_scale = rs.get_double("init_scale", c.resilience.init_scale, 1e-3, 100);
  c.resilience.tolerance = rs.get_double("tolerance", c.resilience.tolerance, 0, 1);
  read_model_patch(rs, c.tree, "resilience", "model", c.resilience.model);
  rs.finish();

  auto wu = r.section("warmup");
  c.warmup.epochs = wu.get_int("epochs", c.warmup.epochs, 1, 100000);
  c.warmup.small_batch = wu.get_int("small_batch", c.warmup.small_batch, 1, 1 << 20);
  c.warmup.large_batch = wu.get_int("large_batch", c.warmup.large_batch, 1, 1 << 20);
  c.warmup.small_lr = wu.get_double("small_lr", c.warmup.small_lr, 1e-8, 100);
  c.warmup.large_lr = wu.get_double("large_lr", c.warmup.large_lr, 1e-8, 1000);
  c.warmup.warmup_iters = wu.get_int("warmup_iters", c.warmup.warmup_iters, 1, 1 << 30);
  c.warmup.freeze_prefixes = wu.get_string_list("freeze_prefixes", c.warmup.freeze_prefixes);
  c.warmup.deep_layers = static_cast<int>(wu.get_int("deep_layers", c.warmup.deep_layers, 1, 1000));
  c.warmup.decide_by = wu.get_enum("decide_by", c.warmup.decide_by, {"similarity", "weights"});
  c.warmup.resamples = wu.get_int("resamples", c.warmup.resamples, 0, 100000);
  c.warmup.floor_permutations = wu.get_int("floor_permutations", c.warmup.floor_permutations, 1, 1000);
  c.warmup.floor_z = wu.get_double("floor_z", c.warmup.floor_z, 0, 100);
  c.warmup.margin = wu.get_double("margin", c.warmup.margin, 0, 1);
  c.warmup.control_lr = wu.get_double("control_lr", c.warmup.control_lr, 1e-8, 1000);
  c.warmup.curvature_every = wu.get_int("curvature_every", c.warmup.curvature_every, 0, 1 << 30);
  c.warmup.curvature_until = wu.get_int("curvature_until", c.warmup.curvature_until, 0, 1 << 30);
  c.warmup.curvature_examples = wu.get_int("curvature_examples", c.warmup.curvature_examples, 1, 1 << 20);
  c.warmup.curvature_batch = wu.get_int("curvature_batch", c.warmup.curvature_batch, 1, 1 << 20);
  c.warmup.curvature_steps = wu.get_int("curvature_steps", c.warmup.curvature_steps, 1, 1000);
  c.warmup.curvature_per_layer = wu.get_bool("curvature_per_layer", c.warmup.curvature_per_layer);
  c.warmup.sharpness_margin = wu.get_double("sharpness_margin", c.warmup.sharpness_margin, 0, 100);
  c.warmup.deep_curvature_margin = wu.get_double("deep_curvature_margin", c.warmup.deep_curvature_margin, 0, 1);
  read_model_patch(wu, c.tree, "warmup", "model", c.warmup.model);
  wu.finish();

  auto ds = r.section("distill");
  c.distill.teacher_epochs = ds.get_int("teacher_epochs", c.distill.teacher_epochs, 1, 100000);
  c.distill.student_epochs = ds.get_int("student_epochs", c.distill.student_epochs, 1, 100000);
  c.distill.temperature = ds.get_double("temperature", c.distill.temperature, 0.01, 1000);
  c.distill.alpha = ds.get_double("alpha", c.distill.alpha, 0, 1);
  read_model_patch(ds, c.tree, "distill", "teacher_model", c.distill.teacher_model);
  c.distill.measure = ds.get_enum("measure", c.distill.measure,
                                  {"cca", "svcca", "pwcca", "cka-linear", "cka-rbf", "cka-debiased"});
  c.distill.resamples = ds.get_int("resamples", c.distill.resamples, 0, 100000);
  c.distill.margin = ds.get_double("margin", c.distill.margin, 0, 1);
  read_model_patch(ds, c.tree, "distill", "student_model", c.distill.student_model);
  ds.finish();
  r.finish();
  return c;
}

}  // namespace closerlook
