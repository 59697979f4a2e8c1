// JitNetwork over TorchScript modules scripted and traced by the Python peer's torch (CL_PYTHON,
// jit_fixture.py): state_dict names, arch(), probe discovery and values against eager PyTorch,
// the scripted probes(x) method, a traced module, exact BN momentum emulation, gradients,
// save/load, spec reading, errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/config.h"
#include "core/json_io.h"
#include "core/npy.h"
#include "jit_test_util.h"
#include "models/factory.h"

namespace closerlook {
namespace {
using namespace closerlook::testing;

TEST(JitNetwork, NamesArchAndBatchNormHandlesFollowPython) {
  JIT_FIXTURE_OR_SKIP(dir);
  JitNetwork a(fixture_model(dir, "a.pt")), b(fixture_model(dir, "b.pt")), c(fixture_model(dir, "c.pt"));
  std::vector<std::string> names;
  for (auto& [n, t] : a.named_parameters()) {
    names.push_back(n);
    EXPECT_TRUE(t.requires_grad()) << n;
  }
  const std::vector<std::string> expected = {"features.0.weight", "features.0.bias",   "features.1.weight",
                                             "features.1.bias",   "features.4.weight", "features.4.bias",
                                             "features.5.weight", "features.5.bias",   "classifier.0.weight",
                                             "classifier.0.bias", "classifier.2.weight", "classifier.2.bias"};
  EXPECT_EQ(names, expected);
  std::vector<std::string> buffers;
  for (auto& [n, t] : a.named_buffers()) buffers.push_back(n);
  EXPECT_EQ(buffers, (std::vector<std::string>{"features.1.running_mean", "features.1.running_var",
                                               "features.1.num_batches_tracked", "features.5.running_mean",
                                               "features.5.running_var", "features.5.num_batches_tracked"}));
  // Two seeds of one class share arch(); another width does not; the file name is not part of it.
  EXPECT_EQ(a.arch(), b.arch());
  EXPECT_NE(a.arch(), c.arch());
  EXPECT_NE(a.arch().find("torchscript SmallCNN params=12"), std::string::npos) << a.arch();
  EXPECT_NE(a.arch().find("in=1x12x12 classes=4"), std::string::npos) << a.arch();
  // The files come from the Python peer, whose torch wheel is the LibTorch linked here.
  const std::string py_torch = read_json(dir + "/oracle.json").value("torch", "");
  EXPECT_EQ(py_torch.substr(0, py_torch.find('+')), TORCH_VERSION) << "CL_PYTHON " << CL_PYTHON;

  auto bns = a.batchnorms();
  ASSERT_EQ(bns.size(), 2u);
  EXPECT_EQ(bns[0].name, "features.1");
  EXPECT_EQ(bns[1].name, "features.5");
  EXPECT_DOUBLE_EQ(bns[0].get_momentum(), 0.1);  // scripted BN: the constant baked into the code
  // The handles alias the module's buffers.
  auto buf = a.named_buffers();
  EXPECT_TRUE(bns[0].running_mean.is_same(buf[0].second));
  EXPECT_TRUE(a.is_training());
  a.train(false);
  EXPECT_FALSE(a.is_training());
}

TEST(JitNetwork, ProbesMatchEagerPyTorchActivations) {
  JIT_FIXTURE_OR_SKIP(dir);
  JitNetwork a(fixture_model(dir, "a.pt"));
  const std::vector<std::string> expected = {"features",   "features.0",   "features.1",   "features.2",
                                             "features.3", "features.4",   "features.5",   "features.6",
                                             "features.7", "classifier",   "classifier.0", "classifier.1",
                                             "classifier.2", "logits"};
  EXPECT_EQ(a.available_probes(), expected);
  EXPECT_EQ(a.probe_names(), expected);
  a.train(false);
  torch::NoGradGuard ng;
  const auto x = read_npy(dir + "/probe_input.npy");
  std::map<std::string, torch::Tensor> acts;
  // features.1 is a BN output that the next (in-place) ReLU overwrites: the probe must keep it.
  auto logits = a.forward_probes(x, {"features.1", "features.2", "classifier.0", "features", "logits"}, acts);
  EXPECT_EQ(acts.size(), 5u);
  for (const auto& [name, t] : acts) {
    auto ref = read_npy(dir + "/probe_acts_a/" + name + ".npy");
    ASSERT_EQ(t.sizes(), ref.sizes()) << name;
    EXPECT_TRUE(torch::allclose(t, ref, 1e-5, 1e-5)) << name << " max diff " << (t - ref).abs().max().item<double>();
  }
  EXPECT_TRUE(torch::allclose(logits, a.forward(x), 1e-6, 1e-6));
  EXPECT_TRUE(torch::allclose(logits, read_npy(dir + "/probe_acts_a/logits.npy"), 1e-5, 1e-5));
  // Another selection reuses nothing stale; nested probes together with their parent work.
  acts.clear();
  a.forward_probes(x, {"classifier.2", "classifier"}, acts);
  EXPECT_TRUE(torch::allclose(acts["classifier.2"], acts["classifier"]));

  // A chosen subset; probe names the module does not offer are errors that list the valid ones.
  JitNetwork chosen(fixture_model(dir, "a.pt", {"features.2", "classifier.1"}));
  EXPECT_EQ(chosen.probe_names(), (std::vector<std::string>{"features.2", "classifier.1"}));
  std::map<std::string, torch::Tensor> acts2;
  expect_error([&] { chosen.forward_probes(x, {"features.3"}, acts2); }, {"unknown probe 'features.3'", "features.2, classifier.1"});
  expect_error([&] { JitNetwork(fixture_model(dir, "a.pt", {"features.9", "conv1"})); },
               {"a.pt", "probe 'features.9' is not available", "features.0", "classifier.2", "logits"});
}

TEST(JitNetwork, SequentialRootAndScriptedProbesMethod) {
  JIT_FIXTURE_OR_SKIP(dir);
  JitNetwork seq(fixture_model(dir, "seq.pt"));
  EXPECT_EQ(seq.probe_names(), (std::vector<std::string>{"0", "1", "2", "3", "3.0", "3.1", "4", "5", "logits"}));
  seq.train(false);
  torch::NoGradGuard ng;
  const auto x = read_npy(dir + "/probe_input.npy");
  std::map<std::string, torch::Tensor> acts;
  auto out = seq.forward_probes(x, {"3.0", "3", "4"}, acts);
  EXPECT_EQ(acts["3.0"].sizes(), (std::vector<int64_t>{8, 2, 5, 5}));
  EXPECT_TRUE(torch::allclose(acts["3"], torch::relu(acts["3.0"])));
  EXPECT_TRUE(torch::allclose(acts["4"], acts["3"].flatten(1)));
  EXPECT_TRUE(torch::allclose(out, seq.forward(x)));

  // probes(x) -> Dict[str, Tensor]: its keys (its "logits" entry is the output).
  JitNetwork probed(fixture_model(dir, "probed.pt"));
  EXPECT_EQ(probed.probe_names(), (std::vector<std::string>{"features", "hidden", "logits"}));
  probed.train(false);
  acts.clear();
  auto logits = probed.forward_probes(x, {"hidden", "features", "logits"}, acts);
  EXPECT_TRUE(torch::allclose(acts["features"], read_npy(dir + "/probe_acts_a/features.npy"), 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(acts["hidden"], read_npy(dir + "/probe_acts_a/classifier.1.npy"), 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(logits, read_npy(dir + "/probe_acts_a/logits.npy"), 1e-5, 1e-5));
  EXPECT_TRUE(acts["logits"].is_same(logits));
}

// A module saved with torch.jit.trace (eval mode, batch of 4): the same parameters and buffers as
// the scripted a.pt it was traced from, probes discovered from the traced graph, and forward and
// probe values equal to eager PyTorch's at another batch size.
TEST(JitNetwork, TracedModuleForwardsAndProbesLikeEagerPyTorch) {
  JIT_FIXTURE_OR_SKIP(dir);
  JitNetwork traced(fixture_model(dir, "traced.pt")), scripted(fixture_model(dir, "a.pt"));
  auto tp = traced.named_parameters(), sp = scripted.named_parameters();
  ASSERT_EQ(tp.size(), sp.size());
  for (size_t i = 0; i < tp.size(); ++i) {
    EXPECT_EQ(tp[i].first, sp[i].first);
    EXPECT_TRUE(torch::equal(tp[i].second, sp[i].second)) << tp[i].first;
  }
  auto tb = traced.named_buffers(), sb = scripted.named_buffers();
  ASSERT_EQ(tb.size(), sb.size());
  for (size_t i = 0; i < tb.size(); ++i) {
    EXPECT_EQ(tb[i].first, sb[i].first);
    EXPECT_TRUE(torch::equal(tb[i].second, sb[i].second)) << tb[i].first;
  }
  EXPECT_NE(traced.arch().find("torchscript SmallCNN params=12"), std::string::npos) << traced.arch();
  EXPECT_EQ(traced.available_probes(), scripted.available_probes());

  traced.train(false);
  torch::NoGradGuard ng;
  const auto x = read_npy(dir + "/probe_input.npy");  // 8 images; traced on 4
  std::map<std::string, torch::Tensor> acts;
  auto logits = traced.forward_probes(x, {"features.1", "features.2", "features", "classifier.1", "logits"}, acts);
  EXPECT_EQ(acts.size(), 5u);
  for (const auto& [name, t] : acts) {
    auto ref = read_npy(dir + "/probe_acts_a/" + name + ".npy");
    ASSERT_EQ(t.sizes(), ref.sizes()) << name;
    EXPECT_TRUE(torch::allclose(t, ref, 1e-5, 1e-5)) << name << " max diff " << (t - ref).abs().max().item<double>();
  }
  EXPECT_TRUE(torch::allclose(logits, read_npy(dir + "/probe_acts_a/logits.npy"), 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(traced.forward(x.narrow(0, 0, 3)), logits.narrow(0, 0, 3), 1e-6, 1e-6));
  scripted.train(false);
  EXPECT_TRUE(torch::allclose(logits, scripted.forward(x), 1e-6, 1e-6));
}

// Train-mode batch statistics (mean, unbiased variance over N, H, W) of the activation that
// feeds a BN layer (probe `input_probe`); the BN buffers are left as they were.
std::pair<torch::Tensor, torch::Tensor> batch_stats(JitNetwork& net, const torch::Tensor& x, const std::string& input_probe) {
  torch::NoGradGuard ng;
  std::vector<torch::Tensor> saved;
  for (auto& [n, b] : net.named_buffers()) saved.push_back(b.clone());
  const bool was = net.is_training();
  net.train(true);
  std::map<std::string, torch::Tensor> acts;
  net.forward_probes(x, {input_probe}, acts);
  net.train(was);
  auto bufs = net.named_buffers();
  for (size_t i = 0; i < bufs.size(); ++i) bufs[i].second.copy_(saved[i]);
  auto h = acts[input_probe].to(torch::kFloat64);
  return {h.mean({0, 2, 3}), h.var({0, 2, 3}, /*unbiased=*/true)};
}

TEST(JitNetwork, BatchNormMomentumIsEmulatedExactly) {
  JIT_FIXTURE_OR_SKIP(dir);
  JitNetwork net(fixture_model(dir, "a.pt"));
  const auto x = read_npy(dir + "/probe_input.npy");
  auto bns = net.batchnorms();
  auto [mean0, var0] = batch_stats(net, x, "features.0");
  auto old_mean = bns[0].running_mean.to(torch::kFloat64).clone(), old_var = bns[0].running_var.to(torch::kFloat64).clone();
  torch::NoGradGuard ng;
  net.train(true);

  // momentum 1: the buffers hold exactly this batch's mean and unbiased variance.
  bns[0].set_momentum(1.0);
  EXPECT_DOUBLE_EQ(bns[0].get_momentum(), 1.0);
  net.forward(x);
  EXPECT_TRUE(torch::allclose(bns[0].running_mean.to(torch::kFloat64), mean0, 1e-5, 1e-6))
      << (bns[0].running_mean.to(torch::kFloat64) - mean0).abs().max();
  EXPECT_TRUE(torch::allclose(bns[0].running_var.to(torch::kFloat64), var0, 1e-5, 1e-6));

  // momentum 0.3: (1 - m) old + m batch. features.5 (not overridden) keeps the built-in 0.1.
  bns[0].running_mean.copy_(old_mean);
  bns[0].running_var.copy_(old_var);
  bns[0].set_momentum(0.3);
  auto [mean5, var5] = batch_stats(net, x, "features.4");
  auto before5 = bns[1].running_mean.to(torch::kFloat64).clone();
  net.forward(x);
  EXPECT_TRUE(torch::allclose(bns[0].running_mean.to(torch::kFloat64), old_mean * 0.7 + mean0 * 0.3, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(bns[0].running_var.to(torch::kFloat64), old_var * 0.7 + var0 * 0.3, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(bns[1].running_mean.to(torch::kFloat64), before5 * 0.9 + mean5 * 0.1, 1e-5, 1e-6));

  // Restoring the built-in momentum ends the emulation; eval mode never touches the buffers.
  bns[0].set_momentum(0.1);
  EXPECT_DOUBLE_EQ(bns[0].get_momentum(), 0.1);
  auto m1 = bns[0].running_mean.to(torch::kFloat64).clone();
  net.forward(x);
  EXPECT_TRUE(torch::allclose(bns[0].running_mean.to(torch::kFloat64), m1 * 0.9 + mean0 * 0.1, 1e-5, 1e-6));
  net.train(false);
  bns[0].set_momentum(1.0);
  auto m2 = bns[0].running_mean.clone();
  net.forward(x);
  EXPECT_TRUE(torch::equal(bns[0].running_mean, m2));

  // A module traced in eval mode never updates its statistics: recalibrating it is an error.
  JitNetwork traced(fixture_model(dir, "traced.pt"));
  EXPECT_EQ(traced.batchnorms().size(), 2u);
  traced.batchnorms()[0].set_momentum(1.0);
  traced.train(true);
  auto tm = traced.batchnorms()[0].running_mean.clone();
  expect_error([&] { traced.forward(x); }, {"traced.pt", "features.1", "torch.jit.script"});
  EXPECT_TRUE(torch::equal(traced.batchnorms()[0].running_mean, tm));  // left as it was
}

TEST(JitNetwork, GradientsSaveLoadAndArchitectureChecks) {
  JIT_FIXTURE_OR_SKIP(dir);
  const std::string tmp = temp_path("jit_saveload");
  std::filesystem::create_directories(tmp);
  JitNetwork net(fixture_model(dir, "a.pt"));
  const auto x = read_npy(dir + "/probe_input.npy");
  net.train(true);
  auto loss = torch::nn::functional::cross_entropy(net.forward(x), torch::arange(8) % 4);
  loss.backward();
  for (auto& [n, p] : net.named_parameters()) {
    ASSERT_TRUE(p.grad().defined()) << n;
    EXPECT_GT(p.grad().abs().sum().item<double>(), 0) << n;
  }
  {  // move weights and BN statistics away from the file's
    torch::NoGradGuard ng;
    for (auto& [n, p] : net.named_parameters()) p.add_(torch::randn_like(p) * 0.1);
    for (auto& [n, b] : net.named_buffers())
      if (b.is_floating_point()) b.uniform_(0.5, 1.5);
  }
  net.save(tmp + "/moved.pt");
  JitNetwork fresh(fixture_model(dir, "a.pt"));
  fresh.load(tmp + "/moved.pt");
  auto pa = net.named_parameters(), pb = fresh.named_parameters();
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i].second, pb[i].second)) << pa[i].first;
  auto ba = net.named_buffers(), bb = fresh.named_buffers();
  for (size_t i = 0; i < ba.size(); ++i) EXPECT_TRUE(torch::equal(ba[i].second, bb[i].second)) << ba[i].first;
  // The checkpoint is itself a model file: it rebuilds the same network, arch stored inside.
  JitNetwork reopened(fixture_model(tmp, "moved.pt"));
  EXPECT_EQ(reopened.arch(), net.arch());
  torch::jit::ExtraFilesMap extra{{kJitArchFile, ""}};
  torch::jit::load(tmp + "/moved.pt", torch::kCPU, extra);
  EXPECT_EQ(extra[kJitArchFile], net.arch());

  // Another architecture, a missing file, a file that is not TorchScript: clear errors.
  auto before = net.named_parameters()[0].second.clone();
  expect_error([&] { net.load(dir + "/c.pt"); }, {"c.pt", "'features.0.weight'", "[6, 1, 3, 3]", "[4, 1, 3, 3]"});
  expect_error([&] { net.load(dir + "/seq.pt"); }, {"seq.pt", "another architecture"});
  EXPECT_TRUE(torch::equal(net.named_parameters()[0].second, before));  // untouched
  try {
    JitNetwork(fixture_model(dir, "nope.pt"));
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::Io);
  }
  expect_error([&] { JitNetwork(fixture_model(dir, "probe_input.npy")); }, {"probe_input.npy", "not a TorchScript file"});
  // The data must fit the model: classes and input shape are checked when it is loaded.
  auto o = fixture_model(dir, "a.pt");
  o.num_classes = 10;
  expect_error([&] { JitNetwork{o}; }, {"a.pt", "[2, 4]", "expected [2, 10]", "10 classes"});
  o = fixture_model(dir, "a.pt");
  o.in_channels = 3;
  expect_error([&] { JitNetwork{o}; }, {"a.pt", "forward failed on a zero batch of shape [2, 3, 12, 12]"});
  expect_error([&] { net.forward(torch::zeros({2, 1, 10, 10})); }, {"[2, 1, 10, 10]", "expected [N, 1, 12, 12]"});
}

TEST(JitNetwork, ModelSpecFamilyTorchscript) {
  JIT_FIXTURE_OR_SKIP(dir);
  const std::string cfg = dir + "/model.toml";  // relative paths are relative to the config file
  auto tree = parse_toml_string("[model]\nfamily = \"torchscript\"\npath = \"a.pt\"\nprobes = [\"features.2\", \"logits\"]\n", cfg);
  std::ofstream(cfg) << "# placeholder so that the path resolves against this folder\n";
  ConfigReader root(tree, cfg);
  ConfigReader r = root.section("model");
  ModelSpec s = read_model_spec(r);
  r.finish();
  EXPECT_EQ(s.family, "torchscript");
  EXPECT_EQ(s.path, std::filesystem::path(dir + "/a.pt").lexically_normal().string());
  EXPECT_EQ(s.probes, (std::vector<std::string>{"features.2", "logits"}));
  s.in_channels = 1;
  s.image_size = 12;
  s.num_classes = 4;
  ModelSpec back = model_spec_from_json(model_spec_to_json(s));
  EXPECT_EQ(back.path, s.path);
  EXPECT_EQ(back.probes, s.probes);
  auto net = build_model(back, 123);
  EXPECT_EQ(net->probe_names(), s.probes);
  EXPECT_EQ(net->arch(), model_arch(back));
  EXPECT_NE(dynamic_cast<JitNetwork*>(net.get()), nullptr);
  // Built-in specs' JSON is unchanged (no path/probes fields).
  EXPECT_FALSE(model_spec_to_json(ModelSpec{}).contains("path"));

  auto read = [&](const std::string& text) {
    auto t = parse_toml_string(text, cfg);
    ConfigReader rt(t, cfg);
    ConfigReader rm = rt.section("model");
    return read_model_spec(rm);
  };
  expect_error([&] { read("[model]\nfamily = \"torchscript\"\npath = \"a.pt\"\nwidth = 2.0\n"); },
               {"model.width", "torchscript"});
  expect_error([&] { read("[model]\nfamily = \"torchscript\"\n"); }, {"model.path"});
  expect_error([&] { read("[model]\nfamily = \"vgg\"\npath = \"a.pt\"\n"); }, {"model.path", "only the torchscript family"});
}

}  // namespace
}  // namespace closerlook
