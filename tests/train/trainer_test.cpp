// The training loop on a tiny net and synthetic data: learning, freezing, exact resume,
// divergence, distillation plumbing, checkpoint tags and the run-folder files.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_io.h"
#include "../common/tiny_net.h"
#include "../common/train_fixture.h"
#include "train/optimizer.h"
#include "train/run_dir.h"
#include "train/train_state.h"
#include "train/trainer.h"

using namespace closerlook;
using namespace closerlook::testing;
namespace fs = std::filesystem;

namespace {

using Fixture = TrainFixture;  // tests/common/train_fixture.h

std::vector<NamedTensor> state_of(Network& net) {
  auto all = net.named_parameters();
  for (auto& b : net.named_buffers()) all.push_back(b);
  std::vector<NamedTensor> copy;
  for (auto& [n, t] : all) copy.emplace_back(n, t.detach().clone());
  return copy;
}

std::vector<NamedTensor> checkpoint_state(const std::string& dir, const std::string& tag) {
  TinyNet net(99);
  net.load(checkpoint_path(dir, tag));
  return state_of(net);
}

}  // namespace

TEST(Trainer, LearnsAndWritesRunFolder) {
  at::set_num_threads(1);
  Fixture f;
  f.spec.epochs = 4;
  f.spec.lr = 0.1;
  f.spec.checkpoint_epochs = {2};
  f.spec.checkpoint_iters = {3};
  f.spec.checkpoint_every = 3;
  TinyNet net(1);
  const double loss0 = evaluate(net, f.train, torch::kCPU).loss;
  const auto dir = fresh_dir("learns");
  auto s = f.run(net, dir);
  EXPECT_EQ(s.status, RunStatus::Completed);
  EXPECT_EQ(s.iter, 20);
  auto rows = read_jsonl(dir + "/metrics.jsonl");
  ASSERT_EQ(rows.size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(rows[i]["epoch"], i + 1);
    EXPECT_EQ(rows[i]["iter"], 5 * (i + 1));
    for (const char* k : {"lr", "train_loss", "train_acc", "test_loss", "test_acc", "seconds", "images_per_s"})
      EXPECT_TRUE(rows[i].contains(k)) << k;
  }
  EXPECT_LT(rows.back()["train_loss"].get<double>(), 0.6 * loss0);
  EXPECT_GT(rows.back()["train_acc"].get<double>(), 0.7);
  // The reported train loss is the un-augmented evaluation of the final weights.
  EXPECT_NEAR(rows.back()["train_loss"].get<double>(), evaluate(net, f.train, torch::kCPU).loss, 1e-6);
  auto sum = read_json(dir + "/summary.json");
  EXPECT_EQ(sum["status"], "completed");
  EXPECT_EQ(sum["config_hash"], "test");
  std::vector<std::string> tags;
  for (auto& c : sum["checkpoints"]) tags.push_back(c["tag"]);
  EXPECT_EQ(tags, (std::vector<std::string>{"init", "iter-3", "epoch-2", "epoch-3", "final"}));
  for (const auto& t : tags) {
    EXPECT_TRUE(file_exists(checkpoint_path(dir, t))) << t;
    EXPECT_TRUE(file_exists(state_path(dir, t))) << t;
  }
  EXPECT_TRUE(file_exists(state_path(dir, "last")));
  EXPECT_TRUE(same_tensors(checkpoint_state(dir, "final"), state_of(net)));
  EXPECT_FALSE(same_tensors(checkpoint_state(dir, "init"), state_of(net)));
  fs::remove_all(dir);
}

TEST(Trainer, FreezeWindowKeepsFrozenParametersBitIdentical) {
  at::set_num_threads(1);
  Fixture f;
  f.spec.weight_decay = 1e-2;  // weight decay and momentum would move a parameter with lr > 0
  f.spec.freeze_prefixes = {"classifier."};
  f.spec.freeze_iters = 6;
  f.spec.checkpoint_iters = {6, 7};
  TinyNet net(2);
  const auto dir = fresh_dir("freeze");
  f.run(net, dir);
  auto init = checkpoint_state(dir, "init"), at6 = checkpoint_state(dir, "iter-6"), at7 = checkpoint_state(dir, "iter-7");
  for (size_t i = 0; i < init.size(); ++i) {
    const auto& name = init[i].first;
    if (name.rfind("classifier.", 0) == 0) {
      EXPECT_TRUE(torch::equal(init[i].second, at6[i].second)) << name << " moved during the freeze window";
      EXPECT_FALSE(torch::equal(at6[i].second, at7[i].second)) << name << " did not move after the window";
    } else if (name.find("num_batches") == std::string::npos) {
      EXPECT_FALSE(torch::equal(init[i].second, at6[i].second)) << name << " did not train";
    }
  }
  // No momentum was accumulated for the frozen parameters in the window: the first step after
  // it is a fresh-buffer SGD step, w7 = w6 - lr (g + wd w6). Replay step 7 (epoch 1, batch 1)
  // from the iter-6 weights and generator state and compare.
  {
    TinyNet replay(99);
    replay.load(checkpoint_path(dir, "iter-6"));
    std::vector<torch::Tensor> trained, frozen;
    for (auto& [name, p] : replay.named_parameters()) (name.rfind("classifier.", 0) == 0 ? frozen : trained).push_back(p);
    auto opt = make_optimizer(f.spec, {trained, frozen});
    load_train_state(state_path(dir, "iter-6"), *opt, nullptr);  // restores the dropout generator
    replay.train(true);
    Batch b = f.batches.batch(1, 1);
    torch::nn::functional::cross_entropy(replay.forward(b.x), b.y).backward();
    for (size_t i = 0; i < at7.size(); ++i) {
      if (at7[i].first.rfind("classifier.", 0) != 0) continue;
      const auto& w6 = at6[i].second;
      torch::Tensor g;
      for (auto& [name, p] : replay.named_parameters())
        if (name == at7[i].first) g = p.grad();
      auto expected = w6 - f.spec.lr * (g + f.spec.weight_decay * w6);
      EXPECT_TRUE(torch::allclose(at7[i].second, expected, 1e-5, 1e-7)) << at7[i].first;
    }
  }
  for (auto& [name, p] : net.named_parameters()) EXPECT_TRUE(p.requires_grad()) << name;
  fs::remove_all(dir);
}

