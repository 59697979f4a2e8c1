#include "dist/rendezvous.h"

#include <cerrno>
#include <cstdlib>
#include <fmt/format.h>

#include "core/error.h"
#include "dist/gloo_communicator.h"

namespace closerlook {

namespace {

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return (v && *v) ? v : nullptr;
}

// A whole-string integer in [lo, hi], or Error(BadInput) naming the variable.
long long env_int(const char* name, const char* value, long long lo, long long hi) {
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(value, &end, 10);
  if (errno != 0 || end == value || *end != '\0' || v < lo || v > hi)
    throw_bad_input(fmt::format("environment variable {}='{}': expected an integer in [{}, {}]", name, value, lo, hi));
  return v;
}

std::chrono::milliseconds env_seconds(const char* name, std::chrono::milliseconds fallback) {
  const char* v = env(name);
  if (!v) return fallback;
  char* end = nullptr;
  const double s = std::strtod(v, &end);
  if (end == v || *end != '\0' || !(s > 0) || s > 1e7)
    throw_bad_input(fmt::format("environment variable {}='{}': expected a positive number of seconds", name, v));
  return std::chrono::milliseconds(static_cast<long long>(s * 1000));
}

}  // namespace

std::string Rendezvous::describe() const {
  if (world == 1) return "one process";
  return fmt::format("rank {} of {} via {}:{} ({}, timeout {} s)", rank, world, master_addr, master_port, source,
                     timeout.count() / 1000.0);
}

Rendezvous rendezvous_from_env() {
  Rendezvous r;
  r.source = "single";
  if (const char* off = env("CL_DIST")) {
    const std::string s = off;
    if (s == "off" || s == "0") return r;
    CL_CHECK_INPUT(s == "on" || s == "1", "environment variable CL_DIST='" + s + "': expected on or off");
  }
  const char *rank = env("RANK"), *world = env("WORLD_SIZE");
  if (rank || world) {
    CL_CHECK_INPUT(rank && world, std::string("environment: ") + (rank ? "RANK" : "WORLD_SIZE") + " is set but " +
                                      (rank ? "WORLD_SIZE" : "RANK") + " is not (torchrun convention needs both)");
    r.world = static_cast<int>(env_int("WORLD_SIZE", world, 1, 1 << 20));
    r.rank = static_cast<int>(env_int("RANK", rank, 0, r.world - 1));
    r.source = "torchrun env";
  } else if (const char* procid = env("SLURM_PROCID")) {
    const char* wname = env("SLURM_STEP_NUM_TASKS") ? "SLURM_STEP_NUM_TASKS" : "SLURM_NTASKS";
    const char* w = env(wname);
    if (w) {
      r.world = static_cast<int>(env_int(wname, w, 1, 1 << 20));
      r.rank = static_cast<int>(env_int("SLURM_PROCID", procid, 0, r.world - 1));
      r.source = "slurm env";
    }
  }
  if (const char* a = env("MASTER_ADDR")) r.master_addr = a;
  if (const char* p = env("MASTER_PORT")) r.master_port = static_cast<int>(env_int("MASTER_PORT", p, 1, 65535));
  if (const char* i = env("GLOO_SOCKET_IFNAME")) r.ifname = i;
  r.timeout = env_seconds("CL_DIST_TIMEOUT", r.timeout);
  r.wait_timeout = env_seconds("CL_DIST_WAIT_TIMEOUT", r.wait_timeout);
  return r;
}

std::unique_ptr<Communicator> connect(const Rendezvous& r) {
  CL_CHECK_INPUT(r.world >= 1 && r.rank >= 0 && r.rank < r.world,
                 fmt::format("rendezvous: rank {} outside a world of {}", r.rank, r.world));
  if (r.world == 1) return make_local_communicator();
  if (!gloo_available())
    throw_bad_input(fmt::format("rendezvous: {} processes requested ({}) but this closerlook was built without "
                                "Gloo (configure with -DCLOSERLOOK_GLOO=ON and libgloo-dev installed)",
                                r.world, r.source));
  return make_gloo_communicator(r);
}

std::unique_ptr<Communicator> connect_from_env() { return connect(rendezvous_from_env()); }

}  // namespace closerlook
