// "Analyse your own PyTorch model", end to end through the closerlook binary: two copies of a
// small BN CNN scripted and trained in Python (different seeds) on an NPY dataset written by
// Python are imported, interpolated (BN recalibrated; checked against an independent PyTorch
// oracle), connected by a trained curve, evaluated along it, compared with a CKA map on chosen
// probes, and fine-tuned with `closerlook train`; Python then reproduces the fine-tuned
// checkpoint's logits. A traced model goes through import, activations and CKA. Also the
// command-line errors: other architecture, unknown probes, bad NPY.
// Needs the `closerlook` target built in the same build folder.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/json_io.h"
#include "core/npy.h"
#include "jit_test_util.h"

namespace closerlook {
namespace {
using namespace closerlook::testing;
namespace fs = std::filesystem;

std::string binary() { return std::string(CL_BINARY_DIR) + "/closerlook"; }

std::string data_sets(const std::string& data_dir) {
  return " --set data.dataset=npy --set data.dir=" + data_dir + " --set data.augment=false";
}

#define RUN_OK(cmd)                                                      \
  do {                                                                   \
    auto r_ = run_command(cmd);                                          \
    ASSERT_EQ(r_.code, 0) << (cmd) << "\n" << r_.output;                 \
  } while (0)

#define BINARY_OR_FAIL()                                                                            \
  ASSERT_TRUE(file_exists(binary())) << binary() << " is missing: build the closerlook target (ninja " \
                                                     "closerlook) before test_models"

// |a - b| <= rel * |b| + abs
void expect_close(double a, double b, double rel, double abs, const std::string& what) {
  EXPECT_LE(std::fabs(a - b), rel * std::fabs(b) + abs) << what << ": " << a << " vs " << b;
}

TEST(JitEndToEnd, PythonModelsThroughInterpolationCurveCkaAndFineTuning) {
  JIT_FIXTURE_OR_SKIP(dir);
  BINARY_OR_FAIL();
  const std::string work = temp_path("jit_e2e");
  fs::remove_all(work);
  fs::create_directories(work);
  const std::string bin = binary() + " ";
  const auto oracle = read_json(dir + "/oracle.json");
  const std::string probes = "features.2,features.6,classifier.1,logits";

  for (const char* m : {"a", "b"}) {
    RUN_OK(bin + "import-model " + dir + "/" + m + ".pt --out " + work + "/run_" + m + data_sets(dir + "/data") +
           " --probes " + probes + " --quiet");
    auto summary = read_json(work + "/run_" + m + "/summary.json");
    expect_close(summary["test_acc"].get<double>(), oracle["test_acc"][m].get<double>(), 0, 1.5 / 128,
                 std::string("imported test accuracy of ") + m);
    EXPECT_TRUE(file_exists(work + "/run_" + m + "/checkpoints/final.pt"));
  }
  // Importing again is a no-op.
  RUN_OK(bin + "import-model " + dir + "/a.pt --out " + work + "/run_a" + data_sets(dir + "/data") + " --probes " +
         probes + " --quiet");
  const std::string ca = work + "/run_a/checkpoints/final.pt", cb = work + "/run_b/checkpoints/final.pt";

  // Straight line, BN recalibrated on the whole training set at every point, against PyTorch.
  RUN_OK(bin + "interpolate " + ca + " " + cb + " --out " + work + "/line --points 3 --train-samples -1 --quiet");
  auto line = read_json(work + "/line/line.json");
  const auto& ol = oracle["line"];
  ASSERT_EQ(line["t"].size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    expect_close(line["te_nll"][i].get<double>(), ol["te_nll"][i].get<double>(), 1e-3, 1e-5,
                 "te_nll at t=" + line["t"][i].dump());
    expect_close(line["te_err"][i].get<double>(), ol["te_err"][i].get<double>(), 0, 1.5 / 128,
                 "te_err at t=" + line["t"][i].dump());
  }

  // A Bezier curve trained through the generic chain rule, then evaluated along t.
  RUN_OK(bin + "connect " + ca + " " + cb + " --out " + work + "/curve --bends 3 --epochs 2 --batch 64 --quiet");
  RUN_OK(bin + "curve-eval " + work + "/curve --points 5 --train-samples -1 --quiet");
  auto curve = read_json(work + "/curve/eval/curve.json");
  ASSERT_EQ(curve["te_nll"].size(), 5u);
  for (const auto& v : curve["te_nll"]) EXPECT_TRUE(v.is_number() && std::isfinite(v.get<double>())) << curve.dump();
  // The endpoints are fixed: the curve starts and ends at the two Python models.
  expect_close(curve["te_nll"][0].get<double>(), ol["te_nll"][0].get<double>(), 1e-3, 1e-5, "curve start");
  expect_close(curve["te_nll"][4].get<double>(), ol["te_nll"][2].get<double>(), 1e-3, 1e-5, "curve end");
  // Training moved the middle bend off the straight line's midpoint.
  EXPECT_NE(curve["te_nll"][2].get<double>(), ol["te_nll"][1].get<double>());

  // Linear CKA between the two models' chosen probes (and of a with itself: diagonal = 1).
  RUN_OK(bin + "similarity-map --a " + ca + " --b " + cb + " --measure cka-linear --n 64 --out " + work +
         "/cka_ab --quiet");
  RUN_OK(bin + "similarity-map --a " + ca + " --b " + ca + " --measure cka-linear --n 64 --out " + work +
         "/cka_aa --quiet");
  for (const char* m : {"cka_ab", "cka_aa"}) {
    torch::Tensor map;
    for (const auto& e : fs::directory_iterator(work + "/" + m))
      if (e.path().extension() == ".npy") map = read_npy(e.path().string());
    ASSERT_TRUE(map.defined()) << m;
    ASSERT_EQ(map.sizes(), (std::vector<int64_t>{4, 4})) << m;
    EXPECT_TRUE((map >= -1e-6).all().item<bool>() && (map <= 1 + 1e-6).all().item<bool>()) << map;
    if (std::string(m) == "cka_aa")
      EXPECT_TRUE(torch::allclose(map.diagonal().to(torch::kFloat64), torch::ones({4}, torch::kFloat64), 1e-5, 1e-5))
          << map;
  }

  // Fine-tuning the Python model with `closerlook train` ([model] family = "torchscript").
  {
    std::ofstream cfg(work + "/finetune.toml");
    cfg << "seed = 3\n[data]\ndataset = \"npy\"\ndir = \"" << dir << "/data\"\naugment = false\n"
        << "[model]\nfamily = \"torchscript\"\npath = \"" << dir << "/a.pt\"\n"
        << "[train]\nepochs = 1\nbatch_size = 64\nlr = 0.02\n";
  }
  RUN_OK(bin + "train --config " + work + "/finetune.toml --out " + work + "/ft --quiet");
  const std::string ft = work + "/ft/checkpoints/final.pt";
  JitNetwork tuned(fixture_model(work + "/ft/checkpoints", "final.pt"));
  JitNetwork original(fixture_model(dir, "a.pt"));
  EXPECT_FALSE(torch::equal(tuned.named_parameters()[0].second, original.named_parameters()[0].second));
  // Python opens the checkpoint with torch.jit.load and computes the same logits.
  tuned.train(false);
  torch::Tensor logits;
  {
    torch::NoGradGuard ng;
    logits = tuned.forward(read_npy(dir + "/probe_input.npy"));
  }
  auto py = run_command(python_command() + " " + python_fixture_script() + " logits " + ft + " " + dir +
                        "/probe_input.npy " + work + "/py_logits.npy");
  ASSERT_EQ(py.code, 0) << py.output;
  EXPECT_NE(py.output.find(tuned.arch()), std::string::npos) << py.output;  // the stored arch
  auto py_logits = read_npy(work + "/py_logits.npy");
  EXPECT_TRUE(torch::allclose(logits, py_logits, 1e-5, 1e-5)) << (logits - py_logits).abs().max();
}

// A model saved with torch.jit.trace through the tools that need no BN recalibration:
// import-model (the test accuracy Python measured for the eager model it was traced from),
// activations and similarity-map (the same values as the scripted a.pt, which holds the same
// weights). Interpolating from it fails clearly: a traced BN layer cannot recalibrate.
TEST(JitEndToEnd, TracedModelThroughImportActivationsAndCka) {
  JIT_FIXTURE_OR_SKIP(dir);
  BINARY_OR_FAIL();
  const std::string work = temp_path("jit_e2e_traced");
  fs::remove_all(work);
  fs::create_directories(work);
  const std::string bin = binary() + " ";
  const auto oracle = read_json(dir + "/oracle.json");
  const std::string probes = "features.2,features.6,classifier.1,logits";
  for (const char* m : {"a", "traced"})
    RUN_OK(bin + "import-model " + dir + "/" + m + ".pt --out " + work + "/run_" + m + data_sets(dir + "/data") +
           " --probes " + probes + " --quiet");
  auto summary = read_json(work + "/run_traced/summary.json");
  expect_close(summary["test_acc"].get<double>(), oracle["test_acc"]["a"].get<double>(), 0, 1.5 / 128,
               "imported test accuracy of traced.pt");
  const std::string ct = work + "/run_traced/checkpoints/final.pt", ca = work + "/run_a/checkpoints/final.pt";

  // The same activations as the scripted model, probe by probe.
  RUN_OK(bin + "activations " + ct + " --n 16 --out " + work + "/acts_traced --quiet");
  RUN_OK(bin + "activations " + ca + " --n 16 --out " + work + "/acts_a --quiet");
  size_t compared = 0;
  for (const auto& e : fs::directory_iterator(work + "/acts_a")) {
    if (e.path().extension() != ".npy") continue;
    const auto other = fs::path(work + "/acts_traced") / e.path().filename();
    ASSERT_TRUE(fs::exists(other)) << other;
    auto ta = read_npy(e.path().string()), tt = read_npy(other.string());
    ASSERT_EQ(ta.sizes(), tt.sizes()) << e.path().filename();
    EXPECT_TRUE(torch::allclose(ta, tt, 1e-5, 1e-5)) << e.path().filename() << " max diff " << (ta - tt).abs().max();
    ++compared;
  }
  EXPECT_EQ(compared, 4u);

  // Linear CKA between traced and scripted: one function, so the diagonal is 1.
  RUN_OK(bin + "similarity-map --a " + ct + " --b " + ca + " --measure cka-linear --n 64 --out " + work +
         "/cka_ta --quiet");
  torch::Tensor map;
  for (const auto& e : fs::directory_iterator(work + "/cka_ta"))
    if (e.path().extension() == ".npy") map = read_npy(e.path().string());
  ASSERT_TRUE(map.defined());
  ASSERT_EQ(map.sizes(), (std::vector<int64_t>{4, 4}));
  EXPECT_TRUE(torch::allclose(map.diagonal().to(torch::kFloat64), torch::ones({4}, torch::kFloat64), 1e-5, 1e-5)) << map;

  // Recalibrating the traced model's BN (on the line from it) is a clear error.
  auto r = run_command(bin + "interpolate " + ct + " " + ca + " --out " + work + "/line --points 3 --quiet");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("BatchNorm layer 'features.1' did not update its running statistics"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("torch.jit.script"), std::string::npos) << r.output;
}

TEST(JitEndToEnd, ClearErrorsForArchitecturesProbesAndNpyFiles) {
  JIT_FIXTURE_OR_SKIP(dir);
  BINARY_OR_FAIL();
  const std::string work = temp_path("jit_e2e_errors");
  fs::remove_all(work);
  fs::create_directories(work);
  const std::string bin = binary() + " ";
  const std::string sets = data_sets(dir + "/data");
  RUN_OK(bin + "import-model " + dir + "/a.pt --out " + work + "/run_a" + sets + " --quiet");
  RUN_OK(bin + "import-model " + dir + "/c.pt --out " + work + "/run_c" + sets + " --quiet");

  // Two architectures cannot be interpolated.
  auto r = run_command(bin + "interpolate " + work + "/run_a/checkpoints/final.pt " + work +
                       "/run_c/checkpoints/final.pt --out " + work + "/line --points 3 --quiet");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("SmallCNN"), std::string::npos) << r.output;

