// pipe_io.h — the blocking pipe reads and writes of the fork-based rank runners (ranks.cpp here and
// kernels/tests/dist/world.cpp): a rank's id travels to the others and its result back over pipes.
#pragma once

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>

namespace pipe_io {

// Writes all n bytes (retrying interrupted writes); false once the pipe fails.
inline bool write_all(int fd, const void* p, size_t n) {
  const char* c = (const char*)p;
  while (n > 0) {
    const ssize_t w = ::write(fd, c, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    c += w;
    n -= (size_t)w;
  }
  return true;
}

// Reads exactly n bytes; false on end of file, an error, or timeout_ms without data.
inline bool read_exact(int fd, void* p, size_t n, int timeout_ms) {
  char* c = (char*)p;
  while (n > 0) {
    pollfd pf{fd, POLLIN, 0};
    if (::poll(&pf, 1, timeout_ms) <= 0) return false;
    const ssize_t r = ::read(fd, c, n);
    if (r <= 0) return false;
    c += r;
    n -= (size_t)r;
  }
  return true;
}

}  // namespace pipe_io
