// errors.h — how every backend fails: record a message (with file and line) on the context and in the
// process-wide slot, then return a status. Nothing here prints, exits or aborts. Shared by all backends:
// each one keeps an NcErrorSlot in its NcContext and tells this code where (backend.h).
#pragma once

#include <cstdint>
#include <mutex>
#include <new>

#include "nanochat.h"

// One context's last error message.
struct NcErrorSlot {
  mutable std::mutex mu;
  char msg[1024] = {0};
};

// Formats the message, stores it for `ctx` (may be null) and in the global fallback, returns `status`.
int32_t nc_record_error(const NcContext* ctx, int32_t status, const char* file, int line, const char* fmt, ...)
    __attribute__((format(printf, 5, 6)));

#define NC_FAIL(ctx, status, ...) return nc_record_error((ctx), (status), __FILE__, __LINE__, __VA_ARGS__)

#define NC_REQUIRE(ctx, cond, status, ...)          \
  do {                                              \
    if (!(cond)) NC_FAIL(ctx, status, __VA_ARGS__); \
  } while (0)

#define NC_CHECK_NOT_NULL(ctx, ptr) \
  NC_REQUIRE(ctx, (ptr) != nullptr, NC_ERR_INVALID_ARGUMENT, "%s must not be NULL", #ptr)

// Propagates a non-zero status from a helper that has already recorded its message.
#define NC_TRY(expr)                            \
  do {                                          \
    int32_t nc_status_ = (expr);                \
    if (nc_status_ != NC_OK) return nc_status_; \
  } while (0)

// Every exported function body runs inside nc_guard so that a C++ exception (bad_alloc from a
// std::vector, say) becomes a status instead of unwinding into the FFI caller.
template <typename F>
int32_t nc_guard(const NcContext* ctx, F&& body) {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return nc_record_error(ctx, NC_ERR_OUT_OF_MEMORY, __FILE__, __LINE__, "out of memory");
  } catch (...) {
    return nc_record_error(ctx, NC_ERR_INTERNAL, __FILE__, __LINE__, "unexpected C++ exception");
  }
}
