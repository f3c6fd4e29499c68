// unique_id.h — the 128-byte communicator id (the size of NCCL's ncclUniqueId, so the ABI's slot fits
// both backends). Rank 0 makes it; a launcher copies it to every rank unchanged.
//
// Layout of the Gloo backend's id (all other bytes zero):
//   bytes  0..3    "NCD1"                      magic and format version
//   bytes  4..5    port, big-endian            the bootstrap store's TCP port on rank 0's host
//   byte   6       L, 1..104                   length of the host string
//   byte   7       0
//   bytes  8..23   nonce                       16 random bytes naming this run; the store refuses others
//   bytes 24..24+L host                        ASCII host name or numeric address of rank 0's store
// The id holds no secret: the nonce only keeps two runs (or a stale id) from joining each other.
#pragma once

#include <cstdint>
#include <string>

#include "status.h"

namespace nc::dist {

inline constexpr size_t kUniqueIdBytes = 128;
inline constexpr size_t kNonceBytes = 16;
inline constexpr size_t kMaxIdHostBytes = 104;

struct UniqueId {
  uint8_t bytes[kUniqueIdBytes];
};

// Where the bootstrap store of a run listens, and the run's nonce.
struct BootstrapAddress {
  std::string host;
  int port = 0;
  uint8_t nonce[kNonceBytes] = {0};
};

Status encode_unique_id(const BootstrapAddress& addr, UniqueId* out);
// kInvalidArgument with a message saying what is wrong (not an id, other version, bad host...).
Status decode_unique_id(const UniqueId& id, BootstrapAddress* out);

// 16 bytes from the OS's random source.
Status random_nonce(uint8_t out[kNonceBytes]);

}  // namespace nc::dist