TEST(Trainer, FreezePrefixMustMatch) {
  Fixture f;
  f.spec.freeze_prefixes = {"head."};
  f.spec.freeze_iters = 2;
  TinyNet net(3);
  const auto dir = fresh_dir("freeze_bad");
  try {
    f.run(net, dir);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::BadInput);
    EXPECT_NE(std::string(e.what()).find("head."), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

struct ResumeCase {
  std::string optimizer;
  int64_t interrupt_after;  // optimizer steps before SIGINT is raised
};
class TrainerResume : public ::testing::TestWithParam<ResumeCase> {};

TEST_P(TrainerResume, InterruptedRunResumesBitIdentical) {
  at::set_num_threads(1);
  const auto param = GetParam();
  Fixture f;
  f.spec.epochs = 3;
  f.spec.optimizer = param.optimizer;
  f.spec.lr = param.optimizer == "adam" ? 0.01 : 0.05;
  f.spec.schedule = "cosine";
  f.spec.warmup_iters = 3;
  f.spec.freeze_prefixes = {"classifier."};
  f.spec.freeze_iters = 4;
  const auto dir_a = fresh_dir("resume_a"), dir_b = fresh_dir("resume_b");

  TinyNet a(7);
  f.run(a, dir_a);

  TinyNet b(7);
  RunOptions opts;
  int64_t steps = 0;
  opts.after_backward = [&](Network&) {
    if (++steps == param.interrupt_after) std::raise(SIGINT);
  };
  try {
    f.run(b, dir_b, nullptr, opts);
    FAIL() << "expected an interruption";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::Interrupted);
  }
  EXPECT_EQ(read_json(dir_b + "/summary.json")["status"], "interrupted");
  torch::manual_seed(12345);  // disturb the global generator: resume must restore it
  TinyNet b2(8);              // different initial weights: resume must restore them
  auto s = f.run(b2, dir_b);
  EXPECT_EQ(s.status, RunStatus::Completed);
  EXPECT_TRUE(same_tensors(state_of(a), state_of(b2)));
  auto ra = read_jsonl(dir_a + "/metrics.jsonl"), rb = read_jsonl(dir_b + "/metrics.jsonl");
  ASSERT_EQ(ra.size(), rb.size());
  for (size_t i = 0; i < ra.size(); ++i) EXPECT_EQ(ra[i]["train_loss"], rb[i]["train_loss"]);
  fs::remove_all(dir_a);
  fs::remove_all(dir_b);
}
INSTANTIATE_TEST_SUITE_P(Optimizers, TrainerResume,
                         ::testing::Values(ResumeCase{"sgd", 7}, ResumeCase{"adam", 5}, ResumeCase{"sgd", 2}));

TEST(Trainer, DivergenceEndsCleanly) {
  at::set_num_threads(1);
  Fixture f;
  f.spec.lr = 1e6;
  f.spec.epochs = 3;
  TinyNet net(4);
  const auto dir = fresh_dir("diverge");
  auto s = f.run(net, dir);
  EXPECT_EQ(s.status, RunStatus::Diverged);
  EXPECT_GE(s.diverged_iter, 1);
  auto sum = read_json(dir + "/summary.json");
  EXPECT_EQ(sum["status"], "diverged");
  EXPECT_FALSE(file_exists(checkpoint_path(dir, "final")));
  fs::remove_all(dir);
}

TEST(Trainer, DistillationWithAlphaZeroEqualsPlainTraining) {
  at::set_num_threads(1);
  Fixture f;
  TinyNet teacher(20);
  f.spec.kd_alpha = 0.0;
  TinyNet a(9), b(9);
  const auto d1 = fresh_dir("kd0"), d2 = fresh_dir("ce");
  f.run(a, d1, &teacher);
  f.run(b, d2);
  EXPECT_TRUE(same_tensors(state_of(a), state_of(b)));
  // With alpha > 0 the teacher changes the trajectory, and leaves the teacher untouched.
  auto teacher_before = state_of(teacher);
  f.spec.kd_alpha = 0.9;
  TinyNet c(9);
  const auto d3 = fresh_dir("kd9");
  auto s = f.run(c, d3, &teacher);
  EXPECT_EQ(s.status, RunStatus::Completed);
  EXPECT_FALSE(same_tensors(state_of(a), state_of(c)));
  EXPECT_TRUE(same_tensors(teacher_before, state_of(teacher)));
  EXPECT_FALSE(teacher.is_training());
  for (auto d : {d1, d2, d3}) fs::remove_all(d);
}
