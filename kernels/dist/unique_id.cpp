// unique_id.cpp — encoding and decoding of the 128-byte id (layout in unique_id.h).
#include "unique_id.h"

#include <cstring>
#include <random>

namespace nc::dist {

namespace {
constexpr char kMagic[4] = {'N', 'C', 'D', '1'};
constexpr size_t kHostOffset = 24;
static_assert(kHostOffset + kMaxIdHostBytes == kUniqueIdBytes, "the host field ends the id");

bool host_char_ok(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
         c == '_' || c == ':' || c == '%';
}
}  // namespace

Status encode_unique_id(const BootstrapAddress& addr, UniqueId* out) {
  if (addr.host.empty() || addr.host.size() > kMaxIdHostBytes)
    return DIST_ERROR(Errc::kInvalidArgument, "store host '%s' must have 1 to %zu characters", addr.host.c_str(),
                      kMaxIdHostBytes);
  for (char c : addr.host)
    if (!host_char_ok(c))
      return DIST_ERROR(Errc::kInvalidArgument, "store host '%s' has a character not allowed in a host name",
                        addr.host.c_str());
  if (addr.port < 1 || addr.port > 65535)
    return DIST_ERROR(Errc::kInvalidArgument, "store port %d is outside 1..65535", addr.port);
  std::memset(out->bytes, 0, kUniqueIdBytes);
  std::memcpy(out->bytes, kMagic, 4);
  out->bytes[4] = (uint8_t)(addr.port >> 8);
  out->bytes[5] = (uint8_t)(addr.port & 0xff);
  out->bytes[6] = (uint8_t)addr.host.size();
  std::memcpy(out->bytes + 8, addr.nonce, kNonceBytes);
  std::memcpy(out->bytes + kHostOffset, addr.host.data(), addr.host.size());
  return Status::Ok();
}

Status decode_unique_id(const UniqueId& id, BootstrapAddress* out) {
  const uint8_t* b = id.bytes;
  if (std::memcmp(b, kMagic, 3) != 0)
    return DIST_ERROR(Errc::kInvalidArgument,
                      "not a nanochat communicator id (bad magic): pass the 128 bytes rank 0's unique_id() made");
  if (b[3] != (uint8_t)kMagic[3])
    return DIST_ERROR(Errc::kInvalidArgument, "communicator id has format version '%c', this library reads '1'",
                      (char)b[3]);
  const size_t len = b[6];
  if (len == 0 || len > kMaxIdHostBytes || b[7] != 0)
    return DIST_ERROR(Errc::kInvalidArgument, "communicator id is corrupt (host length %zu)", len);
  for (size_t i = kHostOffset + len; i < kUniqueIdBytes; i++)
    if (b[i] != 0) return DIST_ERROR(Errc::kInvalidArgument, "communicator id is corrupt (bytes after the host)");
  out->host.assign((const char*)b + kHostOffset, len);
  for (char c : out->host)
    if (!host_char_ok(c)) return DIST_ERROR(Errc::kInvalidArgument, "communicator id is corrupt (host name)");
  out->port = (b[4] << 8) | b[5];
  if (out->port == 0) return DIST_ERROR(Errc::kInvalidArgument, "communicator id is corrupt (port 0)");
  std::memcpy(out->nonce, b + 8, kNonceBytes);
  return Status::Ok();
}

Status random_nonce(uint8_t out[kNonceBytes]) {
  try {
    std::random_device rd;  // /dev/urandom on Linux
    for (size_t i = 0; i < kNonceBytes; i += 4) {
      const uint32_t v = rd();
      std::memcpy(out + i, &v, 4);
    }
  } catch (const std::exception& e) {
    return DIST_ERROR(Errc::kInternal, "no random source for the run nonce: %s", e.what());
  }
  return Status::Ok();
}

}  // namespace nc::dist
