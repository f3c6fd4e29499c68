// status.cpp — formatting of kernels/dist error messages.
#include "status.h"

#include <cstdio>

namespace nc::dist {

Status make_error(Errc code, const char* file, int line, const char* fmt, ...) {
  char msg[2048];
  int n = std::snprintf(msg, sizeof msg, "%s:%d: ", file, line);
  if (n < 0 || n >= (int)sizeof msg) n = 0;
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
  va_end(ap);
  return Status{code, msg};
}

const char* errc_name(Errc code) {
  switch (code) {
    case Errc::kOk:
      return "ok";
    case Errc::kInvalidArgument:
      return "invalid argument";
    case Errc::kTimeout:
      return "timeout";
    case Errc::kPeerFailed:
      return "peer failed";
    case Errc::kBootstrap:
      return "bootstrap refused";
    case Errc::kState:
      return "invalid state";
    case Errc::kInternal:
      return "internal error";
  }
  return "unknown";
}

}  // namespace nc::dist
