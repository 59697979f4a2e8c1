// Who am I and where do I meet the others: rank, world size and the master's address, read from
// the launcher's environment, then connected into a Communicator.
//
//   torchrun convention  RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT (also set by hand in a shell loop)
//   Slurm (srun)         SLURM_PROCID, SLURM_STEP_NUM_TASKS (else SLURM_NTASKS); MASTER_ADDR and
//                        MASTER_PORT from the environment, default 127.0.0.1:29500
//   neither              one process (rank 0 of 1); nothing is opened
// RANK/WORLD_SIZE win over Slurm's variables. CL_DIST=off forces one process whatever the
// environment says (e.g. a single task inside a multi-task allocation).
//
// Timeouts (seconds, environment or fields below):
//   CL_DIST_TIMEOUT       rendezvous and every training-step collective (default 60): a peer that
//                         died or hangs makes the others fail with a closerlook::Error within it
//   CL_DIST_WAIT_TIMEOUT  wait_for_all() after independent work such as plane shards (default 21600)
// Network: GLOO_SOCKET_IFNAME picks the interface Gloo binds to (as in PyTorch); otherwise a
// loopback MASTER_ADDR binds to 127.0.0.1 and any other to this host's resolved name.
#pragma once
#include <chrono>
#include <memory>
#include <string>

#include "dist/communicator.h"

namespace closerlook {

struct Rendezvous {
  int rank = 0, world = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  std::chrono::milliseconds timeout{60'000};
  std::chrono::milliseconds wait_timeout{21'600'000};
  std::string ifname;   // GLOO_SOCKET_IFNAME; empty = choose from master_addr
  std::string source;   // "single", "torchrun env", "slurm env": for messages
  std::string describe() const;
};

// Reads the environment (see above). Error(BadInput) names the variable and value at fault
// (non-numeric, RANK >= WORLD_SIZE, port out of range, ...).
Rendezvous rendezvous_from_env();

// world == 1: a Local communicator. Otherwise a Gloo one (Error(BadInput) on a build without
// Gloo; Error(Io) naming the address when the peers do not all arrive within the timeout).
std::unique_ptr<Communicator> connect(const Rendezvous& r);

// connect(rendezvous_from_env()).
std::unique_ptr<Communicator> connect_from_env();

}  // namespace closerlook
