// [train] table validation: unknown keys, wrong types, out-of-range values and keys of another
// schedule are rejected with the file and the key named.
#include <gtest/gtest.h>

#include "core/config.h"
#include "core/error.h"
#include "train/train_spec.h"

using namespace closerlook;

namespace {
TrainSpec parse(const std::string& toml) {
  auto tree = parse_toml_string(toml, "run.toml");
  ConfigReader root(tree, "run.toml");
  ConfigReader r = root.section("train");
  TrainSpec t = read_train_spec(r);
  r.finish();
  root.finish();
  return t;
}
std::string error_of(const std::string& toml) {
  try {
    parse(toml);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::BadInput);
    return e.what();
  }
  return "";
}
}  // namespace

TEST(TrainSpec, ReadsEveryKey) {
  auto t = parse(R"(
[train]
epochs = 12
batch_size = 64
optimizer = "sgd"
lr = 0.1
momentum = 0.8
nesterov = true
weight_decay = 1e-4
schedule = "sgdr"
sgdr_t0 = 2
sgdr_tmult = 3
eta_min = 1e-5
warmup_iters = 50
freeze_prefixes = ["classifier."]
freeze_iters = 50
eval_train_subset = 500
checkpoint_epochs = [1, 2]
checkpoint_iters = [0, 10]
checkpoint_every = 4
checkpoint_sgdr_cycles = true
teacher = "runs/t/checkpoints/final.pt"
kd_temperature = 8.0
kd_alpha = 0.7
init_from = "runs/t/checkpoints/init.pt"
)");
  EXPECT_EQ(t.epochs, 12);
  EXPECT_EQ(t.batch_size, 64);
  EXPECT_TRUE(t.nesterov);
  EXPECT_EQ(t.schedule, "sgdr");
  EXPECT_EQ(t.sgdr_t0, 2);
  EXPECT_EQ(t.sgdr_tmult, 3);
  EXPECT_DOUBLE_EQ(t.eta_min, 1e-5);
  EXPECT_EQ(t.freeze_prefixes, std::vector<std::string>{"classifier."});
  EXPECT_EQ(t.checkpoint_iters, (std::vector<int64_t>{0, 10}));
  EXPECT_DOUBLE_EQ(t.kd_alpha, 0.7);
  EXPECT_EQ(t.init_from, "runs/t/checkpoints/init.pt");
  auto s = schedule_spec(t, 100);
  EXPECT_EQ(s.total_iters(), 1200);
  EXPECT_EQ(s.warmup_iters, 50);
}

TEST(TrainSpec, RejectsUnknownKey) {
  auto msg = error_of("[train]\nepochz = 3\n");
  EXPECT_NE(msg.find("run.toml"), std::string::npos) << msg;
  EXPECT_NE(msg.find("train.epochz"), std::string::npos) << msg;
}

TEST(TrainSpec, RejectsWrongType) {
  auto msg = error_of("[train]\nlr = \"fast\"\n");
  EXPECT_NE(msg.find("train.lr"), std::string::npos) << msg;
  EXPECT_NE(msg.find("fast"), std::string::npos) << msg;
}

TEST(TrainSpec, RejectsOutOfRange) {
  auto msg = error_of("[train]\nmomentum = 1.5\n");
  EXPECT_NE(msg.find("train.momentum"), std::string::npos) << msg;
  EXPECT_NE(msg.find("1.5"), std::string::npos) << msg;
  EXPECT_NE(error_of("[train]\nepochs = 0\n").find("train.epochs"), std::string::npos);
  EXPECT_NE(error_of("[train]\nkd_alpha = 2.0\n").find("train.kd_alpha"), std::string::npos);
  EXPECT_NE(error_of("[train]\nschedule = \"triangle\"\n").find("train.schedule"), std::string::npos);
  EXPECT_NE(error_of("[train]\noptimizer = \"rmsprop\"\n").find("train.optimizer"), std::string::npos);
}

TEST(TrainSpec, RejectsParametersOfAnotherSchedule) {
  auto msg = error_of("[train]\nschedule = \"step\"\nsgdr_t0 = 10\n");
  EXPECT_NE(msg.find("train.sgdr_t0"), std::string::npos) << msg;
  EXPECT_NE(msg.find("step"), std::string::npos) << msg;
  EXPECT_NE(error_of("[train]\nschedule = \"multistep\"\nmilestones = [5, 3]\n").find("train.milestones"),
            std::string::npos);
  EXPECT_NE(error_of("[train]\nfreeze_iters = 10\n").find("freeze_prefixes"), std::string::npos);
  EXPECT_NE(error_of("[train]\ncheckpoint_sgdr_cycles = true\n").find("checkpoint_sgdr_cycles"), std::string::npos);
  // Adam has no momentum key.
  EXPECT_NE(error_of("[train]\noptimizer = \"adam\"\nmomentum = 0.9\n").find("train.momentum"), std::string::npos);
}
