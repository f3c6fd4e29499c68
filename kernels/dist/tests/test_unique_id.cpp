// test_unique_id.cpp — the 128-byte id's layout as documented in unique_id.h (rebuilt byte by byte from
// the text), round trips, and every kind of corrupt id rejected with a message; bad join arguments are
// refused before anything touches the network.
#include <gtest/gtest.h>

#include <cstring>

#include "comm.h"
#include "unique_id.h"

using namespace nc::dist;

namespace {
BootstrapAddress sample() {
  BootstrapAddress a;
  a.host = "node-17.cluster";
  a.port = 0xA1B2;
  for (size_t i = 0; i < kNonceBytes; i++) a.nonce[i] = (uint8_t)(0xF0 + i);
  return a;
}

void expect_rejected(const UniqueId& id, const char* needle) {
  BootstrapAddress out;
  Status st = decode_unique_id(id, &out);
  EXPECT_EQ(st.code, Errc::kInvalidArgument);
  EXPECT_NE(st.message.find(needle), std::string::npos) << st.message;
  EXPECT_EQ(st.message.find("kernels/dist/unique_id.cpp:"), 0u) << st.message;
}
}  // namespace

TEST(UniqueId, LayoutMatchesTheHeader) {
  static_assert(sizeof(UniqueId) == 128, "NCCL's ncclUniqueId size");
  UniqueId id;
  ASSERT_TRUE(encode_unique_id(sample(), &id).ok());
  uint8_t want[128] = {0};
  std::memcpy(want, "NCD1", 4);
  want[4] = 0xA1;  // port, big-endian
  want[5] = 0xB2;
  want[6] = (uint8_t)std::strlen("node-17.cluster");
  for (int i = 0; i < 16; i++) want[8 + i] = (uint8_t)(0xF0 + i);
  std::memcpy(want + 24, "node-17.cluster", std::strlen("node-17.cluster"));
  EXPECT_EQ(std::memcmp(id.bytes, want, 128), 0);
}

TEST(UniqueId, RoundTrip) {
  UniqueId id;
  ASSERT_TRUE(encode_unique_id(sample(), &id).ok());
  BootstrapAddress back;
  ASSERT_TRUE(decode_unique_id(id, &back).ok());
  EXPECT_EQ(back.host, "node-17.cluster");
  EXPECT_EQ(back.port, 0xA1B2);
  EXPECT_EQ(std::memcmp(back.nonce, sample().nonce, kNonceBytes), 0);
  // The longest host that fits, and IPv6 literals.
  BootstrapAddress a = sample();
  a.host = std::string(kMaxIdHostBytes, 'h');
  ASSERT_TRUE(encode_unique_id(a, &id).ok());
  ASSERT_TRUE(decode_unique_id(id, &back).ok());
  EXPECT_EQ(back.host, a.host);
  a.host = "fe80::1%eth0";
  ASSERT_TRUE(encode_unique_id(a, &id).ok());
  ASSERT_TRUE(decode_unique_id(id, &back).ok());
  EXPECT_EQ(back.host, a.host);
}

TEST(UniqueId, EncodeRejectsBadAddresses) {
  UniqueId id;
  BootstrapAddress a = sample();
  a.host = std::string(kMaxIdHostBytes + 1, 'h');
  EXPECT_EQ(encode_unique_id(a, &id).code, Errc::kInvalidArgument);
  a.host = "";
  EXPECT_EQ(encode_unique_id(a, &id).code, Errc::kInvalidArgument);
  a.host = "bad host";
  EXPECT_NE(encode_unique_id(a, &id).message.find("not allowed"), std::string::npos);
  a = sample();
  a.port = 70000;
  EXPECT_NE(encode_unique_id(a, &id).message.find("outside 1..65535"), std::string::npos);
}

TEST(UniqueId, CorruptIdsAreRejected) {
  UniqueId good;
  ASSERT_TRUE(encode_unique_id(sample(), &good).ok());
  UniqueId id = good;
  std::memset(id.bytes, 0, 128);
  expect_rejected(id, "bad magic");
  id = good;
  id.bytes[3] = '2';
  expect_rejected(id, "format version '2'");
  id = good;
  id.bytes[6] = 0;
  expect_rejected(id, "host length");
  id = good;
  id.bytes[6] = 105;
  expect_rejected(id, "host length");
  id = good;
  id.bytes[127] = 1;
  expect_rejected(id, "bytes after the host");
  id = good;
  id.bytes[24] = ' ';
  expect_rejected(id, "host name");
  id = good;
  id.bytes[4] = id.bytes[5] = 0;
  expect_rejected(id, "port 0");
}

TEST(UniqueId, JoinArgumentsAreCheckedFirst) {
  UniqueId id;
  ASSERT_TRUE(encode_unique_id(sample(), &id).ok());
  std::unique_ptr<Communicator> c;
  CommOptions o;
  EXPECT_NE(create_gloo_communicator(id, 2, 2, o, &c).message.find("rank 2 is outside 0..1"), std::string::npos);
  EXPECT_NE(create_gloo_communicator(id, 0, 0, o, &c).message.find("world size 0"), std::string::npos);
  o.timeout = std::chrono::milliseconds(0);
  EXPECT_NE(create_gloo_communicator(id, 0, 1, o, &c).message.find("timeout must be positive"), std::string::npos);
  UniqueId junk{};
  EXPECT_NE(create_gloo_communicator(junk, 0, 1, CommOptions{}, &c).message.find("bad magic"), std::string::npos);
  EXPECT_EQ(c, nullptr);
  EXPECT_NE(make_gloo_unique_id("two words", std::chrono::seconds(1), &id).message.find("not allowed"),
            std::string::npos);
}
