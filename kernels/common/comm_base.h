// comm_base.h — the device-independent part of every backend's communicator: its NcComm derives from
// nc::CommBase (the rank, the world and the models attached to it), and the shared calls of
// comm_calls.cpp reach the backend's transport through the hooks of backend.h.
#pragma once

#include <atomic>
#include <cstdint>

#include "nanochat.h"

namespace nc {

struct CommBase {
  NcContext* ctx = nullptr;
  int32_t rank = 0, world_size = 1;
  std::atomic<int32_t> attached{0};  // models reducing over it
};

}  // namespace nc