  // Unknown probes, at import time and at capture time, list the available ones.
  r = run_command(bin + "import-model " + dir + "/a.pt --out " + work + "/run_bad" + sets + " --probes features.2,conv9 --quiet");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("probe 'conv9' is not available"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("classifier.1"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(work + "/run_bad/config.json"));
  r = run_command(bin + "activations " + work + "/run_a/checkpoints/final.pt --probes features.2,conv9 --n 8 --out " +
                  work + "/acts --quiet");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("conv9"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("features.6"), std::string::npos) << r.output;

  // A model whose classes do not match the data.
  r = run_command(bin + "import-model " + dir + "/a.pt --out " + work + "/run_cls" + sets + " --set data.num_classes=7 --quiet");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("7 classes"), std::string::npos) << r.output;

  // NPY files of the wrong dtype or shape.
  auto bad_data = [&](const std::string& name, const std::function<void(const std::string&)>& spoil) {
    const std::string d = work + "/" + name;
    fs::create_directories(d);
    for (const char* f : {"train_images.npy", "train_labels.npy", "test_images.npy", "test_labels.npy"})
      fs::copy_file(dir + "/data/" + f, d + "/" + f, fs::copy_options::overwrite_existing);
    spoil(d);
    return run_command(bin + "import-model " + dir + "/a.pt --out " + work + "/run_" + name + data_sets(d) + " --quiet");
  };
  r = bad_data("f64", [](const std::string& d) {
    write_npy(d + "/train_images.npy", read_npy(d + "/train_images.npy").to(torch::kFloat64));
  });
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("train_images.npy"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Double"), std::string::npos) << r.output;
  r = bad_data("flat", [](const std::string& d) {
    write_npy(d + "/test_images.npy", read_npy(d + "/test_images.npy").flatten(1));
  });
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("test_images.npy"), std::string::npos) << r.output;
  r = bad_data("labels", [](const std::string& d) {
    write_npy(d + "/train_labels.npy", read_npy(d + "/train_labels.npy").to(torch::kFloat32));
  });
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("train_labels.npy"), std::string::npos) << r.output;
  r = bad_data("size", [](const std::string& d) {
    write_npy(d + "/test_images.npy",
              torch::zeros({4, 1, 10, 10}, torch::kUInt8));  // another image size than train
    write_npy(d + "/test_labels.npy", torch::zeros({4}, torch::kInt64));
  });
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("test_images.npy"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace closerlook
