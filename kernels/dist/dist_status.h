// dist_status.h — kernels/dist failures as the ABI's statuses (for the backends built with kernels/dist):
// a peer that timed out is NC_ERR_TIMEOUT, one that died NC_ERR_PEER_FAILED, and the message (which names
// the collective, the rank and the cause) becomes the context's last error.
#pragma once

#include "errors.h"
#include "status.h"

namespace nc {

inline int32_t dist_status_code(nc::dist::Errc code) {
  switch (code) {
    case nc::dist::Errc::kOk:
      return NC_OK;
    case nc::dist::Errc::kInvalidArgument:
    case nc::dist::Errc::kBootstrap:  // the store refused this rank: wrong id, rank taken, world sizes differ
      return NC_ERR_INVALID_ARGUMENT;
    case nc::dist::Errc::kTimeout:
      return NC_ERR_TIMEOUT;
    case nc::dist::Errc::kPeerFailed:
      return NC_ERR_PEER_FAILED;
    case nc::dist::Errc::kState:
      return NC_ERR_STATE;
    default:
      return NC_ERR_INTERNAL;
  }
}

}  // namespace nc

// Returns the mapped status (message recorded on ctx) when a kernels/dist call fails.
#define NC_DIST_TRY(ctx, expr)                                                                          \
  do {                                                                                                  \
    ::nc::dist::Status nc_dist_st_ = (expr);                                                            \
    if (!nc_dist_st_.ok())                                                                              \
      return nc_record_error((ctx), ::nc::dist_status_code(nc_dist_st_.code), __FILE__, __LINE__, "%s", \
                             nc_dist_st_.message.c_str());                                              \
  } while (0)
