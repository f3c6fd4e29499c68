// socket_io.h — small blocking TCP helpers with deadlines for the bootstrap store (not for collectives,
// which travel over Gloo's transport): listen, connect with retry, length-prefixed frames, the local
// address of a connection. Writes use MSG_NOSIGNAL, so a closed peer is an error, never SIGPIPE.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "status.h"

namespace nc::dist {

using Clock = std::chrono::steady_clock;

// A point in time after which an operation gives up.
struct Deadline {
  Clock::time_point at;
  static Deadline after(std::chrono::milliseconds d) { return {Clock::now() + d}; }
  int64_t remaining_ms() const;  // <= 0 once passed
  bool passed() const { return remaining_ms() <= 0; }
};

// Largest frame the store accepts (Gloo's addresses are a few hundred bytes per rank).
inline constexpr uint32_t kMaxFrameBytes = 16u << 20;

// Listens on `bind_host` (numeric or name; "" = every interface) at `port` (0 = an ephemeral port).
Status tcp_listen(const std::string& bind_host, int port, int* out_fd, int* out_port);

// Connects to host:port, retrying refused connections until the deadline (the server may start late).
Status tcp_connect(const std::string& host, int port, Deadline deadline, int* out_fd);

// Frames are a little-endian uint32 length followed by that many bytes.
Status send_frame(int fd, const std::string& payload, Deadline deadline);
// kTimeout when the deadline passes first; kPeerFailed when the peer closes the connection.
Status recv_frame(int fd, std::string* payload, Deadline deadline);

// The numeric address of this end of a connected socket, e.g. "10.0.0.5" (the interface that reaches the
// peer, which is how a rank picks the address it advertises to the others).
Status local_address(int fd, std::string* out_host);

// True for "localhost", 127.x.x.x and ::1.
bool is_loopback_host(const std::string& host);

void close_fd(int fd);

}  // namespace nc::dist
