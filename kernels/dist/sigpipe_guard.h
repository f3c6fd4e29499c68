// sigpipe_guard.h — keeps SIGPIPE from killing the process while Gloo writes to a socket whose peer died.
// A library must not change the process's signal dispositions, so instead the calling thread blocks
// SIGPIPE for the duration of a call (a write then fails with EPIPE, which Gloo reports) and any SIGPIPE
// raised meanwhile is consumed before the old mask returns. Threads Gloo starts inside the guard (its
// event loop) inherit the blocked mask for good.
#pragma once

#include <pthread.h>
#include <signal.h>
#include <time.h>

namespace nc::dist {

class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    blocked_ = pthread_sigmask(SIG_BLOCK, &pipe_, &old_) == 0;
  }
  ~SigpipeGuard() {
    if (!blocked_) return;
    sigset_t pending;
    sigpending(&pending);
    if (!was_pending_ && sigismember(&pending, SIGPIPE) == 1) {
      const timespec zero = {0, 0};
      sigtimedwait(&pipe_, nullptr, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;

 private:
  sigset_t pipe_, old_;
  bool was_pending_ = false;
  bool blocked_ = false;
};

}  // namespace nc::dist
