// store_server.h — the bootstrap key-value store that rank 0's make_unique_id() starts (protocol in
// store_protocol.h). It runs on its own threads, stops when every rank has finished connecting or when
// its lifetime ends, and is joined at process exit at the latest.
#pragma once

#include <chrono>
#include <string>

#include "status.h"
#include "unique_id.h"

namespace nc::dist {

// Starts a store listening on `bind_host` ("" = every interface) at an ephemeral port for `lifetime`,
// with a fresh nonce. Fills addr->port and addr->nonce (addr->host is left for the caller to set to the
// name other ranks should use).
Status start_store_server(const std::string& bind_host, std::chrono::milliseconds lifetime, BootstrapAddress* addr);

// Number of stores of this process still running (for tests: they must go away on their own).
int running_store_servers();

}  // namespace nc::dist
