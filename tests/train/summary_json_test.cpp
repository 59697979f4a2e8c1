// summary.json of a training run: TrainSummary::to_json (one field list shared with from_json)
// writes what the former hand-written list wrote, and from_json reads it back.
#include <gtest/gtest.h>

#include "core/error.h"
#include "train/trainer.h"

namespace closerlook {
namespace {

// The hand-written summary.json before the shared field list (kept here as the reference).
nlohmann::json reference_json(const TrainSummary& s) {
  nlohmann::json ck = nlohmann::json::array();
  for (const auto& c : s.checkpoints)
    ck.push_back({{"tag", c.tag}, {"iter", c.iter}, {"epoch", c.epoch}, {"path", "checkpoints/" + c.tag + ".pt"}});
  nlohmann::json j = {{"status", to_string(s.status)},
                      {"epoch", s.epoch},
                      {"iter", s.iter},
                      {"train_loss", s.train.loss},
                      {"train_acc", s.train.accuracy},
                      {"test_loss", s.test.loss},
                      {"test_acc", s.test.accuracy},
                      {"seconds", s.seconds},
                      {"checkpoints", ck}};
  if (s.diverged_iter >= 0) j["diverged_iter"] = s.diverged_iter;
  return j;
}

TrainSummary filled(RunStatus status, int64_t diverged_iter) {
  TrainSummary s;
  s.status = status;
  s.iter = 120;
  s.epoch = 3;
  s.diverged_iter = diverged_iter;
  s.train = {0.25, 0.875, 1000};
  s.test = {0.5, 0.75, 500};
  s.seconds = 12.5;
  s.checkpoints = {{"init", 0, 0}, {"epoch-2", 80, 2}, {"final", 120, 3}};
  return s;
}

TEST(TrainSummaryJson, EqualsTheHandWrittenRecord) {
  for (const auto& s : {filled(RunStatus::Completed, -1), filled(RunStatus::Diverged, 97),
                        filled(RunStatus::Interrupted, -1), TrainSummary{}})
    EXPECT_EQ(s.to_json().dump(), reference_json(s).dump());
}

TEST(TrainSummaryJson, ReadsBack) {
  const TrainSummary s = filled(RunStatus::Diverged, 97);
  const TrainSummary t = TrainSummary::from_json(s.to_json(), "summary.json");
  EXPECT_EQ(t.to_json(), s.to_json());
  EXPECT_EQ(t.status, RunStatus::Diverged);
  EXPECT_EQ(t.diverged_iter, 97);
  ASSERT_EQ(t.checkpoints.size(), 3u);
  EXPECT_EQ(t.checkpoints[1].tag, "epoch-2");
  EXPECT_EQ(t.checkpoints[1].iter, 80);
  EXPECT_EQ(t.test.accuracy, 0.75);
  // Fields an older file lacks read as 0 (-1 for diverged_iter); status and its value are required.
  const TrainSummary minimal = TrainSummary::from_json({{"status", "completed"}}, "old.json");
  EXPECT_EQ(minimal.iter, 0);
  EXPECT_EQ(minimal.diverged_iter, -1);
  EXPECT_TRUE(minimal.checkpoints.empty());
  for (const nlohmann::json& bad : {nlohmann::json{{"iter", 3}}, nlohmann::json{{"status", "done"}},
                                    nlohmann::json{{"status", "completed"}, {"checkpoints", {{{"tag", "x"}}}}}}) {
    try {
      TrainSummary::from_json(bad, "bad.json");
      ADD_FAILURE() << bad.dump();
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::BadInput);
      EXPECT_NE(std::string(e.what()).find("bad.json"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace closerlook
