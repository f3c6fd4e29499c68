// store_server.cpp — the bootstrap store: an accept thread plus one thread per connected rank, sharing a
// key-value map under a mutex. Ranks are few (one per device), so threads are simpler than an event loop.
#include "store_server.h"

#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <condition_variable>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "socket_io.h"
#include "store_protocol.h"

namespace nc::dist {

namespace {

using std::chrono::milliseconds;
constexpr milliseconds kPollSlice{100};

class StoreServer {
 public:
  StoreServer(int listen_fd, const uint8_t nonce[kNonceBytes], milliseconds lifetime)
      : listen_fd_(listen_fd), lifetime_(lifetime), deadline_(Deadline::after(lifetime)) {
    std::memcpy(nonce_, nonce, kNonceBytes);
  }
  ~StoreServer() {
    stop();
    if (accept_thread_.joinable())
      accept_thread_.join();
    else
      close_fd(listen_fd_);  // never started
  }

  void run_async() { accept_thread_ = std::thread([this] { accept_loop(); }); }
  bool finished() const { return finished_.load(); }
  void stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
  }

 private:
  bool should_stop() {
    std::lock_guard<std::mutex> lock(mu_);
    return stopping_ || deadline_.passed();
  }

  void accept_loop() {
    std::vector<std::thread> handlers;
    while (!should_stop()) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, (int)kPollSlice.count()) <= 0) continue;
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      handlers.emplace_back([this, fd] {
        serve(fd);
        close_fd(fd);
      });
    }
    close_fd(listen_fd_);
    stop();  // wake handlers blocked in a get
    for (auto& t : handlers) t.join();
    finished_ = true;
  }

  // Which ranks have not said hello yet, as "1, 3" (for timeout messages). Caller holds mu_.
  std::string missing_ranks() const {
    std::string s;
    int n = 0;
    for (size_t r = 0; r < joined_.size(); r++)
      if (!joined_[r]) s += (n++ ? ", " : "") + std::to_string(r);
    return n ? s : "none";
  }

  std::string handle(const std::string& req, int* rank) {
    if (req.empty()) return "Eempty request";
    size_t pos = 1;
    const char op = req[0];
    if (op == 'H') {
      uint32_t r = 0, world = 0;
      if (req.size() != 1 + kNonceBytes + 8) return "Emalformed hello";
      if (std::memcmp(req.data() + 1, nonce_, kNonceBytes) != 0)
        return "Ethis store belongs to another run: the communicator id is stale or from another job";
      pos += kNonceBytes;
      store_msg::get_u32(req, &pos, &r);
      store_msg::get_u32(req, &pos, &world);
      std::lock_guard<std::mutex> lock(mu_);
      if (world_ == 0) {
        world_ = (int)world;
        joined_.assign(world, false);
      }
      if ((int)world != world_)
        return "Erank " + std::to_string(r) + " says the world size is " + std::to_string(world) +
               " but rank " + std::to_string(first_rank_) + " said " + std::to_string(world_) +
               ": start every rank with the same world size";
      if (r >= world) return "Erank " + std::to_string(r) + " is outside 0.." + std::to_string(world - 1);
      if (joined_[r]) return "Erank " + std::to_string(r) + " joined twice: two processes were given the same rank";
      if (first_rank_ < 0) first_rank_ = (int)r;
      joined_[r] = true;
      *rank = (int)r;
      return "O";
    }
    if (*rank < 0) return "Ehello first";
    if (op == 'S') {
      uint32_t klen = 0;
      if (!store_msg::get_u32(req, &pos, &klen) || pos + klen > req.size()) return "Emalformed set";
      {
        std::lock_guard<std::mutex> lock(mu_);
        kv_[req.substr(pos, klen)] = req.substr(pos + klen);
      }
      cv_.notify_all();
      return "O";
    }
    if (op == 'G') {
      uint32_t timeout_ms = 0;
      if (!store_msg::get_u32(req, &pos, &timeout_ms)) return "Emalformed get";
      const std::string key = req.substr(pos);
      const Deadline get_deadline = Deadline::after(milliseconds(timeout_ms));
      std::unique_lock<std::mutex> lock(mu_);
      const auto until = std::min(get_deadline.at, deadline_.at);
      cv_.wait_until(lock, until, [&] { return stopping_ || kv_.count(key) > 0 || Clock::now() >= until; });
      auto it = kv_.find(key);
      if (it != kv_.end()) return "V" + it->second;
      const std::string who = "ranks not yet connected to the bootstrap store: " + missing_ranks() + " (of " +
                              std::to_string(world_) + ")";
      if (deadline_.passed())
        return "Etimed out: the bootstrap window of " + std::to_string(lifetime_.count()) + " ms closed; " + who;
      return "Etimed out after " + std::to_string(timeout_ms) + " ms waiting for key '" + key + "'; " + who;
    }
    if (op == 'D') {
      std::lock_guard<std::mutex> lock(mu_);
      if (++done_ == world_) stopping_ = true;
      cv_.notify_all();
      return "O";
    }
    return "Eunknown request";
  }

  void serve(int fd) {
    int rank = -1;
    while (!should_stop()) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, (int)kPollSlice.count()) <= 0) continue;
      std::string req;
      if (!recv_frame(fd, &req, deadline_).ok()) return;  // the rank went away
      const std::string reply = handle(req, &rank);
      if (!send_frame(fd, reply, deadline_).ok() || reply[0] == 'E') return;
    }
  }

  const int listen_fd_;
  const milliseconds lifetime_;
  uint8_t nonce_[kNonceBytes];
  std::mutex mu_;
  std::condition_variable cv_;
  const Deadline deadline_;
  bool stopping_ = false;
  int world_ = 0;
  int first_rank_ = -1;
  int done_ = 0;
  std::vector<bool> joined_;
  std::map<std::string, std::string> kv_;
  std::thread accept_thread_;
  std::atomic<bool> finished_{false};
};

// Owns every store of the process; finished ones are reaped on the next start, the rest at exit.
struct Registry {
  std::mutex mu;
  std::list<std::unique_ptr<StoreServer>> servers;
  void reap() {
    servers.remove_if([](const std::unique_ptr<StoreServer>& s) { return s->finished(); });
  }
};

Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace

Status start_store_server(const std::string& bind_host, std::chrono::milliseconds lifetime, BootstrapAddress* addr) {
  if (lifetime.count() <= 0) return DIST_ERROR(Errc::kInvalidArgument, "the bootstrap lifetime must be positive");
  DIST_TRY(random_nonce(addr->nonce));
  int fd = -1, port = 0;
  DIST_TRY(tcp_listen(bind_host, 0, &fd, &port));
  addr->port = port;
  try {
    auto server = std::make_unique<StoreServer>(fd, addr->nonce, lifetime);
    fd = -1;  // the server closes it from now on
    server->run_async();
    Registry& reg = registry();
    std::lock_guard<std::mutex> lock(reg.mu);
    reg.reap();
    reg.servers.push_back(std::move(server));
  } catch (const std::exception& e) {
    close_fd(fd);
    return DIST_ERROR(Errc::kInternal, "cannot start the bootstrap store: %s", e.what());
  }
  return Status::Ok();
}

int running_store_servers() {
  Registry& reg = registry();
  std::lock_guard<std::mutex> lock(reg.mu);
  reg.reap();
  return (int)reg.servers.size();
}

}  // namespace nc::dist
