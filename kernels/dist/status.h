// status.h — how kernels/dist reports failure: a Status with a code and a message that starts with the
// source file and line ("kernels/dist/comm_gloo.cpp:120: ..."). Nothing in kernels/dist prints, exits
// or aborts; Gloo's exceptions are caught where Gloo is called and turned into a Status.
#pragma once

#include <cstdarg>
#include <string>

namespace nc::dist {

enum class Errc {
  kOk = 0,
  kInvalidArgument,  // a bad id, rank, world size, size or pointer from the caller
  kTimeout,          // a peer did not answer within the timeout (hung, or its host is gone)
  kPeerFailed,       // a peer closed its connection (its process died) or a transport error
  kBootstrap,        // the rendezvous store refused us (wrong run, world sizes disagree, rank taken)
  kState,            // the communicator already failed, or a plan does not fit the request
  kInternal
};

struct Status {
  Errc code = Errc::kOk;
  std::string message;  // empty when ok

  bool ok() const { return code == Errc::kOk; }
  static Status Ok() { return {}; }
};

// Builds a failed Status; `file` and `line` come from the DIST_ERROR macro.
Status make_error(Errc code, const char* file, int line, const char* fmt, ...) __attribute__((format(printf, 4, 5)));

// A short name for a code ("timeout", "peer failed", ...), for messages and tests.
const char* errc_name(Errc code);

}  // namespace nc::dist

#define DIST_ERROR(code, ...) ::nc::dist::make_error((code), __FILE__, __LINE__, __VA_ARGS__)

#define DIST_TRY(expr)                          \
  do {                                          \
    ::nc::dist::Status dist_status_ = (expr);   \
    if (!dist_status_.ok()) return dist_status_; \
  } while (0)
