// Collectives over real Gloo process groups on 127.0.0.1: three processes check allreduce (sum,
// max, several tensors of different dtypes), broadcast from a non-zero root, allgather,
// variable-size blobs and tensors, barrier; and failures: a peer that dies, a peer that hangs,
// a peer that never arrives all make the others fail with a clear error within the timeout.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "core/error.h"
#include "dist/rendezvous.h"
#include "multiprocess.h"

using namespace closerlook;
using namespace closerlook::testing;

TEST(DistChild, Collectives) {
  if (!role()) GTEST_SKIP() << "child role (started by Collectives.ThreeProcesses)";
  auto c = connect_from_env();
  const int r = c->rank(), n = c->size();
  ASSERT_EQ(n, 3);

  auto t = torch::full({5}, double(r + 1), torch::kFloat64);
  c->allreduce_(t);
  EXPECT_TRUE(torch::equal(t, torch::full({5}, 6.0, torch::kFloat64)));

  auto m = torch::tensor({int64_t(r), int64_t(10 - r)});
  c->allreduce_(m, ReduceKind::Max);
  EXPECT_EQ(m[0].item<int64_t>(), 2);
  EXPECT_EQ(m[1].item<int64_t>(), 10);

  std::vector<torch::Tensor> many{torch::full({3}, float(r), torch::kFloat32), torch::full({2}, int64_t(r + 1))};
  c->allreduce_many_(many);
  EXPECT_TRUE(torch::equal(many[0], torch::full({3}, 3.0f, torch::kFloat32)));
  EXPECT_TRUE(torch::equal(many[1], torch::full({2}, int64_t(6))));

  auto b = torch::full({4}, float(r == 1 ? 42 : -1), torch::kFloat32);
  c->broadcast_(b, 1);
  EXPECT_TRUE(torch::equal(b, torch::full({4}, 42.0f, torch::kFloat32)));

  auto g = c->allgather(torch::full({2, 2}, int64_t(r)));
  ASSERT_EQ(g.size(), 3u);
  for (int k = 0; k < 3; ++k) EXPECT_TRUE(torch::equal(g[k], torch::full({2, 2}, int64_t(k))));

  // Rank 0 sends an empty blob; others rank * 1000 bytes.
  auto blobs = c->allgather_blobs(std::string(size_t(r) * 1000, char('a' + r)));
  ASSERT_EQ(blobs.size(), 3u);
  for (int k = 0; k < 3; ++k) EXPECT_EQ(blobs[k], std::string(size_t(k) * 1000, char('a' + k)));

  auto any = c->allgather_any(torch::arange((r + 1) * 2, torch::kFloat64).reshape({r + 1, 2}));
  for (int k = 0; k < 3; ++k) EXPECT_TRUE(torch::equal(any[k], torch::arange((k + 1) * 2, torch::kFloat64).reshape({k + 1, 2})));

  c->barrier();
  c->wait_for_all();
}

TEST(Collectives, ThreeProcesses) {
  const auto dir = temp_dir("collectives");
  auto cs = run_ranks("DistChild.Collectives", "collectives", 3, dir);
  for (const auto& ch : cs) EXPECT_EQ(ch.status, 0) << describe(cs);
}

// Rank 1 dies (or hangs) after joining; rank 0 keeps all-reducing and must get a closerlook::Error.
TEST(DistChild, PeerFailure) {
  if (!role()) GTEST_SKIP() << "child role (started by PeerFailure.*)";
  const std::string mode = env_or("CL_TEST_MODE", "die");
  auto c = connect_from_env();
  if (c->rank() == 1) {
    auto t = torch::ones({1000});
    c->allreduce_(t);  // one good step first (same size as rank 0's: Gloo aborts on a size mismatch)
    if (mode == "die") ::_exit(7);
    std::this_thread::sleep_for(std::chrono::seconds(std::stoi(env_or("CL_TEST_HANG_S", "8"))));
    ::_exit(8);
  }
  const auto start = std::chrono::steady_clock::now();
  std::string msg;
  try {
    for (int i = 0; i < 1000000; ++i) {
      auto t = torch::ones({1000});
      c->allreduce_(t);
    }
  } catch (const Error& e) {
    msg = e.what();
    EXPECT_EQ(e.code(), ExitCode::Io);
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("rank 0 failed after %.2f s: %s\n", s, msg.c_str());
  ASSERT_FALSE(msg.empty()) << "no error from a dead peer";
  EXPECT_NE(msg.find("allreduce"), std::string::npos) << msg;
  EXPECT_NE(msg.find("rank 0 of 2"), std::string::npos) << msg;
  // Later calls fail at once with the same story instead of touching the dead group again.
  auto t = torch::ones({3});
  try {
    c->allreduce_(t);
    ADD_FAILURE() << "a broken communicator accepted another operation";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("failed earlier"), std::string::npos) << e.what();
  }
}

TEST(PeerFailure, DeadWorkerFailsTheOthersQuickly) {
  const auto dir = temp_dir("dead");
  auto cs = run_ranks("DistChild.PeerFailure", "peer", 2, dir, {{"CL_TEST_MODE", "die"}, {"CL_DIST_TIMEOUT", "10"}}, 60);
  EXPECT_EQ(cs[1].status, 7) << describe(cs);
  EXPECT_EQ(cs[0].status, 0) << describe(cs);
  EXPECT_LT(cs[0].seconds, 10 + 15.0) << describe(cs);  // detected on connection loss, at worst the timeout
}

TEST(PeerFailure, HungWorkerFailsTheOthersAtTheTimeout) {
  const auto dir = temp_dir("hung");
  auto cs = run_ranks("DistChild.PeerFailure", "peer", 2, dir,
                      {{"CL_TEST_MODE", "hang"}, {"CL_DIST_TIMEOUT", "3"}, {"CL_TEST_HANG_S", "12"}}, 60);
  EXPECT_EQ(cs[0].status, 0) << describe(cs);
  EXPECT_LT(cs[0].seconds, 11.0) << describe(cs);  // the timeout (3 s) plus start-up, well before the peer wakes
  EXPECT_NE(slurp(cs[0].log).find("timeout 3 s"), std::string::npos) << describe(cs);
}

// Only rank 1 of 2 is started: it must give up on the rendezvous with a clear message.
TEST(DistChild, LonelyRank) {
  if (!role()) GTEST_SKIP() << "child role (started by PeerFailure.MissingPeerFailsTheRendezvous)";
  const auto start = std::chrono::steady_clock::now();
  try {
    auto c = connect_from_env();
    ADD_FAILURE() << "rendezvous succeeded without rank 0";
  } catch (const Error& e) {
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("rendezvous failed after %.2f s: %s\n", s, e.what());
    EXPECT_EQ(e.code(), ExitCode::Io);
    EXPECT_NE(std::string(e.what()).find("rendezvous failed"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("rank 1 of 2"), std::string::npos) << e.what();
  }
}

TEST(PeerFailure, MissingPeerFailsTheRendezvous) {
  const auto dir = temp_dir("lonely");
  auto env = rank_env("lonely", 1, 2, free_port());
  env["CL_DIST_TIMEOUT"] = "3";
  std::vector<Child> cs{spawn_self("DistChild.LonelyRank", env, dir + "/rank1.log")};
  wait_all(cs, 60);
  EXPECT_EQ(cs[0].status, 0) << describe(cs);
  EXPECT_LT(cs[0].seconds, 20.0) << describe(cs);
}
