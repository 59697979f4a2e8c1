// Communicator on c10d::ProcessGroupGloo (CPU tensors over TCP) with a c10d::TCPStore hosted by
// rank 0 for the rendezvous. Two process groups share the store: one with the short operation
// timeout (training steps) and one with the long wait timeout (wait_for_all after shards).
#pragma once
#include <memory>

#include "dist/communicator.h"
#include "dist/rendezvous.h"

namespace closerlook {

// True when this binary was built with c10d Gloo support (CLOSERLOOK_GLOO=ON).
bool gloo_available();

// Blocks until all r.world ranks have joined (at most r.timeout). Error(Io) on failure.
std::unique_ptr<Communicator> make_gloo_communicator(const Rendezvous& r);

}  // namespace closerlook
