// store_client.cpp — the rank side of the bootstrap store protocol (store_protocol.h).
#include "store_client.h"

#include <gloo/common/error.h>

#include <algorithm>

#include "store_protocol.h"

namespace nc::dist {

BootstrapStore::~BootstrapStore() { close_fd(fd_); }

Status BootstrapStore::request(const std::string& req, std::string* reply, Deadline deadline) {
  Status st = send_frame(fd_, req, deadline);
  if (st.ok()) st = recv_frame(fd_, reply, deadline);
  if (!st.ok()) {
    if (st.code == Errc::kPeerFailed)
      return DIST_ERROR(Errc::kPeerFailed, "bootstrap store at %s went away (rank 0 exited?): %s", where_.c_str(),
                        st.message.c_str());
    return st;
  }
  if (reply->empty()) return DIST_ERROR(Errc::kBootstrap, "empty reply from the bootstrap store at %s", where_.c_str());
  if ((*reply)[0] == 'E') {
    // The store's waits end in "timed out ..."; everything else it says is a refusal.
    const bool timeout = reply->compare(1, 9, "timed out") == 0;
    return DIST_ERROR(timeout ? Errc::kTimeout : Errc::kBootstrap, "bootstrap store at %s: %s", where_.c_str(),
                      reply->c_str() + 1);
  }
  return Status::Ok();
}

Status BootstrapStore::connect(const BootstrapAddress& addr, int rank, int world_size, Deadline deadline) {
  deadline_ = deadline;
  where_ = addr.host + ":" + std::to_string(addr.port);
  DIST_TRY(tcp_connect(addr.host, addr.port, deadline, &fd_));
  DIST_TRY(local_address(fd_, &local_host_));
  std::string hello = "H";
  hello.append((const char*)addr.nonce, kNonceBytes);
  store_msg::put_u32(&hello, (uint32_t)rank);
  store_msg::put_u32(&hello, (uint32_t)world_size);
  std::string reply;
  return request(hello, &reply, deadline);
}

Status BootstrapStore::done() {
  std::string reply;
  return request("D", &reply, deadline_);
}

Status BootstrapStore::get_value(const std::string& key, std::chrono::milliseconds timeout, std::string* value) {
  const int64_t left = std::max<int64_t>(0, std::min<int64_t>(timeout.count(), deadline_.remaining_ms()));
  std::string req = "G";
  store_msg::put_u32(&req, (uint32_t)left);
  req += key;
  // The store answers by `left`; allow a moment more for the reply to arrive.
  DIST_TRY(request(req, value, Deadline::after(std::chrono::milliseconds(left + 2000))));
  value->erase(0, 1);
  return Status::Ok();
}

void BootstrapStore::fail(const Status& st) {
  last_failure_ = st;
  throw gloo::IoException(st.message);
}

void BootstrapStore::set(const std::string& key, const std::vector<char>& data) {
  std::string req = "S";
  store_msg::put_u32(&req, (uint32_t)key.size());
  req += key;
  req.append(data.data(), data.size());
  std::string reply;
  Status st = request(req, &reply, deadline_);
  if (!st.ok()) fail(st);
}

std::vector<char> BootstrapStore::get(const std::string& key) {
  std::string value;
  Status st = get_value(key, std::chrono::milliseconds(deadline_.remaining_ms()), &value);
  if (!st.ok()) fail(st);
  return std::vector<char>(value.begin(), value.end());
}

void BootstrapStore::wait(const std::vector<std::string>& keys) {
  wait(keys, std::chrono::milliseconds(deadline_.remaining_ms()));
}

void BootstrapStore::wait(const std::vector<std::string>& keys, const std::chrono::milliseconds& timeout) {
  const Deadline until = Deadline::after(timeout);
  for (const std::string& key : keys) {
    std::string value;
    Status st = get_value(key, std::chrono::milliseconds(until.remaining_ms()), &value);
    if (!st.ok()) fail(st);
  }
}

}  // namespace nc::dist
