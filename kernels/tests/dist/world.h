// world.h — runs a test body as N real processes of the cpu backend joined by its communicator, using
// nothing but nanochat.h: rank 0's process makes the id with nc_comm_id_create (starting the bootstrap
// store on 127.0.0.1) and pipes its 128 bytes to the others, as the launcher's rendezvous does. Each
// process runs the body and reports "" (pass) or what went wrong; the parent, which never touches the
// library before forking, collects exits and kills what outlives the watchdog.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "nanochat.h"

namespace world_test {

struct Outcome {
  bool exited = false;  // false: killed by a signal (or by the watchdog)
  int code = -1;
  std::string message;  // the body's report
  double seconds = 0;   // from the start until this process ended
};

struct WorldOptions {
  int64_t timeout_ms = 20000;   // NcCommOptions.timeout_ms for the id and every rank's communicator
  std::vector<int> wait_for;    // ranks whose end the run waits for (default all); the rest are killed
  int spawn = -1;               // ranks 0..spawn-1 are started (default all)
  double watchdog_seconds = 60;
};

// The body runs in rank `rank`'s process with the id; returns "" on success.
using Body = std::function<std::string(int rank, int world, const NcCommId& id, const NcCommOptions& opts)>;

std::vector<Outcome> run_world(int world, const Body& body, const WorldOptions& options = {});
std::string describe(const std::vector<Outcome>& outcomes);

// NcCommOptions for 127.0.0.1 with the given timeout.
NcCommOptions loopback_options(int64_t timeout_ms);

}  // namespace world_test
