// Rendezvous from the launcher's environment (torchrun and Slurm conventions, overrides, bad
// values named) and the Local communicator's identities.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>

#include "core/error.h"
#include "dist/communicator.h"
#include "dist/gloo_communicator.h"
#include "dist/rendezvous.h"

using namespace closerlook;

namespace {

// Sets variables for one test and restores the previous environment afterwards.
class ScopedEnv {
 public:
  explicit ScopedEnv(const std::map<std::string, std::string>& vars) {
    for (const char* k : {"RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "SLURM_PROCID", "SLURM_NTASKS",
                          "SLURM_STEP_NUM_TASKS", "CL_DIST", "CL_DIST_TIMEOUT", "CL_DIST_WAIT_TIMEOUT",
                          "GLOO_SOCKET_IFNAME"}) {
      const char* v = std::getenv(k);
      if (v) saved_[k] = v;
      ::unsetenv(k);
    }
    for (const auto& [k, v] : vars) ::setenv(k.c_str(), v.c_str(), 1);
  }
  ~ScopedEnv() {
    for (const char* k : {"RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "SLURM_PROCID", "SLURM_NTASKS",
                          "SLURM_STEP_NUM_TASKS", "CL_DIST", "CL_DIST_TIMEOUT", "CL_DIST_WAIT_TIMEOUT",
                          "GLOO_SOCKET_IFNAME"})
      ::unsetenv(k);
    for (const auto& [k, v] : saved_) ::setenv(k.c_str(), v.c_str(), 1);
  }

 private:
  std::map<std::string, std::string> saved_;
};

std::string error_of(const std::map<std::string, std::string>& vars) {
  ScopedEnv e(vars);
  try {
    rendezvous_from_env();
  } catch (const Error& err) {
    EXPECT_EQ(err.code(), ExitCode::BadInput);
    return err.what();
  }
  return "";
}

}  // namespace

TEST(Rendezvous, NoLauncherMeansOneProcess) {
  ScopedEnv e({});
  auto r = rendezvous_from_env();
  EXPECT_EQ(r.rank, 0);
  EXPECT_EQ(r.world, 1);
  EXPECT_EQ(r.source, "single");
  auto c = connect(r);
  EXPECT_EQ(c->size(), 1);
}

TEST(Rendezvous, TorchrunConvention) {
  ScopedEnv e({{"RANK", "2"}, {"WORLD_SIZE", "4"}, {"MASTER_ADDR", "10.1.2.3"}, {"MASTER_PORT", "23456"},
               {"CL_DIST_TIMEOUT", "2.5"}, {"GLOO_SOCKET_IFNAME", "eth1"}});
  auto r = rendezvous_from_env();
  EXPECT_EQ(r.rank, 2);
  EXPECT_EQ(r.world, 4);
  EXPECT_EQ(r.master_addr, "10.1.2.3");
  EXPECT_EQ(r.master_port, 23456);
  EXPECT_EQ(r.timeout.count(), 2500);
  EXPECT_EQ(r.ifname, "eth1");
  EXPECT_EQ(r.source, "torchrun env");
  EXPECT_NE(r.describe().find("rank 2 of 4 via 10.1.2.3:23456"), std::string::npos) << r.describe();
}

TEST(Rendezvous, SlurmConventionAndPrecedence) {
  {
    ScopedEnv e({{"SLURM_PROCID", "3"}, {"SLURM_NTASKS", "8"}});
    auto r = rendezvous_from_env();
    EXPECT_EQ(r.rank, 3);
    EXPECT_EQ(r.world, 8);
    EXPECT_EQ(r.source, "slurm env");
    EXPECT_EQ(r.master_addr, "127.0.0.1");
    EXPECT_EQ(r.master_port, 29500);
  }
  {  // srun's per-step count wins over the allocation's
    ScopedEnv e({{"SLURM_PROCID", "1"}, {"SLURM_NTASKS", "8"}, {"SLURM_STEP_NUM_TASKS", "2"}});
    EXPECT_EQ(rendezvous_from_env().world, 2);
  }
  {  // torchrun variables win over Slurm's
    ScopedEnv e({{"SLURM_PROCID", "3"}, {"SLURM_NTASKS", "8"}, {"RANK", "0"}, {"WORLD_SIZE", "2"}});
    auto r = rendezvous_from_env();
    EXPECT_EQ(r.world, 2);
    EXPECT_EQ(r.rank, 0);
  }
  {  // CL_DIST=off: one process whatever the launcher says
    ScopedEnv e({{"SLURM_PROCID", "3"}, {"SLURM_NTASKS", "8"}, {"CL_DIST", "off"}});
    EXPECT_EQ(rendezvous_from_env().world, 1);
  }
}

TEST(Rendezvous, BadValuesNameTheVariable) {
  EXPECT_NE(error_of({{"RANK", "4"}, {"WORLD_SIZE", "4"}}).find("RANK='4'"), std::string::npos);
  EXPECT_NE(error_of({{"RANK", "0"}, {"WORLD_SIZE", "two"}}).find("WORLD_SIZE='two'"), std::string::npos);
  EXPECT_NE(error_of({{"RANK", "0"}}).find("WORLD_SIZE is not"), std::string::npos);
  EXPECT_NE(error_of({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "70000"}}).find("MASTER_PORT='70000'"),
            std::string::npos);
  EXPECT_NE(error_of({{"CL_DIST_TIMEOUT", "-1"}}).find("CL_DIST_TIMEOUT='-1'"), std::string::npos);
  EXPECT_NE(error_of({{"CL_DIST", "maybe"}}).find("CL_DIST='maybe'"), std::string::npos);
}

TEST(LocalCommunicator, OperationsAreIdentities) {
  auto c = make_local_communicator();
  EXPECT_EQ(c->rank(), 0);
  EXPECT_TRUE(c->is_root());
  auto t = torch::arange(6, torch::kFloat32);
  auto before = t.clone();
  c->allreduce_(t);
  c->broadcast_(t, 0);
  EXPECT_TRUE(torch::equal(t, before));
  EXPECT_THROW(c->broadcast_(t, 1), Error);
  c->barrier();
  c->wait_for_all();
  auto g = c->allgather(t);
  ASSERT_EQ(g.size(), 1u);
  EXPECT_TRUE(torch::equal(g[0], t));
  auto b = c->allgather_blobs("abc");
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0], "abc");
}

TEST(GlooCommunicator, BuiltWithGloo) {
  // The project builds with CLOSERLOOK_GLOO=ON by default; this fails loudly if Gloo went missing.
  EXPECT_TRUE(gloo_available());
}
