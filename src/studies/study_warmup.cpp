// Study 3: learning-rate warmup. Small batch; large batch without warmup; large batch with a
// linear warmup; large batch with the FC layers frozen over the warmup window. Activations at
// iteration 0, at the end of the window and at the end; per-layer similarity between them and
// full layer x layer maps. The claim inputs (claims_warmup.h): per layer, the similarity between
// iteration 0 and the end of the window with its bootstrap over examples and its noise floor
// (examples permuted), and the relative weight change from the two checkpoints. With --controls:
// the large batch at a stable LR (warmup.control_lr) without warmup, with warmup and with FC
// freezing, extra steps only, checked by the same functions (claim ids "<id>.control").
#include <cmath>
#include <algorithm>
#include <chrono>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_io.h"
#include "report/figure_spec.h"
#include "similarity/activations.h"
#include "similarity/bootstrap.h"
#include "similarity/similarity.h"
#include "similarity/similarity_map.h"
#include "studies/steps.h"
#include "studies/study_common.h"
#include "train/run_dir.h"

namespace closerlook {
namespace {

struct WarmupDef {
  std::string key, name;  // step key, display name (as used by the claim checks)
  nlohmann::json train_over;
};

std::vector<Measure> preset_measures(const ReproduceConfig& cfg) {
  std::vector<Measure> ms;
  for (const auto& m : cfg.similarity.measures) ms.push_back(parse_measure(m));
  return ms;
}

// The bootstrap's and the floor's random streams: the run seed, offset (not the data order).
uint64_t bootstrap_seed(uint64_t run_seed) { return run_seed * 0x9E3779B97F4A7C15ULL + 0x3A2BULL; }

// ||W_T - W_0|| / ||W_0|| of every conv/linear weight (dim >= 2) between two checkpoints.
void weight_changes(WarmupRun& wr, const std::string& ckpt0, const std::string& ckptT) {
  if (!file_exists(ckpt0) || !file_exists(ckptT)) return;
  auto a = load_network(ckpt0, torch::kCPU), b = load_network(ckptT, torch::kCPU);
  auto pa = a->named_parameters(), pb = b->named_parameters();
  torch::NoGradGuard ng;
  for (size_t i = 0; i < pa.size() && i < pb.size(); ++i) {
    if (pa[i].second.dim() < 2) continue;
    const auto w0 = pa[i].second.to(torch::kFloat64), wT = pb[i].second.to(torch::kFloat64);
    wr.weights.push_back(pa[i].first);
    wr.weight_change.push_back((wT - w0).norm().item<double>() / w0.norm().item<double>());
  }
}

// Per layer: similarity(init, window) on all examples, on the bootstrap resamples `idx`, and the
// noise floor: similarity(init, window with its examples permuted), `perms` permutations.
void similarity_evidence(WarmupRun& wr, const std::vector<NamedTensor>& init, const std::vector<NamedTensor>& win,
                         Measure m, const torch::Tensor& idx, int64_t perms, uint64_t seed) {
  const size_t L = std::min(init.size(), win.size());
  const int64_t B = idx.size(0);
  wr.replicates.assign(static_cast<size_t>(B), std::vector<double>(L, std::nan("")));
  auto gen = at::detail::createCPUGenerator(seed);
  for (size_t l = 0; l < L; ++l) {
    wr.layers.push_back(init[l].first);
    const torch::Tensor &x = win[l].second, &y = init[l].second;
    const int64_t n = y.size(0);
    wr.similarity.push_back(similarity(x, y, m).value);
    if (B > 0) {
      const auto reps = bootstrap_similarities({x}, y, idx, m);
      for (int64_t b = 0; b < B; ++b) wr.replicates[b][l] = reps[b][0];
    }
    std::vector<double> f;
    for (int64_t p = 0; p < perms; ++p) {
      const torch::Tensor perm = torch::randperm(n, gen, torch::kInt64);
      try {
        f.push_back(similarity(x.index_select(0, perm), y, m).value);
      } catch (const Error&) {
        f.push_back(std::nan(""));
      }
    }
    double mean = 0, var = 0;
    for (double v : f) mean += v / double(f.size());
    for (double v : f) var += (v - mean) * (v - mean);
    wr.floor.push_back(mean);
    wr.floor_sd.push_back(f.size() > 1 ? std::sqrt(var / double(f.size() - 1)) : 0.0);
  }
}

// The training run's curvature.jsonl (train.curvature_*): lambda_max, lr and the top eigenvector's
// block shares (with their per-batch values and se) per measured iteration, and the blocks' sizes.
// Rows written before the per-batch masses were recorded read with those empty / NaN.
void read_sharpness(WarmupRun& wr, const std::string& train_dir) {
  const std::string path = step_run_dir(train_dir) + "/curvature.jsonl";
  if (!file_exists(path)) return;
  auto num = [](const nlohmann::json& j, const char* k) {
    return j.contains(k) && j[k].is_number() ? j[k].get<double>() : std::nan("");
  };
  for (const auto& row : read_jsonl(path)) {
    WarmupRun::Sharpness p;
    p.iter = num(row, "iter");
    p.epoch = num(row, "epoch");
    p.lr = num(row, "lr");
    p.lambda = num(row, "lambda_max");
    p.lambda_se = num(row, "lambda_max_se");
    if (std::isfinite(num(row, "batches"))) p.batches = static_cast<int>(num(row, "batches"));
    if (std::isfinite(num(row, "momentum"))) wr.momentum = num(row, "momentum");
    std::vector<std::string> names;
    std::vector<double> numel;
    for (const auto& b : row.value("blocks", nlohmann::json::array())) {
      names.push_back(b.value("name", ""));
      numel.push_back(num(b, "numel"));
      p.block_mass.push_back(num(b, "top_vector_mass"));
      p.block_mass_se.push_back(num(b, "top_vector_mass_se"));
      p.block_lambda.push_back(num(b, "lambda_max"));
      if (b.contains("top_vector_mass_batches") && b["top_vector_mass_batches"].is_array()) {
        std::vector<double> per_batch;
        for (const auto& m : b["top_vector_mass_batches"]) per_batch.push_back(m.is_number() ? m.get<double>() : NAN);
        p.block_mass_batches.push_back(per_batch);
      }
    }
    // Per-batch masses for every block or for none (a partial set cannot give a deep share).
    if (p.block_mass_batches.size() != names.size()) p.block_mass_batches.clear();
    if (wr.curvature_blocks.empty()) {
      wr.curvature_blocks = names;
      wr.curvature_numel = numel;
    }
    wr.sharpness.push_back(p);
  }
}

// One arm's claim inputs from its training step and its activations step.
WarmupRun measure_run(const std::string& name, const std::string& train_dir, const std::string& acts_dir,
                      const std::string& win_tag, const ReproduceConfig& cfg, uint64_t seed) {
  WarmupRun wr;
  wr.name = name;
  const auto res = read_step_result(train_dir);
  wr.status = parse_run_status(res.value("status", ""));
  wr.final_test_acc = res.contains("test_acc") && res["test_acc"].is_number() ? res["test_acc"].get<double>() : NAN;
  wr.final_train_loss =
      res.contains("train_loss") && res["train_loss"].is_number() ? res["train_loss"].get<double>() : NAN;
  const DataSplit& data = cached_data(cfg.data_spec);
  wr.n_test = static_cast<double>(data.test.size());
  wr.classes = static_cast<double>(data.test.num_classes);
  weight_changes(wr, step_checkpoint(train_dir, "init"), step_checkpoint(train_dir, win_tag));
  read_sharpness(wr, train_dir);
  if (!is_activation_dir(acts_dir + "/init") || !is_activation_dir(acts_dir + "/window")) return wr;
  try {
    const auto init = load_activations(acts_dir + "/init").layers, win = load_activations(acts_dir + "/window").layers;
    const int64_t n = init.empty() ? 0 : init.front().second.size(0);
    const WarmupPreset& w = cfg.warmup;
    const torch::Tensor idx = w.resamples > 0 && n > 0 ? bootstrap_indices(n, w.resamples, bootstrap_seed(seed))
                                                       : torch::empty({0, std::max<int64_t>(n, 1)}, torch::kInt64);
    similarity_evidence(wr, init, win, parse_measure(cfg.similarity.primary), idx, w.floor_permutations,
                        bootstrap_seed(seed) + 1);
  } catch (const Error& e) {
    // A measure may refuse degenerate activations (too few examples for the directions kept):
    // the run's similarity inputs stay empty -> inconclusive when the similarity decides.
    std::fprintf(stderr, "  %s: similarity evidence not computed: %s\n", name.c_str(), e.what());
    wr.layers.clear();
    wr.similarity.clear();
    wr.floor.clear();
    wr.floor_sd.clear();
    wr.replicates.clear();
  }
  return wr;
}

WarmupCheckOptions check_options(const ReproduceConfig& cfg) {
  WarmupCheckOptions o;
  o.deep_layers = cfg.warmup.deep_layers;
  o.decide_by = cfg.warmup.decide_by;
  o.measure = cfg.similarity.primary;
  o.floor_z = cfg.warmup.floor_z;
  o.margin = cfg.warmup.margin;
  o.level = cfg.claims.level;
  o.window = cfg.warmup.warmup_iters;
  o.sharpness_margin = cfg.warmup.sharpness_margin;
  o.deep_curvature_margin = cfg.warmup.deep_curvature_margin;
  return o;
}

nlohmann::json check_options_json(const ReproduceConfig& cfg) {
  const WarmupPreset& w = cfg.warmup;
  return {{"similarity", cfg.tree["similarity"]}, {"deep_layers", w.deep_layers}, {"decide_by", w.decide_by},
          {"resamples", w.resamples},            {"floor_permutations", w.floor_permutations},
          {"floor_z", w.floor_z},                {"margin", w.margin},
          {"level", cfg.claims.level}};
}

// The sharpness claim's inputs (hashed into the analysis only when curvature is on).
nlohmann::json with_curvature_json(nlohmann::json j, const ReproduceConfig& cfg) {
  const WarmupPreset& w = cfg.warmup;
  if (w.curvature_every > 0)
    j["curvature"] = {{"every", w.curvature_every},       {"until", w.curvature_until},
                      {"examples", w.curvature_examples}, {"batch", w.curvature_batch},
                      {"steps", w.curvature_steps},       {"per_layer", w.curvature_per_layer},
                      {"sharpness_margin", w.sharpness_margin}, {"deep_curvature_margin", w.deep_curvature_margin}};
  return j;
}

// The [train] keys of curvature tracking for an arm of batch `batch`: iterations 0, every, ...
// <= until of the large batch, at the same epochs for another batch size.
nlohmann::json curvature_over(const WarmupPreset& w, int64_t batch) {
  const int64_t until = w.curvature_until > 0 ? w.curvature_until : 2 * w.warmup_iters;
  const double scale = double(w.large_batch) / double(batch);  // iterations per large-batch iteration
  std::vector<int64_t> iters;
  for (int64_t t = 0; t <= until; t += w.curvature_every) {
    const int64_t i = std::llround(double(t) * scale);
    if (iters.empty() || iters.back() != i) iters.push_back(i);
  }
  return {{"curvature_iters", iters},           {"curvature_examples", w.curvature_examples},
          {"curvature_batch", w.curvature_batch}, {"curvature_steps", w.curvature_steps},
          {"curvature_layer_steps", w.curvature_steps}, {"curvature_per_layer", w.curvature_per_layer},
          {"curvature_bn", "train"}};
}

// lambda_max eta / 2 of every arm through training (1 = the bound 2/eta), and per arm the
// top eigenvector's share in each block over the measured iterations.
void sharpness_figures(const StudyContext& sc, const std::vector<WarmupRun>& runs, const std::vector<std::string>& keys,
                       int64_t window) {
  if (!sc.figures) return;
  std::vector<LineSeries> series;
  double momentum = 0;
  for (const auto& r : runs) {
    if (r.sharpness.empty()) continue;
    LineSeries ls{r.name};
    ls.mode = "lines+markers";
    for (const auto& p : r.sharpness) {
      ls.x.push_back(p.epoch);
      ls.y.push_back(p.lambda * p.lr / 2);
    }
    momentum = r.momentum;
    series.push_back(ls);
  }
  if (series.empty()) return;
  Overlays ov;
  ov.hlines.push_back({1.0, "2/eta"});
  if (momentum > 0) ov.hlines.push_back({1.0 + momentum, "(2+2 beta)/eta, momentum " + std::to_string(momentum).substr(0, 4)});
  write_figure(sc.root, line_figure({"warmup-sharpness", "Sharpness against the stability bound: lambda_max * eta / 2",
                                     "warmup",
                                     "Top Hessian eigenvalue lambda_max (mean over the curvature batches, BN with batch "
                                     "statistics) times the step's learning rate eta, over 2: above 1 the step is "
                                     "unstable along the top direction for plain gradient descent (2/eta; with "
                                     "heavy-ball momentum the bound is (2+2 beta)/eta). Claim warmup.sharpness_2eta: "
                                     "without warmup the large batch exceeds it over the first " +
                                         std::to_string(window) + " iterations, with warmup it does not.",
                                     3},
                                    {"epoch"}, {"lambda_max * eta / 2"}, series, ov));
  int order = 40;
  for (size_t k = 0; k < runs.size() && k < keys.size(); ++k) {
    const auto& r = runs[k];
    if (r.sharpness.empty() || r.curvature_blocks.empty()) continue;
    const size_t nb = r.curvature_blocks.size();
    Matrix m(nb, std::vector<double>(r.sharpness.size(), std::nan("")));
    Axis x{"iteration"};
    for (size_t t = 0; t < r.sharpness.size(); ++t) {
      x.categories.push_back(std::to_string(static_cast<int64_t>(r.sharpness[t].iter)));
      for (size_t b = 0; b < nb && b < r.sharpness[t].block_mass.size(); ++b) m[b][t] = r.sharpness[t].block_mass[b];
    }
    Axis y{"block"};
    y.categories = r.curvature_blocks;
    y.reversed = true;
    ValueScale z{"share of the top eigenvector"};
    z.min = 0.0;
    z.max = 1.0;
    write_figure(sc.root, heatmap_figure({"warmup-curvature-blocks-" + keys[k], r.name + ": where the sharpest direction lives",
                                          "warmup",
                                          "Cell (block, iteration): the squared norm of the top Hessian eigenvector's part "
                                          "in that layer block (conv/linear weight with its bias and BN), at each measured "
                                          "iteration (each column sums to 1).",
                                          order++, true},
                                         x, y, z, m));
  }
}

}  // namespace

std::string add_warmup_study(Plan& plan, const StudyContext& sc) {
  const ReproduceConfig& cfg = *sc.cfg;
  const ReproduceConfig* c = &cfg;
  const WarmupPreset& w = cfg.warmup;
  const std::string win = "iter-" + std::to_string(w.warmup_iters);
  auto base = [&](int64_t batch, double lr) {
    return nlohmann::json{{"batch_size", batch}, {"lr", lr}, {"epochs", w.epochs},
                          {"checkpoint_iters", {w.warmup_iters}}, {"checkpoint_every", 1}};
  };
  // The three large-batch arms at learning rate `lr`: none, linear warmup over the window, the FC
  // layers frozen over the window (step keys and names prefixed for the controls below).
  auto large_batch_arms = [&](const std::string& key, const std::string& name, const std::string& at, double lr) {
    std::vector<WarmupDef> arms = {
        {key + "lb", name + "large-batch" + at, base(w.large_batch, lr)},
        {key + "lb-warmup", name + "large-batch" + at + "+warmup", base(w.large_batch, lr)},
        {key + "lb-fc-freeze", name + "large-batch" + at + "+fc-freeze", base(w.large_batch, lr)},
    };
    arms[1].train_over["warmup_iters"] = w.warmup_iters;
    arms[2].train_over["freeze_prefixes"] = w.freeze_prefixes;
    arms[2].train_over["freeze_iters"] = w.warmup_iters;
    return arms;
  };
  std::vector<WarmupDef> defs = {{"sb", "small-batch", base(w.small_batch, w.small_lr)}};
  for (auto& d : large_batch_arms("", "", "", w.large_lr)) defs.push_back(d);
  // Curvature through training (warmup.sharpness_2eta): in every arm of the claim, only when on
  // (so the runs' hashes are unchanged otherwise).
  if (w.curvature_every > 0)
    for (auto& d : defs) d.train_over.merge_patch(curvature_over(w, d.key == "sb" ? w.small_batch : w.large_batch));

  struct Ids {
    std::string key, name, train, acts;
  };
  std::vector<Ids> ids;
  std::vector<std::string> deps;
  for (const auto& d : defs) {
    Ids i{d.key, d.name, sc.id("warmup/train-" + d.key), sc.id("warmup/acts-" + d.key)};
    // Same seed for all four: the same initial weights, so only the schedule/batch differs.
    nlohmann::json t = cfg.run_tree(sc.seed, d.train_over, w.model);
    plan.add({i.train, "warmup", "train " + d.name, {}, t, [t](StepContext& ctx) { run_train_step(ctx, t); }});
    const std::string win_tag = win;
    plan.add({i.acts, "warmup", "activations of " + d.name + " at iteration 0, end of warmup window, end", {i.train},
              {{"similarity", cfg.tree["similarity"]}, {"window", win}},
              [c, i, win_tag](StepContext& ctx) {
                const std::string r = ctx.dep(i.train);
                run_activations_step(ctx, *c,
                                     {{"init", step_checkpoint(r, "init")},
                                      {"window", step_checkpoint(r, win_tag)},
                                      {"final", step_checkpoint(r, "final")}});
              }});
    plan.reads(i.acts, i.train, {"init", win_tag, "final"});
    deps.insert(deps.end(), {i.train, i.acts});
    ids.push_back(i);
  }

  const std::string analysis = sc.id("warmup/analysis");
  const StudyContext scc = sc;
  const int64_t window = w.warmup_iters;
  plan.add({analysis, "warmup", "warmup study: similarity maps, figures and claim checks", deps,
            with_curvature_json(check_options_json(cfg), cfg), [c, scc, ids, window, win](StepContext& ctx) {
              const auto t0 = std::chrono::steady_clock::now();
              const Measure primary = parse_measure(c->similarity.primary);
              std::vector<WarmupRun> runs;
              std::vector<LineSeries> per_layer;
              std::vector<std::string> layers;
              std::vector<std::string> ckpt_cols;          // layer x checkpoint figure: columns
              std::vector<std::vector<double>> ckpt_values;  // ... and their per-layer values
              std::vector<std::pair<std::string, std::string>> train_runs;
              int order = 10;
              for (const auto& i : ids) {
                train_runs.emplace_back(i.name, step_run_dir(ctx.dep(i.train)));
                const std::string adir = ctx.dep(i.acts);
                WarmupRun wr = measure_run(i.name, ctx.dep(i.train), adir, win, *c, scc.seed);
                if (!is_activation_dir(adir + "/init") || !is_activation_dir(adir + "/window")) {
                  runs.push_back(wr);
                  continue;
                }
                try {
                std::vector<CheckpointActivations> cps;
                for (const char* tag : {"init", "window", "final"})
                  if (is_activation_dir(adir + "/" + tag)) cps.push_back({tag, load_activations(adir + "/" + tag).layers});
                // Layer x checkpoint: every checkpoint against iteration 0.
                CheckpointReference ref;
                ref.kind = CheckpointReference::Fixed;
                ref.index = 0;
                auto maps = layer_by_checkpoint(cps, {primary}, ref);
                const SimilarityMap& m = maps.front();
                write_similarity_map(m, ctx.dir + "/" + i.key + "-vs-init-" + measure_name(primary));
                layers = m.row_names;
                const int64_t window_col = 1;  // columns: init, window, final
                std::vector<double> sim_fig;
                for (int64_t r = 0; r < m.values.size(0); ++r) sim_fig.push_back(m.at(r, window_col));
                // Columns of the layer x checkpoint figure: this run at each later checkpoint.
                for (int64_t col = 1; col < m.values.size(1); ++col) {
                  ckpt_cols.push_back(i.name + " @ " + (m.col_names[col] == "window" ? "it " + std::to_string(window)
                                                                                        : m.col_names[col]));
                  std::vector<double> column;
                  for (int64_t r = 0; r < m.values.size(0); ++r) column.push_back(m.at(r, col));
                  ckpt_values.push_back(column);
                }
                per_layer.push_back({i.name, {}, sim_fig});
                for (size_t k = 0; k < sim_fig.size(); ++k) per_layer.back().x.push_back(double(k));
                // Layer x layer at iteration 0 vs the end of the window, every measure.
                auto init = load_activations(adir + "/init").layers;
                auto at_window = load_activations(adir + "/window").layers;
                std::vector<Measure> ms;
                for (const auto& name : c->similarity.measures) ms.push_back(parse_measure(name));
                for (const auto& lm : layer_by_layer(init, at_window, ms)) {
                  write_similarity_map(lm, ctx.dir + "/" + i.key + "-layers-" + measure_name(lm.measure));
                  if (scc.figures && lm.measure == primary) {
                    Matrix mat(lm.values.size(0), std::vector<double>(lm.values.size(1)));
                    for (int64_t a = 0; a < lm.values.size(0); ++a)
                      for (int64_t b = 0; b < lm.values.size(1); ++b) mat[a][b] = lm.at(a, b);
                    Axis x{"layer at iteration " + std::to_string(window)};
                    x.categories = lm.col_names;
                    Axis y{"layer at iteration 0"};
                    y.categories = lm.row_names;
                    y.reversed = true;
                    ValueScale z{measure_name(primary) + " similarity"};
                    z.min = 0.0;
                    z.max = 1.0;
                    write_figure(scc.root, heatmap_figure({"warmup-layers-" + i.key, i.name + ": layer x layer, iteration 0 vs " +
                                                           std::to_string(window), "warmup",
                                                           "Cell (i, j): " + measure_name(primary) +
                                                               " similarity between layer i at initialisation and layer j "
                                                               "at the end of the warmup window (lighter = more similar).",
                                                           order++, true},
                                                          x, y, z, mat));
                  }
                }
                } catch (const Error& e) {
                  // A measure may refuse degenerate activations: maps and figures left out.
                  std::fprintf(stderr, "  %s: similarity maps not computed: %s\n", i.name.c_str(), e.what());
                  write_json(ctx.dir + "/" + i.key + "-error.json", {{"error", e.what()}});
                }
                runs.push_back(wr);
              }
              if (scc.figures && !per_layer.empty()) {
                Axis x{"layer"};
                x.categories = layers;
                write_figure(scc.root, line_figure({"warmup-per-layer", "Per-layer similarity: iteration 0 vs end of the "
                                                    "warmup window", "warmup",
                                                    measure_name(primary) + " similarity of each layer's activations at "
                                                    "iteration 0 and at iteration " + std::to_string(window) +
                                                    ". The paper's claim: without warmup the deep (FC) layers change most.",
                                                    1},
                                                   x, {measure_name(primary) + " similarity"}, per_layer));
              }
              if (scc.figures && !ckpt_cols.empty()) {
                // Layer x checkpoint: each layer at each run's later checkpoints against the same
                // layer at iteration 0 (the init column, 1 by definition, is left out).
                Matrix mat(layers.size(), std::vector<double>(ckpt_cols.size(), std::nan("")));
                for (size_t c = 0; c < ckpt_cols.size(); ++c)
                  for (size_t r = 0; r < layers.size() && r < ckpt_values[c].size(); ++r) mat[r][c] = ckpt_values[c][r];
                Axis x{"run @ checkpoint"};
                x.categories = ckpt_cols;
                Axis y{"layer"};
                y.categories = layers;
                y.reversed = true;
                ValueScale z{measure_name(primary) + " similarity to iteration 0"};
                z.min = 0.0;
                z.max = 1.0;
                write_figure(scc.root, heatmap_figure({"warmup-layer-by-checkpoint", "Layer x checkpoint: how far each "
                                                       "layer has moved from iteration 0", "warmup",
                                                       "Cell (layer, run @ checkpoint): " + measure_name(primary) +
                                                           " similarity between the layer's activations at that "
                                                           "checkpoint and at iteration 0 (darker = changed more).",
                                                       1, false},
                                                      x, y, z, mat));
              }
              figure_training_curves(scc, "warmup", "warmup-training", train_runs, 2);
              std::vector<std::string> keys;
              for (const auto& i : ids) keys.push_back(i.key);
              sharpness_figures(scc, runs, keys, window);
              std::vector<ClaimCheck> claims = {check_warmup_deep_layers(runs, check_options(*c)),
                                                check_fc_freeze(runs, c->claims.level)};
              if (c->warmup.curvature_every > 0) {
                claims.push_back(check_warmup_sharpness(runs, check_options(*c)));
                claims.push_back(check_warmup_deep_curvature(runs, check_options(*c)));
              }
              write_claims_file(ctx.dir, claims);
              write_json(ctx.dir + "/timing.json",
                         {{"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()}});
            }});
  for (const auto& i : ids) plan.reads(analysis, i.train, {"init", win});  // measure_run: weight changes
  if (!sc.controls) return analysis;

  // Negative controls (reproduce --controls): the large batch at a stable learning rate
  // (warmup.control_lr, the small batch's by default), without warmup, with warmup and with the
  // FC layers frozen over the window. Without instability warmup has nothing to cure, so the
  // deep share of the change must not differ by more than a uniform LR scaling does (the share
  // is blind to that), and freezing has no benefit to recover (warmup's gain is not significant:
  // inconclusive by the gate, or not held). Extra steps only: the claim's steps above (and their
  // hashes) are the same with and without controls.
  std::vector<WarmupDef> cdefs = large_batch_arms("ctl-", "control:", "@control-lr", w.control_lr);
  // warmup.deep_curvature's control reads the curvature of the stable large batch (no warmup):
  // tracked there too when curvature is on (that arm alone: the check reads no other).
  if (w.curvature_every > 0) cdefs[0].train_over.merge_patch(curvature_over(w, w.large_batch));
  std::vector<Ids> cids;
  std::vector<std::string> cdeps = {analysis};
  for (const auto& d : cdefs) {
    Ids i{d.key, d.name, sc.id("warmup/train-" + d.key), sc.id("warmup/acts-" + d.key)};
    nlohmann::json t = cfg.run_tree(sc.seed, d.train_over, w.model);
    plan.add({i.train, "warmup", "control: train " + d.name, {}, t, [t](StepContext& ctx) { run_train_step(ctx, t); }});
    const std::string win_tag = win;
    plan.add({i.acts, "warmup", "control: activations of " + d.name + " at iteration 0 and the end of the window",
              {i.train}, {{"similarity", cfg.tree["similarity"]}, {"window", win}},
              [c, i, win_tag](StepContext& ctx) {
                const std::string r = ctx.dep(i.train);
                run_activations_step(ctx, *c, {{"init", step_checkpoint(r, "init")}, {"window", step_checkpoint(r, win_tag)}});
              }});
    plan.reads(i.acts, i.train, {"init", win_tag});
    cdeps.insert(cdeps.end(), {i.train, i.acts});
    cids.push_back(i);
  }
  // The sharpness claim's control: the large batch without warmup again, from the same initial
  // weights (init_from its iteration 0) with another data order (seed + 13): the contrast
  // between two runs that differ only in data order must not come out held.
  const bool curvature = w.curvature_every > 0;
  const std::string lb_train = ids[1].train, lb_name = ids[1].name;
  const std::string order_train = sc.id("warmup/train-ctl-lb-order");
  if (curvature) {
    const uint64_t oseed = sc.seed + 13;
    const nlohmann::json over = defs[1].train_over, model = w.model;
    plan.add({order_train, "warmup", "control: train " + lb_name + " again from its initial weights, another data order",
              {lb_train}, {{"tree", cfg.run_tree(oseed, over, model)}},
              [c, over, model, oseed, lb_train](StepContext& ctx) {
                nlohmann::json o = over;
                o["init_from"] = step_checkpoint(ctx.dep(lb_train), "init");
                run_train_step(ctx, c->run_tree(oseed, o, model));
              }});
    plan.reads(order_train, lb_train, {"init"});
    cdeps.insert(cdeps.end(), {lb_train, order_train});
  }
  const std::string controls = sc.id("warmup/controls");
  plan.add({controls, "warmup", "warmup study: the claim checks and their negative controls", cdeps,
            with_curvature_json(check_options_json(cfg), cfg),
            [c, scc, cids, analysis, win, curvature, lb_train, lb_name, order_train](StepContext& ctx) {
              std::vector<WarmupRun> runs;
              for (const auto& i : cids) runs.push_back(measure_run(i.name, ctx.dep(i.train), ctx.dep(i.acts), win, *c, scc.seed));
              WarmupArms arms;
              arms.large = cids[0].name;
              arms.warmup = cids[1].name;
              arms.freeze = cids[2].name;
              arms.small = "";  // the small-batch contrast is not part of the control
              const std::string arm = "large batch at a stable LR: no instability for warmup or freezing to cure";
              std::vector<ClaimCheck> all = read_claims_file(ctx.dep(analysis));
              all.push_back(as_control(check_warmup_deep_layers(runs, check_options(*c), arms), arm));
              all.push_back(as_control(check_fc_freeze(runs, c->claims.level, arms), arm));
              if (curvature) {
                // The stable large batch should not cross 2/eta: the gate (inconclusive) or not held.
                all.push_back(as_control(check_warmup_deep_curvature(runs, check_options(*c), arms), arm));
                WarmupRun a, b;
                a.name = lb_name;
                b.name = "control:" + lb_name + "@another-data-order";
                read_sharpness(a, ctx.dep(lb_train));
                read_sharpness(b, ctx.dep(order_train));
                WarmupArms order_arms;
                order_arms.large = a.name;
                order_arms.warmup = b.name;
                all.push_back(as_control(check_warmup_sharpness({a, b}, check_options(*c), order_arms),
                                         "two large-batch runs without warmup that differ only in data order"));
              }
              write_claims_file(ctx.dir, all);
            }});
  for (const auto& i : cids) plan.reads(controls, i.train, {"init", win});
  return controls;
}

}  // namespace closerlook
