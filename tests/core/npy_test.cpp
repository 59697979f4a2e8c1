#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "core/npy.h"

using namespace closerlook;

TEST(Npy, RoundTripsDtypesAndShapes) {
  for (auto dt : {torch::kFloat32, torch::kFloat64, torch::kUInt8, torch::kInt32, torch::kInt64}) {
    auto t = (torch::rand({3, 5, 2}) * 100).to(dt);
    auto back = npy_from_bytes(npy_to_bytes(t), "mem");
    EXPECT_EQ(back.scalar_type(), dt);
    EXPECT_EQ(back.sizes(), t.sizes());
    EXPECT_TRUE(torch::equal(back, t));
  }
  auto v = torch::arange(7, torch::kFloat64);
  EXPECT_TRUE(torch::equal(npy_from_bytes(npy_to_bytes(v), "mem"), v));
}

TEST(Npy, HeaderIsAlignedTo64Bytes) {
  std::string b = npy_to_bytes(torch::zeros({2, 2}));
  size_t hlen = static_cast<uint8_t>(b[8]) | (static_cast<uint8_t>(b[9]) << 8);
  EXPECT_EQ((10 + hlen) % 64, 0u);
  EXPECT_EQ(b[10 + hlen - 1], '\n');
}

TEST(Npy, RejectsMalformedInput) {
  std::string good = npy_to_bytes(torch::ones({4, 4}));
  EXPECT_THROW(npy_from_bytes("hello", "x.npy"), Error);
  EXPECT_THROW(npy_from_bytes(good.substr(0, good.size() - 3), "x.npy"), Error);  // truncated data
  std::string bad_dtype = good;
  bad_dtype.replace(bad_dtype.find("<f4"), 3, ">c8");
  try {
    npy_from_bytes(bad_dtype, "x.npy");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("x.npy"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("dtype"), std::string::npos);
  }
  std::string fortran = good;
  fortran.replace(fortran.find("False"), 5, "True ");
  EXPECT_THROW(npy_from_bytes(fortran, "x.npy"), Error);
}
