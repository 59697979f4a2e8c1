// Study 3: learning-rate warmup. Small batch; large batch without warmup; large batch with a
// linear warmup; large batch with the FC layers frozen over the warmup window. Activations at
// iteration 0, at the end of the window and at the end; per-layer similarity between them and
// full layer x layer maps.
#include <cmath>
#include <algorithm>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_io.h"
#include "report/figure_spec.h"
#include "similarity/activations.h"
#include "similarity/similarity_map.h"
#include "studies/steps.h"
#include "studies/study_common.h"

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

std::vector<std::string> layer_names(const CapturedActivations& a) {
  std::vector<std::string> n;
  for (const auto& l : a.layers) n.push_back(l.first);
  return n;
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
  std::vector<WarmupDef> defs = {
      {"sb", "small-batch", base(w.small_batch, w.small_lr)},
      {"lb", "large-batch", base(w.large_batch, w.large_lr)},
      {"lb-warmup", "large-batch+warmup", base(w.large_batch, w.large_lr)},
      {"lb-fc-freeze", "large-batch+fc-freeze", base(w.large_batch, w.large_lr)},
  };
  defs[2].train_over["warmup_iters"] = w.warmup_iters;
  defs[3].train_over["freeze_prefixes"] = w.freeze_prefixes;
  defs[3].train_over["freeze_iters"] = w.warmup_iters;

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
    deps.insert(deps.end(), {i.train, i.acts});
    ids.push_back(i);
  }

  const std::string analysis = sc.id("warmup/analysis");
  const StudyContext scc = sc;
  const int deep = w.deep_layers;
  const int64_t window = w.warmup_iters;
  plan.add({analysis, "warmup", "warmup study: similarity maps, figures and claim checks", deps,
            {{"similarity", cfg.tree["similarity"]}, {"deep_layers", deep}},
            [c, scc, ids, deep, window](StepContext& ctx) {
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
                WarmupRun wr;
                wr.name = i.name;
                const auto res = read_step_result(ctx.dep(i.train));
                wr.final_test_acc = res.value("test_acc", 0.0);
                const std::string adir = ctx.dep(i.acts);
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
                wr.layers = m.row_names;
                layers = m.row_names;
                const int64_t window_col = 1;  // columns: init, window, final
                for (int64_t r = 0; r < m.values.size(0); ++r) wr.similarity.push_back(m.at(r, window_col));
                // Columns of the layer x checkpoint figure: this run at each later checkpoint.
                for (int64_t col = 1; col < m.values.size(1); ++col) {
                  ckpt_cols.push_back(i.name + " @ " + (m.col_names[col] == "window" ? "it " + std::to_string(window)
                                                                                        : m.col_names[col]));
                  std::vector<double> column;
                  for (int64_t r = 0; r < m.values.size(0); ++r) column.push_back(m.at(r, col));
                  ckpt_values.push_back(column);
                }
                per_layer.push_back({i.name, {}, wr.similarity});
                for (size_t k = 0; k < wr.similarity.size(); ++k) per_layer.back().x.push_back(double(k));
                // Layer x layer at iteration 0 vs the end of the window, every measure.
                auto init = load_activations(adir + "/init").layers;
                auto win = load_activations(adir + "/window").layers;
                std::vector<Measure> ms;
                for (const auto& name : c->similarity.measures) ms.push_back(parse_measure(name));
                for (const auto& lm : layer_by_layer(init, win, ms)) {
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
                  // A measure may refuse degenerate activations (too few examples for the
                  // directions kept): the run's claim inputs stay empty -> inconclusive.
                  std::fprintf(stderr, "  %s: similarity not computed: %s\n", i.name.c_str(), e.what());
                  wr.similarity.clear();
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
              write_claims_file(ctx.dir, {check_warmup_deep_layers(runs, deep), check_fc_freeze(runs)});
            }});
  return analysis;
}

}  // namespace closerlook
