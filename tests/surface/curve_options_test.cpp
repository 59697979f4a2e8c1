// CurveTrainOptions' JSON (one NLOHMANN declaration) is the field list the curve folders' config
// hashes were computed from, so existing curve folders keep their config_hash; it reads back.
#include <gtest/gtest.h>

#include "core/error.h"
#include "core/json_io.h"
#include "surface/curve_training.h"

using namespace closerlook;

namespace {

// The hand-written record the declaration replaced (curve_training.cpp before issue 14).
nlohmann::json reference_json(const CurveTrainOptions& o) {
  return {{"type", curve_type_name(o.type)}, {"bends", o.bends},       {"epochs", o.epochs},
          {"lr", o.lr},                      {"momentum", o.momentum}, {"weight_decay", o.weight_decay},
          {"batch_size", o.batch_size},      {"seed", o.seed},         {"fix_start", o.fix_start},
          {"fix_end", o.fix_end},            {"save_every", o.save_every}};
}

}  // namespace

TEST(CurveTrainOptions, JsonIsTheRecordTheConfigHashesWereComputedFrom) {
  CurveTrainOptions d;
  EXPECT_EQ(d.to_json().dump(), reference_json(d).dump());
  EXPECT_EQ(content_hash(d.to_json().dump()), content_hash(reference_json(d).dump()));
  CurveTrainOptions o;
  o.type = CurveType::PolyChain;
  o.bends = 5;
  o.epochs = 7;
  o.lr = 0.0301;
  o.momentum = 0.85;
  o.weight_decay = 3e-4;
  o.batch_size = 64;
  o.seed = (uint64_t(1) << 63) + 5;  // unsigned beyond int64
  o.fix_start = false;
  o.save_every = 2;
  o.stop_after = 3;  // not part of the configuration
  EXPECT_EQ(o.to_json().dump(), reference_json(o).dump());
  EXPECT_FALSE(o.to_json().contains("stop_after"));
  const auto back = o.to_json().get<CurveTrainOptions>();
  EXPECT_EQ(back.to_json(), o.to_json());
  EXPECT_EQ(back.type, CurveType::PolyChain);
  EXPECT_THROW(nlohmann::json("spline").get<CurveType>(), Error);
}
