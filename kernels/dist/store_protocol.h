// store_protocol.h — the bootstrap store's messages (one frame each, see socket_io.h). The store lives in
// rank 0's process from make_unique_id() until every rank has connected its Gloo pairs; it carries only
// the per-rank transport addresses that Gloo's rendezvous exchanges.
//
//   request                                              reply
//   'H' nonce[16] rank:u32 world_size:u32   hello        'O', or 'E' message (wrong run, rank taken, sizes differ)
//   'S' key_len:u32 key value               set          'O'
//   'G' timeout_ms:u32 key                  get (waits)  'V' value, or 'E' message (who has not joined)
//   'D'                                     done         'O'; the store stops once every rank said done
// Integers are little-endian. Every other request must follow a successful hello.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

namespace nc::dist::store_msg {

inline void put_u32(std::string* s, uint32_t v) {
  for (int i = 0; i < 4; i++) s->push_back((char)((v >> (8 * i)) & 0xff));
}

// Reads a u32 at `*pos` and advances it; false when the message is too short.
inline bool get_u32(const std::string& s, size_t* pos, uint32_t* v) {
  if (*pos + 4 > s.size()) return false;
  *v = 0;
  for (int i = 0; i < 4; i++) *v |= (uint32_t)(unsigned char)s[*pos + i] << (8 * i);
  *pos += 4;
  return true;
}

}  // namespace nc::dist::store_msg
