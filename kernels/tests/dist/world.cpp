// world.cpp — the fork-based runner of world.h.
#include "world.h"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "pipe_io.h"

namespace world_test {

namespace {

double now_seconds() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

using pipe_io::read_exact;
using pipe_io::write_all;

std::string read_all(int fd) {
  std::string s;
  char buf[4096];
  for (;;) {
    const ssize_t r = ::read(fd, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    s.append(buf, (size_t)r);
  }
  return s;
}

}  // namespace

NcCommOptions loopback_options(int64_t timeout_ms) {
  NcCommOptions o;
  std::memset(&o, 0, sizeof o);
  std::snprintf(o.advertise_host, sizeof o.advertise_host, "127.0.0.1");
  std::snprintf(o.transport_host, sizeof o.transport_host, "127.0.0.1");
  o.timeout_ms = timeout_ms;
  return o;
}

std::vector<Outcome> run_world(int world, const Body& body, const WorldOptions& options) {
  const int spawn = options.spawn < 0 ? world : options.spawn;
  std::vector<int> id_pipe_r(world, -1), id_pipe_w(world, -1), res_r(world, -1), res_w(world, -1);
  for (int r = 0; r < spawn; r++) {
    int p[2];
    if (::pipe(p) == 0) {
      id_pipe_r[r] = p[0];
      id_pipe_w[r] = p[1];
    }
    if (::pipe(p) == 0) {
      res_r[r] = p[0];
      res_w[r] = p[1];
    }
  }
  const NcCommOptions opts = loopback_options(options.timeout_ms);
  const double t0 = now_seconds();
  std::vector<pid_t> pids(world, -1);
  for (int r = 0; r < spawn; r++) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      std::string msg;
      NcCommId id;
      std::memset(&id, 0, sizeof id);
      if (r == 0) {
        if (nc_comm_id_create(&opts, &id) != NC_OK) msg = std::string("nc_comm_id_create: ") + nc_last_error(nullptr);
        for (int q = 1; q < spawn; q++) write_all(id_pipe_w[q], id.bytes, sizeof id.bytes);
      } else if (!read_exact(id_pipe_r[r], id.bytes, sizeof id.bytes, 30000)) {
        msg = "rank " + std::to_string(r) + " never received the id";
      }
      if (msg.empty()) msg = body(r, world, id, opts);
      write_all(res_w[r], msg.data(), msg.size());
      ::_exit(msg.empty() ? 0 : 1);
    }
    pids[r] = pid;
    ::close(res_w[r]);
  }
  std::vector<Outcome> out(world);
  std::vector<int> wait_for = options.wait_for;
  if (wait_for.empty())
    for (int r = 0; r < spawn; r++) wait_for.push_back(r);
  std::vector<bool> done(world, false);
  auto reap = [&](int r, int status) {
    out[r].seconds = now_seconds() - t0;
    out[r].exited = WIFEXITED(status);
    out[r].code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    out[r].message = read_all(res_r[r]);
    done[r] = true;
  };
  for (;;) {
    bool all = true;
    for (int r : wait_for) {
      if (done[r]) continue;
      int status = 0;
      if (::waitpid(pids[r], &status, WNOHANG) == pids[r])
        reap(r, status);
      else
        all = false;
    }
    if (all || now_seconds() - t0 > options.watchdog_seconds) break;
    ::usleep(5000);
  }
  for (int r = 0; r < spawn; r++) {
    if (done[r]) continue;
    ::kill(pids[r], SIGKILL);
    int status = 0;
    ::waitpid(pids[r], &status, 0);
    reap(r, status);
    if (std::find(wait_for.begin(), wait_for.end(), r) != wait_for.end()) out[r].message += " [killed by the watchdog]";
  }
  for (int r = 0; r < spawn; r++) {
    ::close(id_pipe_r[r]);
    ::close(id_pipe_w[r]);
    ::close(res_r[r]);
  }
  return out;
}

std::string describe(const std::vector<Outcome>& outcomes) {
  std::string s;
  for (size_t r = 0; r < outcomes.size(); r++) {
    const Outcome& o = outcomes[r];
    s += "rank " + std::to_string(r) + (o.exited ? ": exit " + std::to_string(o.code) : ": killed") + " after " +
         std::to_string(o.seconds) + " s" + (o.message.empty() ? "" : ": " + o.message) + "\n";
  }
  return s;
}

}  // namespace world_test
