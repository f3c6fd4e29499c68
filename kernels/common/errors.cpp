// errors.cpp — error messages: one slot per context (guarded by its mutex) and one process-wide slot
// (guarded by a global mutex) for failures without a usable context. Readers get a thread-local copy,
// so a message read on Deno's main thread cannot be torn by a worker thread writing the next one.
// Also nc_last_error, nc_status_string and the ABI version calls, which are the same for every backend.
#include "errors.h"

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "backend.h"

namespace {
std::mutex g_err_mu;
char g_err[1024] = {0};
thread_local char tl_err_copy[1024];
}  // namespace

int32_t nc_record_error(const NcContext* ctx, int32_t status, const char* file, int line, const char* fmt, ...) {
  char msg[1024];
  int n = std::snprintf(msg, sizeof msg, "%s:%d: ", file, line);
  if (n < 0 || n >= (int)sizeof msg) n = 0;
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
  va_end(ap);
  if (ctx) {
    NcErrorSlot* slot = nc_error_slot(ctx);
    std::lock_guard<std::mutex> lock(slot->mu);
    std::memcpy(slot->msg, msg, sizeof msg);
  }
  {
    std::lock_guard<std::mutex> lock(g_err_mu);
    std::memcpy(g_err, msg, sizeof msg);
  }
  return status;
}

extern "C" NC_API const char* nc_last_error(const NcContext* ctx) {
  if (ctx) {
    const NcErrorSlot* slot = nc_error_slot(ctx);
    std::lock_guard<std::mutex> lock(slot->mu);
    std::memcpy(tl_err_copy, slot->msg, sizeof tl_err_copy);
  } else {
    std::lock_guard<std::mutex> lock(g_err_mu);
    std::memcpy(tl_err_copy, g_err, sizeof tl_err_copy);
  }
  tl_err_copy[sizeof tl_err_copy - 1] = 0;
  return tl_err_copy;
}

extern "C" NC_API const char* nc_status_string(int32_t status) {
  switch (status) {
    case NC_OK:
      return "ok";
    case NC_ERR_INVALID_ARGUMENT:
      return "invalid argument";
    case NC_ERR_OUT_OF_RANGE:
      return "out of range";
    case NC_ERR_OUT_OF_MEMORY:
      return "out of memory";
    case NC_ERR_UNSUPPORTED:
      return "unsupported";
    case NC_ERR_STATE:
      return "invalid state";
    case NC_ERR_INTERNAL:
      return "internal error";
    case NC_ERR_TIMEOUT:
      return "timed out";
    case NC_ERR_PEER_FAILED:
      return "peer failed";
    default:
      return "unknown status";
  }
}

extern "C" NC_API int32_t nc_abi_version(void) { return NC_ABI_VERSION; }

extern "C" NC_API int32_t nc_abi_check(int32_t caller_version) {
  NC_REQUIRE(nullptr, caller_version == NC_ABI_VERSION, NC_ERR_UNSUPPORTED,
             "the compute library implements ABI version %d, the caller was built for version %d: rebuild one "
             "of them from the same nanochat.h",
             NC_ABI_VERSION, caller_version);
  return NC_OK;
}
