// A synthetic study run folder with one figure of every kind the studies emit, plus claims and
// the run metadata, written through the public builder API (as the pipeline will).
#pragma once
#include <torch/version.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/json_io.h"
#include "report/claims.h"
#include "report/figure_spec.h"

namespace closerlook::testing {

struct SyntheticRun {
  std::vector<std::string> figure_ids;
  int plots = 0;  // figures drawn by plotly (not tables)
  std::string config_hash = "3f9a1c77d2e04b18";
  std::string git_commit = "c29940a1b2c3";
};

inline SyntheticRun write_synthetic_run(const std::string& dir) {
  SyntheticRun run;
  auto emit = [&](const nlohmann::json& fig) {
    write_figure(dir, fig);
    run.figure_ids.push_back(fig["id"]);
    if (fig["kind"] != "table") run.plots++;
  };
  const double pi = std::acos(-1.0);
  const std::vector<std::string> layers = {"conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2",
                                           "conv3_3", "conv4_1", "conv4_2", "conv4_3", "fc1",     "fc2",     "logits"};

  // 1. Training curves: SGDR vs step decay, loss (log) with the learning rate on a second axis.
  {
    std::vector<LineSeries> series;
    const int epochs = 150;
    std::vector<double> ep, loss_sgdr, loss_step, lr_sgdr, lr_step;
    for (int e = 0; e <= epochs; ++e) {
      ep.push_back(e);
      // SGDR: T0 = 10, Tmult = 2 (restarts at 10, 30, 70).
      int start = 0, len = 10;
      while (e >= start + len) start += len, len *= 2;
      double lr = 1e-6 + 0.5 * (0.05 - 1e-6) * (1 + std::cos(pi * (e - start) / len));
      lr_sgdr.push_back(lr);
      lr_step.push_back(e < 75 ? 0.05 : e < 112 ? 0.005 : 0.0005);
      loss_sgdr.push_back(2.3 * std::exp(-e / 25.0) + 0.02 + 0.4 * lr);
      loss_step.push_back(2.3 * std::exp(-e / 30.0) + 0.03 + (e < 75 ? 0.2 : 0.02));
    }
    series.push_back({"SGDR train loss", ep, loss_sgdr, false, "solid", "lines", "#1f77b4", "SGDR"});
    series.push_back({"step decay train loss", ep, loss_step, false, "solid", "lines", "#d62728", "step"});
    series.push_back({"SGDR learning rate", ep, lr_sgdr, true, "dot", "lines", "#1f77b4", "SGDR"});
    series.push_back({"step decay learning rate", ep, lr_step, true, "dot", "lines", "#d62728", "step"});
    Overlays o;
    o.vlines = {{30, "w30"}, {70, "w70"}, {150, "w150"}};
    emit(line_figure({"sgdr-training", "Training: SGDR vs step decay", "sgdr",
                      "Train loss (solid, left) and learning rate (dotted, right) per epoch.", 1},
                     {"epoch"}, {"train loss", "", true}, series, o, {"learning rate", "", true}));
  }
  // 2. Line profile: straight line vs curve between w70 and w150, train loss and test error.
  {
    std::vector<double> t, line_loss, curve_loss, line_err, curve_err;
    for (int i = 0; i <= 30; ++i) {
      double s = i / 30.0;
      t.push_back(s);
      line_loss.push_back(0.02 + 1.6 * std::sin(pi * s) * std::sin(pi * s));
      curve_loss.push_back(0.02 + 0.03 * std::sin(pi * s));
      line_err.push_back(7 + 45 * std::sin(pi * s) * std::sin(pi * s));
      curve_err.push_back(7 + 1.2 * std::sin(pi * s));
    }
    std::vector<LineSeries> series = {
        {"straight line: train loss", t, line_loss, false, "solid", "lines", "#d62728", "line"},
        {"curve: train loss", t, curve_loss, false, "solid", "lines", "#1f77b4", "curve"},
        {"straight line: test error", t, line_err, true, "dash", "lines", "#d62728", "line"},
        {"curve: test error", t, curve_err, true, "dash", "lines", "#1f77b4", "curve"}};
    emit(line_figure({"sgdr-profile-w70-w150", "w70 \u2192 w150: straight line vs mode-connecting curve", "sgdr",
                      "Barrier on the straight line, none along the curve.", 2},
                     {"t", "curve parameter"}, {"train loss", "", true}, series, {}, {"test error", "%"}));
  }
  // 3. Plane maps: log train loss and test error on the plane of w70, w150 and the bend, with
  //    endpoints, bend, curve and projected iterates (half width: side by side, as in the paper).
  for (int which = 0; which < 2; ++which) {
    std::vector<double> xs, ys;
    for (int i = 0; i < 31; ++i) xs.push_back(-0.4 + 1.8 * i / 30.0);
    for (int j = 0; j < 25; ++j) ys.push_back(-0.5 + 2.4 * j / 24.0);
    Matrix m(ys.size(), std::vector<double>(xs.size()));
    for (size_t j = 0; j < ys.size(); ++j)
      for (size_t i = 0; i < xs.size(); ++i) {
        double x = xs[i], y = ys[j];
        double valley = y - 0.8 * 4 * x * (1 - x);  // low-loss path through the bend at (0.5, 0.8)
        double loss = 0.01 + 3.0 * valley * valley + 0.3 * (x < 0 ? x * x : x > 1 ? (x - 1) * (x - 1) : 0);
        m[j][i] = which == 0 ? loss : 7 + 83 * (1 - std::exp(-loss));
      }
    Overlays o;
    std::vector<double> cx, cy, px, py;
    std::vector<std::string> plabels;
    for (int k = 0; k <= 40; ++k) {
      double s = k / 40.0;
      cx.push_back(s);
      cy.push_back(2 * s * (1 - s) * 0.8 * 2);
    }
    for (int e = 70; e <= 150; e += 10) {
      double s = (e - 70) / 80.0;
      px.push_back(s);
      py.push_back(-0.25 * std::sin(pi * s));
      plabels.push_back("epoch " + std::to_string(e));
    }
    o.curves.push_back({"curve (Bezier)", cx, cy, "solid", ""});
    o.points.push_back({"SGDR iterates (projected)", px, py, plabels, false, true, "circle", ""});
    o.points.push_back({"endpoints", {0, 1}, {0, 0}, {"w70", "w150"}, true, false, "star", ""});
    o.points.push_back({"bend", {0.5}, {1.6}, {"\u03b8"}, true, false, "diamond", ""});
    if (which == 0)
      emit(contour_figure({"sgdr-plane-train-loss", "Train loss on the plane {w70, w150, bend}", "sgdr",
                           "Log-scale train loss; the trajectory crosses the barrier the curve goes around.", 3, true,
                           520, true},
                          {"u", "plane coordinate", false, {}, xs}, {"v", "plane coordinate", false, {}, ys},
                          {"train loss", "", true}, m, o));
    else
      emit(contour_figure({"sgdr-plane-test-error", "Test error on the same plane", "sgdr",
                           "Test error; same plane, curve and iterates.", 4, true, 520, true},
                          {"u", "plane coordinate", false, {}, xs}, {"v", "plane coordinate", false, {}, ys},
                          {"test error", "%"}, m, o));
  }
  // 4. Accuracy along six curves G->A..F.
  {
    std::vector<LineSeries> series;
    std::vector<double> t;
    for (int i = 0; i <= 20; ++i) t.push_back(i / 20.0);
    for (int k = 0; k < 6; ++k) {
      std::vector<double> acc;
      for (double s : t) acc.push_back(91 - k * 0.8 * s - (1.5 + 0.3 * k) * std::sin(pi * s));
      series.push_back({"curve G" + std::string(1, static_cast<char>('A' + k)), t, acc});
    }
    emit(line_figure({"resilience-accuracy", "Test accuracy along the six curves G\u2192A\u2026F", "resilience",
                      "t = 0 is mode G, t = 1 mode X."},
                     {"t", "curve parameter"}, {"test accuracy", "%"}, series));
  }
  // 5. Per-layer lines: CCA(layer @ it 0, layer @ it 200) for three setups.
  {
    std::vector<LineSeries> series;
    std::vector<double> idx;
    for (size_t i = 0; i < layers.size(); ++i) idx.push_back(i);
    const char* names[] = {"small batch", "large batch", "large batch + warmup"};
    for (int k = 0; k < 3; ++k) {
      std::vector<double> v;
      for (size_t i = 0; i < layers.size(); ++i)
        v.push_back(0.95 - (k == 1 ? 0.05 * i : 0.012 * i) + 0.01 * k);
      series.push_back({names[k], idx, v, false, "solid", "lines+markers"});
    }
    emit(line_figure({"warmup-cca-per-layer", "CCA similarity of each layer: iteration 0 vs 200", "warmup",
                      "Mean CCA similarity (SVCCA, 99% variance kept).", 1, true},
                     {"layer", "", false, layers}, {"SVCCA similarity"}, series));
  }
  // 6. Heatmap layer x layer.
  Matrix sim(layers.size(), std::vector<double>(layers.size()));
  for (size_t i = 0; i < layers.size(); ++i)
    for (size_t j = 0; j < layers.size(); ++j)
      sim[i][j] = std::exp(-0.25 * std::abs(double(i) - double(j))) * (0.6 + 0.4 * std::exp(-0.1 * double(i)));
  emit(heatmap_figure({"warmup-cca-large-batch", "Large batch, no warmup: layer \u00d7 layer CCA", "warmup",
                       "Cell (i, j): CCA between layer i at iteration 0 and layer j at iteration 200.", 2, true},
                      {"layer at iteration 200", "", false, layers}, {"layer at iteration 0", "", false, layers, {}, true},
                      {"SVCCA similarity", "", false, false, 0.0, 1.0}, sim));
  // 7. Difference heatmap (diverging, centred at 0), with values printed.
  {
    std::vector<std::string> student(layers.begin(), layers.begin() + 8);
    student.back() = "logits";
    Matrix d(student.size(), std::vector<double>(layers.size()));
    for (size_t i = 0; i < student.size(); ++i)
      for (size_t j = 0; j < layers.size(); ++j) d[i][j] = 0.2 * (double(i) / student.size()) * (double(j) / layers.size()) - 0.03;
    emit(heatmap_figure({"distillation-difference", "CCA(distilled student, teacher) \u2212 CCA(independent student, teacher)",
                         "distillation", "Positive (red): the distilled student is closer to the teacher.", 3},
                        {"teacher layer", "", false, layers}, {"student layer", "", false, student, {}, true},
                        {"\u0394 PWCCA similarity", "", false, true, std::nullopt, std::nullopt, true}, d));
  }
  // 8. A table.
  emit(table_figure({"distillation-accuracy", "Test accuracy of teacher and students", "distillation",
                     "Final models, mean over seeds.", 4},
                    {"model", "test accuracy (%)", "test loss", "seeds"},
                    {{"teacher (VGG-16)", 92.81, 0.2712, 3}, {"student, independent", 90.02, 0.3561, 3},
                     {"student, distilled (T=4, \u03b1=0.9)", 90.94, nullptr, 3}}));

  write_claims(dir, {{"sgdr", "SGDR iterates are connected by low-loss curves although the straight line has a barrier",
                      "held", {{"barrier_line", 1.62}, {"barrier_curve", 0.031}}, "barrier = max loss along path minus mean of endpoints"},
                     {"warmup", "Warmup mainly stabilises the deeper layers", "inconclusive",
                      {{"cca_fc_lb", 0.41}, {"cca_fc_lb_warmup", 0.38}, {"seeds", 1}}, "one seed only"},
                     {"distillation", "Distillation changes the deeper layers most", "not held",
                      {{"delta_deep", 0.01}, {"delta_shallow", 0.02}}, "smoke preset: tiny models"}});
  nlohmann::json config = {{"config_hash", run.config_hash},
                           {"runtime", {{"git_commit", run.git_commit}, {"hostname", "testhost"}, {"libtorch_version", TORCH_VERSION}}}};
  write_json(dir + "/config.json", config);
  return run;
}

}  // namespace closerlook::testing
