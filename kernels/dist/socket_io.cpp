// socket_io.cpp — POSIX sockets with poll()-based deadlines for the bootstrap store.
#include "socket_io.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

namespace nc::dist {

int64_t Deadline::remaining_ms() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(at - Clock::now()).count();
}

void close_fd(int fd) {
  if (fd >= 0) ::close(fd);
}

bool is_loopback_host(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

namespace {

// Waits until fd is readable/writable (events) or the deadline passes.
Status wait_fd(int fd, short events, Deadline deadline, const char* what) {
  for (;;) {
    int64_t left = deadline.remaining_ms();
    if (left <= 0) return DIST_ERROR(Errc::kTimeout, "%s timed out", what);
    pollfd p{fd, events, 0};
    int r = ::poll(&p, 1, (int)std::min<int64_t>(left, 1000));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return DIST_ERROR(Errc::kInternal, "%s: poll failed: %s", what, std::strerror(errno));
    if (r > 0) return Status::Ok();
  }
}

Status write_all(int fd, const char* p, size_t n, Deadline deadline) {
  while (n > 0) {
    ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      DIST_TRY(wait_fd(fd, POLLOUT, deadline, "sending to the bootstrap store"));
      continue;
    }
    if (w < 0) return DIST_ERROR(Errc::kPeerFailed, "send failed: %s", std::strerror(errno));
    p += w;
    n -= (size_t)w;
  }
  return Status::Ok();
}

Status read_all(int fd, char* p, size_t n, Deadline deadline) {
  while (n > 0) {
    DIST_TRY(wait_fd(fd, POLLIN, deadline, "waiting for the bootstrap store"));
    ssize_t r = ::recv(fd, p, n, 0);
    if (r < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    if (r < 0) return DIST_ERROR(Errc::kPeerFailed, "receive failed: %s", std::strerror(errno));
    if (r == 0) return DIST_ERROR(Errc::kPeerFailed, "connection closed by the other side");
    p += r;
    n -= (size_t)r;
  }
  return Status::Ok();
}

struct AddrInfo {
  addrinfo* list = nullptr;
  ~AddrInfo() {
    if (list) ::freeaddrinfo(list);
  }
};

Status resolve(const std::string& host, int port, bool passive, AddrInfo* out) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = passive ? AI_PASSIVE : 0;
  const std::string service = std::to_string(port);
  int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &out->list);
  if (rc != 0)
    return DIST_ERROR(Errc::kInvalidArgument, "cannot resolve host '%s': %s", host.c_str(), ::gai_strerror(rc));
  return Status::Ok();
}

}  // namespace

Status tcp_listen(const std::string& bind_host, int port, int* out_fd, int* out_port) {
  AddrInfo ai;
  DIST_TRY(resolve(bind_host, port, true, &ai));
  std::string last_err = "no address";
  // Prefer IPv4 for the wildcard: containers often have IPv6 disabled.
  for (int pass = 0; pass < 2; pass++) {
    for (addrinfo* a = ai.list; a; a = a->ai_next) {
      if ((pass == 0) != (a->ai_family == AF_INET)) continue;
      int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
      if (fd < 0) {
        last_err = std::strerror(errno);
        continue;
      }
      int one = 1;
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      if (::bind(fd, a->ai_addr, a->ai_addrlen) != 0 || ::listen(fd, 128) != 0) {
        last_err = std::strerror(errno);
        ::close(fd);
        continue;
      }
      sockaddr_storage ss{};
      socklen_t len = sizeof ss;
      ::getsockname(fd, (sockaddr*)&ss, &len);
      *out_port = ss.ss_family == AF_INET ? ntohs(((sockaddr_in*)&ss)->sin_port)
                                          : ntohs(((sockaddr_in6*)&ss)->sin6_port);
      *out_fd = fd;
      return Status::Ok();
    }
  }
  return DIST_ERROR(Errc::kInternal, "cannot listen on '%s' port %d: %s", bind_host.c_str(), port, last_err.c_str());
}

Status tcp_connect(const std::string& host, int port, Deadline deadline, int* out_fd) {
  AddrInfo ai;
  DIST_TRY(resolve(host, port, false, &ai));
  std::string last_err = "no address";
  for (;;) {
    for (addrinfo* a = ai.list; a; a = a->ai_next) {
      int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
      if (fd < 0) {
        last_err = std::strerror(errno);
        continue;
      }
      if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
        int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        *out_fd = fd;
        return Status::Ok();
      }
      last_err = std::strerror(errno);
      ::close(fd);
    }
    if (deadline.remaining_ms() <= 0)
      return DIST_ERROR(Errc::kTimeout, "cannot connect to the bootstrap store at %s:%d: %s", host.c_str(), port,
                        last_err.c_str());
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

Status send_frame(int fd, const std::string& payload, Deadline deadline) {
  if (payload.size() > kMaxFrameBytes)
    return DIST_ERROR(Errc::kInvalidArgument, "bootstrap message of %zu bytes is too large", payload.size());
  const uint32_t n = (uint32_t)payload.size();
  const char hdr[4] = {(char)(n & 0xff), (char)((n >> 8) & 0xff), (char)((n >> 16) & 0xff), (char)(n >> 24)};
  DIST_TRY(write_all(fd, hdr, 4, deadline));
  return write_all(fd, payload.data(), payload.size(), deadline);
}

Status recv_frame(int fd, std::string* payload, Deadline deadline) {
  unsigned char hdr[4];
  DIST_TRY(read_all(fd, (char*)hdr, 4, deadline));
  const uint32_t n = hdr[0] | (hdr[1] << 8) | (hdr[2] << 16) | ((uint32_t)hdr[3] << 24);
  if (n > kMaxFrameBytes)
    return DIST_ERROR(Errc::kBootstrap, "bootstrap peer sent a %u-byte frame (not a nanochat store?)", n);
  payload->resize(n);
  return read_all(fd, payload->data(), n, deadline);
}

Status local_address(int fd, std::string* out_host) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, (sockaddr*)&ss, &len) != 0)
    return DIST_ERROR(Errc::kInternal, "getsockname failed: %s", std::strerror(errno));
  char buf[INET6_ADDRSTRLEN] = {0};
  const void* src = ss.ss_family == AF_INET ? (const void*)&((sockaddr_in*)&ss)->sin_addr
                                            : (const void*)&((sockaddr_in6*)&ss)->sin6_addr;
  if (!::inet_ntop(ss.ss_family, src, buf, sizeof buf))
    return DIST_ERROR(Errc::kInternal, "inet_ntop failed: %s", std::strerror(errno));
  *out_host = buf;
  // An IPv4 peer reached through a dual-stack socket shows up as ::ffff:a.b.c.d.
  if (out_host->rfind("::ffff:", 0) == 0 && out_host->find('.') != std::string::npos) *out_host = out_host->substr(7);
  return Status::Ok();
}

}  // namespace nc::dist
