// check.h — the small test harness of the CUDA kernel suite. The same test sources run in two
// places: under the emulator in CI (each case is a ctest test) and on a real GPU (device_check.sh),
// where no test framework is installed; hence a self-contained harness rather than GoogleTest.
//   NC_TEST(Suite, Name) { ... }              a test case
//   NC_CHECK(cond) << "context";              a failed check is reported with file:line, the test goes on
//   NC_REQUIRE_CUDA(expr);                    a CUDA call that must succeed, else the test stops
// The runner (check_main.cpp) takes --list, --filter SUBSTRING, --only NAME, --json FILE.
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "common.cuh"

namespace nc_test {

struct Case {
  const char* name;
  void (*fn)();
};
std::vector<Case>& registry();
struct Register {
  Register(const char* name, void (*fn)()) { registry().push_back({name, fn}); }
};

// Collects one failed check's message; reports it when the statement ends.
class Failure {
 public:
  Failure(const char* file, int line, const char* expr);
  ~Failure();
  template <typename T>
  Failure& operator<<(const T& v) {
    msg_ << v;
    return *this;
  }

 private:
  std::ostringstream msg_;
};
struct Voidify {
  void operator&(const Failure&) {}
};

// Measurements a test wants in the report (e.g. the error it saw against its tolerance).
void note(const std::string& key, double value);
bool current_failed();

}  // namespace nc_test

#define NC_TEST(suite, name)                                                     \
  static void nc_test_##suite##_##name();                                        \
  static ::nc_test::Register nc_reg_##suite##_##name(#suite "." #name, &nc_test_##suite##_##name); \
  static void nc_test_##suite##_##name()

#define NC_CHECK(cond) \
  (cond) ? (void)0 : ::nc_test::Voidify() & ::nc_test::Failure(__FILE__, __LINE__, #cond)

#define NC_REQUIRE_CUDA(expr)                                                                     \
  do {                                                                                            \
    const cudaError_t nc_e_ = (expr);                                                             \
    if (nc_e_ != cudaSuccess) {                                                                   \
      ::nc_test::Failure(__FILE__, __LINE__, #expr) << " -> " << cudaGetErrorName(nc_e_) << ": "  \
                                                    << cudaGetErrorString(nc_e_);                 \
      return;                                                                                     \
    }                                                                                             \
  } while (0)
