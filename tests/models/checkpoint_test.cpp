// save/load round trips, architecture checks, damaged files.
#include <gtest/gtest.h>

#include <fstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "model_test_util.h"

namespace closerlook {
namespace {
using namespace closerlook::testing;

void perturb_buffers(Network& net, double shift) {
  torch::NoGradGuard ng;
  for (auto& b : net.named_buffers())
    if (b.second.is_floating_point()) b.second.add_(shift).abs_();
    else b.second.add_(3);
}

TEST(ModelCheckpoint, RoundTripReproducesLogitsAndBuffers) {
  for (auto s : {vgg_spec(), resnet_spec("resnet8", 0.25), mlp_spec({16}, true)}) {
    auto a = build_model(s, 1);
    perturb_buffers(*a, 0.3);  // BN statistics away from their initial 0/1
    const std::string path = temp_path("roundtrip_" + s.family + ".pt");
    a->save(path);
    auto b = build_model(s, 2);
    b->load(path);
    a->train(false);
    b->train(false);
    auto x = input_for(s, 3);
    EXPECT_TRUE(torch::equal(a->forward(x), b->forward(x))) << a->arch();
    auto ba = a->named_buffers(), bb = b->named_buffers();
    ASSERT_EQ(ba.size(), bb.size());
    for (size_t i = 0; i < ba.size(); ++i) EXPECT_TRUE(torch::equal(ba[i].second, bb[i].second)) << ba[i].first;
  }
}

TEST(ModelCheckpoint, LoadKeepsTensorIdentity) {
  // Optimizers and BN handles hold references: load must copy in place.
  auto s = vgg_spec();
  auto a = build_model(s, 1), b = build_model(s, 2);
  const std::string path = temp_path("identity.pt");
  a->save(path);
  auto handles = b->batchnorms();
  auto p0 = b->named_parameters()[0].second;
  b->load(path);
  EXPECT_TRUE(torch::equal(p0, a->named_parameters()[0].second));
  EXPECT_TRUE(handles[0].running_mean.is_same(b->named_buffers()[0].second));
}

void expect_bad_input(Network& net, const std::string& path, const std::string& needle) {
  try {
    net.load(path);
    FAIL() << "loaded " << path;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::BadInput) << e.what();
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(ModelCheckpoint, OtherArchitectureIsBadInput) {
  auto a = build_model(vgg_spec(), 1);
  const std::string path = temp_path("arch.pt");
  a->save(path);
  auto other = build_model(vgg_spec("vgg11", 0.5), 1);
  auto before = other->named_parameters()[0].second.clone();
  expect_bad_input(*other, path, "architecture");
  EXPECT_TRUE(torch::equal(before, other->named_parameters()[0].second));  // untouched
  auto s = vgg_spec();
  s.num_classes = 5;
  expect_bad_input(*build_model(s, 1), path, "differs");
}

TEST(ModelCheckpoint, TruncatedGarbageAndMissingFiles) {
  auto a = build_model(vgg_spec(), 1);
  const std::string path = temp_path("whole.pt");
  a->save(path);
  const std::string bytes = read_file(path);
  for (size_t cut : {size_t(0), size_t(10), bytes.size() / 2, bytes.size() - 10}) {
    const std::string bad = temp_path("cut" + std::to_string(cut) + ".pt");
    write_file_atomic(bad, bytes.substr(0, cut));
    expect_bad_input(*a, bad, "checkpoint");
  }
  const std::string garbage = temp_path("garbage.pt");
  write_file_atomic(garbage, std::string(4096, 'x'));
  expect_bad_input(*a, garbage, "checkpoint");
  try {
    a->load(temp_path("does_not_exist.pt"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("does_not_exist.pt"), std::string::npos);
  }
}

TEST(ModelCheckpoint, MissingTensorOrWrongShapeIsBadInput) {
  // A checkpoint carrying the right arch string but different contents.
  auto s = vgg_spec();
  auto a = build_model(s, 1);
  auto fake = [&](const std::string& name, torch::nn::Module& m) {
    const std::string path = temp_path(name);
    torch::serialize::OutputArchive ar;
    m.save(ar);
    ar.write("closerlook_arch", c10::IValue(a->arch()));
    ar.save_to(path);
    return path;
  };
  torch::nn::Sequential features(torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 16, 3)));
  torch::nn::Module root;
  root.register_module("features", features);
  expect_bad_input(*a, fake("missing.pt", root), "missing");
  torch::nn::Module wrong;
  wrong.register_module("features", torch::nn::Sequential(torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 8, 3))));
  expect_bad_input(*a, fake("shape.pt", wrong), "shape");
}

}  // namespace
}  // namespace closerlook
