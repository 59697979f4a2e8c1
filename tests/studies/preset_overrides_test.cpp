// The per-study network tables of a preset ([resilience.model], [distill.teacher_model],
// [distill.student_model]) reach the training steps of the plan, on top of [model], and a mode's
// own change (E's init_scale) survives the study's table.
#include <gtest/gtest.h>

#include "studies/reproduce.h"

using namespace closerlook;

namespace {

const Step& step(const Plan& plan, const std::string& id) {
  for (const auto& s : plan.steps())
    if (s.id == id) return s;
  throw std::runtime_error("no step " + id);
}

// The train tree of a training step: the inputs themselves, or {"tree": ...} for the KD student.
nlohmann::json model_of(const Step& s) {
  return s.inputs.contains("tree") ? s.inputs["tree"]["model"] : s.inputs["model"];
}

Plan standard_plan(const std::vector<std::string>& overrides = {}) {
  ReproduceConfig cfg =
      load_reproduce_config(std::string(CL_SOURCE_DIR) + "/configs/presets/standard.toml", overrides);
  ReproduceOptions ro;
  ro.out_dir = "/nonexistent-closerlook-plan";  // the plan is only built, never run
  return build_reproduce_plan(cfg, ro);
}

}  // namespace

TEST(PresetOverrides, ResilienceModelReachesGAndEveryMode) {
  const Plan plan = standard_plan();
  // [model] says no BN (the SGDR study's network); [resilience.model] turns it on for this study.
  EXPECT_FALSE(model_of(step(plan, "sgdr/train-sgdr"))["batchnorm"].get<bool>());
  EXPECT_TRUE(model_of(step(plan, "resilience/train-G"))["batchnorm"].get<bool>());
  for (const char* m : {"A", "B", "C", "D", "E", "F"}) {
    const auto mj = model_of(step(plan, std::string("resilience/train-") + m));
    EXPECT_TRUE(mj["batchnorm"].get<bool>()) << m;
    EXPECT_EQ(mj["fc_hidden"], model_of(step(plan, "resilience/train-G"))["fc_hidden"]) << m;  // rest of [model]
  }
  // E's own change is applied after the study's table.
  EXPECT_DOUBLE_EQ(model_of(step(plan, "resilience/train-E"))["init_scale"].get<double>(), 2.0);
  EXPECT_FALSE(model_of(step(plan, "resilience/train-A")).contains("init_scale"));
}

TEST(PresetOverrides, ResilienceModelTableCanBeOverriddenFromTheCommandLine) {
  const Plan plan = standard_plan({"resilience.model.batchnorm=false"});
  for (const char* m : {"G", "A", "E"})
    EXPECT_FALSE(model_of(step(plan, std::string("resilience/train-") + m))["batchnorm"].get<bool>()) << m;
}

TEST(PresetOverrides, DistillTablesReachTeacherAndBothStudents) {
  const Plan plan = standard_plan();
  const auto teacher = model_of(step(plan, "distill/train-teacher"));
  EXPECT_TRUE(teacher["batchnorm"].get<bool>());
  EXPECT_DOUBLE_EQ(teacher["width"].get<double>(), 0.5);
  for (const char* s : {"distill/train-student-indep", "distill/train-student-distilled"}) {
    const auto mj = model_of(step(plan, s));
    EXPECT_TRUE(mj["batchnorm"].get<bool>()) << s;
    EXPECT_DOUBLE_EQ(mj["width"].get<double>(), 0.25) << s;  // the student keeps [model]'s width
  }
}
