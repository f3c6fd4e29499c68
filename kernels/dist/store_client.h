// store_client.h — a rank's connection to the bootstrap store, as the gloo::rendezvous::Store that Gloo's
// connectFullMesh() uses to swap transport addresses. Failures are thrown as gloo::IoException (what Gloo
// expects of a store); the communicator catches them.
#pragma once

#include <gloo/rendezvous/store.h>

#include <chrono>
#include <string>
#include <vector>

#include "socket_io.h"
#include "status.h"
#include "unique_id.h"

namespace nc::dist {

class BootstrapStore : public gloo::rendezvous::Store {
 public:
  ~BootstrapStore() override;

  // Connects to the store named by `addr` and says hello as `rank` of `world_size` (the store checks the
  // nonce, the rank and that every rank agrees on the world size). Everything must finish by `deadline`.
  Status connect(const BootstrapAddress& addr, int rank, int world_size, Deadline deadline);

  // This end's address on the connection: the interface that reaches rank 0's host.
  const std::string& local_host() const { return local_host_; }

  // Tells the store this rank has finished connecting (it stops after the last rank).
  Status done();

  // The failure behind the last exception thrown to Gloo (ok if none), with its original code.
  const Status& last_failure() const { return last_failure_; }

  void set(const std::string& key, const std::vector<char>& data) override;
  std::vector<char> get(const std::string& key) override;
  void wait(const std::vector<std::string>& keys) override;
  void wait(const std::vector<std::string>& keys, const std::chrono::milliseconds& timeout) override;

 private:
  // One request and its reply; a reply 'E' becomes kBootstrap with the store's message.
  Status request(const std::string& req, std::string* reply, Deadline deadline);
  Status get_value(const std::string& key, std::chrono::milliseconds timeout, std::string* value);
  // Records `st` and throws it as the gloo::IoException Gloo expects from a store.
  [[noreturn]] void fail(const Status& st);

  int fd_ = -1;
  Deadline deadline_{};
  std::string where_;  // "host:port" for messages
  std::string local_host_;
  Status last_failure_;
};

}  // namespace nc::dist
