// ranks.h — runs a test body as N real processes on 127.0.0.1: rank 0's process makes the communicator
// id (starting the bootstrap store) and pipes it to the others, every process runs the body, and the
// parent collects each rank's exit and message. Processes are forked before any thread exists in the
// parent, so Gloo's threads only ever run in the children.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "comm.h"

namespace dist_test {

struct RankOutcome {
  bool exited = false;    // false: killed (by a signal, or by the watchdog)
  int code = -1;          // exit code when exited
  int signal = 0;         // the signal when killed
  std::string message;    // what the body returned ("" = pass)
  double seconds = 0;     // from the start of the run to this process's end
};

struct RunOptions {
  int spawn = -1;                              // ranks 0..spawn-1 are started (default: all)
  std::vector<int> wait_for;                   // ranks whose end the run waits for (default: all started)
  std::chrono::milliseconds watchdog{60000};   // then every remaining process is killed
  std::chrono::milliseconds id_valid_for{30000};
};

// The body returns "" on success or a description of what went wrong.
using RankBody = std::function<std::string(int rank, const nc::dist::UniqueId& id)>;

std::vector<RankOutcome> run_ranks(int world, const RankBody& body, const RunOptions& options = {});

// A readable summary of outcomes for assertion messages.
std::string describe(const std::vector<RankOutcome>& outcomes);

// Joins as `rank` of `world` with `timeout`; returns "" or the failure text.
std::string join(const nc::dist::UniqueId& id, int rank, int world, std::chrono::milliseconds timeout,
                 std::unique_ptr<nc::dist::Communicator>* out);

}  // namespace dist_test
