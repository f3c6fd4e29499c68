// ranks.cpp — fork-based multi-process runner for the communicator tests (see ranks.h).
#include "ranks.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <thread>

#include "pipe_io.h"

namespace dist_test {

using nc::dist::UniqueId;
using Clock = std::chrono::steady_clock;

namespace {

using pipe_io::read_exact;
using pipe_io::write_all;

[[noreturn]] void child(int rank, int world, const RankBody& body, const RunOptions& opt, int id_read_fd,
                        const std::vector<int>& id_write_fds, int result_fd) {
  std::string msg;
  UniqueId id{};
  if (rank == 0) {
    nc::dist::Status st = nc::dist::make_gloo_unique_id("127.0.0.1", opt.id_valid_for, &id);
    if (!st.ok()) msg = "make_gloo_unique_id: " + st.message;
    for (int fd : id_write_fds)
      if (fd >= 0) write_all(fd, id.bytes, sizeof id.bytes);
  } else if (!read_exact(id_read_fd, id.bytes, sizeof id.bytes, 30000)) {
    msg = "rank " + std::to_string(rank) + " never received the id from rank 0";
  }
  if (msg.empty()) msg = body(rank, id);
  write_all(result_fd, msg.data(), msg.size());
  ::close(result_fd);
  ::_exit(msg.empty() ? 0 : 1);
  (void)world;
}

}  // namespace

std::string join(const UniqueId& id, int rank, int world, std::chrono::milliseconds timeout,
                 std::unique_ptr<nc::dist::Communicator>* out) {
  nc::dist::CommOptions opts;
  opts.timeout = timeout;
  nc::dist::Status st = nc::dist::create_gloo_communicator(id, rank, world, opts, out);
  return st.ok() ? "" : "create_gloo_communicator: " + st.message;
}

std::vector<RankOutcome> run_ranks(int world, const RankBody& body, const RunOptions& opt) {
  const int spawn = opt.spawn < 0 ? world : opt.spawn;
  std::vector<int> id_pipe_r(spawn, -1), id_pipe_w(spawn, -1), res_r(spawn, -1), res_w(spawn, -1);
  for (int r = 0; r < spawn; r++) {
    int p[2];
    if (r > 0 && ::pipe2(p, O_CLOEXEC) == 0) {
      id_pipe_r[r] = p[0];
      id_pipe_w[r] = p[1];
    }
    if (::pipe2(p, O_CLOEXEC) == 0) {
      res_r[r] = p[0];
      res_w[r] = p[1];
    }
  }
  const auto start = Clock::now();
  std::vector<pid_t> pids(spawn, -1);
  for (int r = 0; r < spawn; r++) {
    pid_t pid = ::fork();
    if (pid == 0) {
      // Keep only this child's ends of the pipes.
      for (int q = 0; q < spawn; q++) {
        if (q != r) {
          ::close(res_r[q]);
          ::close(res_w[q]);
        }
        if (q != r) ::close(id_pipe_r[q]);
        if (r != 0) ::close(id_pipe_w[q]);
      }
      ::close(res_r[r]);
      child(r, world, body, opt, id_pipe_r[r], r == 0 ? id_pipe_w : std::vector<int>{}, res_w[r]);
    }
    pids[r] = pid;
  }
  for (int r = 0; r < spawn; r++) {
    ::close(res_w[r]);
    ::close(id_pipe_r[r]);
    ::close(id_pipe_w[r]);
  }

  std::vector<RankOutcome> out(spawn);
  std::vector<bool> done(spawn, false);
  std::vector<int> wait_for = opt.wait_for;
  if (wait_for.empty())
    for (int r = 0; r < spawn; r++) wait_for.push_back(r);
  auto reap = [&](int r, int flags) {
    if (done[r] || pids[r] < 0) return;
    int status = 0;
    if (::waitpid(pids[r], &status, flags) != pids[r]) return;
    done[r] = true;
    out[r].seconds = std::chrono::duration<double>(Clock::now() - start).count();
    out[r].exited = WIFEXITED(status);
    out[r].code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    out[r].signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(res_r[r], buf, sizeof buf)) > 0) out[r].message.append(buf, (size_t)n);
    ::close(res_r[r]);
  };
  for (;;) {
    bool all = true;
    for (int r : wait_for) {
      reap(r, WNOHANG);
      all = all && done[r];
    }
    for (int r = 0; r < spawn; r++) reap(r, WNOHANG);
    if (all || Clock::now() - start > opt.watchdog) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (int r = 0; r < spawn; r++) {
    if (done[r] || pids[r] < 0) continue;
    ::kill(pids[r], SIGKILL);
    reap(r, 0);
    if (out[r].message.empty()) out[r].message = "(killed by the test runner)";
  }
  return out;
}

std::string describe(const std::vector<RankOutcome>& outcomes) {
  std::string s;
  for (size_t r = 0; r < outcomes.size(); r++) {
    const RankOutcome& o = outcomes[r];
    s += "\n  rank " + std::to_string(r) + ": " +
         (o.exited ? "exit " + std::to_string(o.code) : "signal " + std::to_string(o.signal)) + " after " +
         std::to_string(o.seconds) + " s: " + (o.message.empty() ? "ok" : o.message);
  }
  return s;
}

}  // namespace dist_test
