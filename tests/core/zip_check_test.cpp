// verify_zip_records on real LibTorch archives: an intact file passes; any single flipped byte
// inside a record, a truncation, or garbage is rejected with an Error naming the file.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <sstream>

#include "core/error.h"
#include "core/zip_check.h"

using namespace closerlook;

namespace {
std::string archive_bytes() {
  torch::serialize::OutputArchive ar;
  ar.write("w", torch::arange(64, torch::kFloat32));
  ar.write("name", c10::IValue(std::string("closerlook")));
  std::ostringstream os;
  ar.save_to(os);
  return os.str();
}
}  // namespace

TEST(ZipCheck, IntactArchivePasses) { EXPECT_NO_THROW(verify_zip_records(archive_bytes(), "ok.pt")); }

TEST(ZipCheck, EveryFlippedByteInTheTensorRecordIsCaught) {
  const std::string good = archive_bytes();
  // The tensor's payload: 0, 1, ..., 63 as float32; find 1.0f (00 00 80 3f) and flip bytes around it.
  const std::string one("\x00\x00\x80\x3f", 4);
  const size_t at = good.find(one);
  ASSERT_NE(at, std::string::npos);
  for (size_t k = at; k < at + 16; ++k) {
    std::string bad = good;
    bad[k] ^= 0x10;
    try {
      verify_zip_records(bad, "flipped.pt");
      ADD_FAILURE() << "flip at byte " << k << " not caught";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::BadInput);
      EXPECT_NE(std::string(e.what()).find("flipped.pt"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("CRC-32"), std::string::npos) << e.what();
    }
  }
}

TEST(ZipCheck, TruncationAndGarbageAreRejected) {
  const std::string good = archive_bytes();
  for (size_t cut : {size_t(0), size_t(10), good.size() / 2, good.size() - 1})
    EXPECT_THROW(verify_zip_records(good.substr(0, cut), "cut.pt"), Error) << cut;
  EXPECT_THROW(verify_zip_records(std::string(4096, 'x'), "garbage.pt"), Error);
}

TEST(ZipCheck, RenamedRecordIsCaught) {
  // Record names are not covered by any CRC; a damaged name in the central directory (the copy
  // LibTorch looks records up by) must not match the local header any more.
  const std::string good = archive_bytes();
  const size_t central = good.rfind("data.pkl");
  ASSERT_NE(central, std::string::npos);
  ASSERT_NE(good.find("data.pkl"), central);  // also in the local header
  std::string bad = good;
  bad[central] = 'x';
  EXPECT_THROW(verify_zip_records(bad, "renamed.pt"), Error);
}
