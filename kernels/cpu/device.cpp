// device.cpp — device discovery for the cpu backend: one device, the host, described by its CPU model
// name (/proc/cpuinfo), the logical cores OpenMP may use, and physical and available RAM
// (sysconf, /proc/meminfo's MemAvailable). Also the compile-time checks of the ABI's struct sizes.
#include <omp.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "checks.h"
#include "errors.h"
#include "internal.h"

static_assert(sizeof(NcDeviceInfo) == 320, "NcDeviceInfo layout");
static_assert(sizeof(NcContextConfig) == 48, "NcContextConfig layout");
static_assert(sizeof(NcModelConfig) == 64, "NcModelConfig layout");
static_assert(sizeof(NcParamCounts) == 48, "NcParamCounts layout");
static_assert(sizeof(NcParamInfo) == 216, "NcParamInfo layout");
static_assert(sizeof(NcOptimStep) == 128, "NcOptimStep layout");
static_assert(sizeof(NcLossStats) == 48, "NcLossStats layout");
static_assert(sizeof(NcSampling) == 32, "NcSampling layout");
static_assert(sizeof(NcCommId) == 128, "NcCommId layout");
static_assert(sizeof(NcCommOptions) == 528, "NcCommOptions layout");
static_assert(sizeof(NcProfile) == 128, "NcProfile layout");

namespace {

// The value of the first "<key> : value" line of a /proc file, or "" when there is none.
void proc_field(const char* path, const char* key, char* out, size_t size) {
  out[0] = 0;
  FILE* f = std::fopen(path, "r");
  if (!f) return;
  char line[512];
  const size_t klen = std::strlen(key);
  while (std::fgets(line, sizeof line, f)) {
    if (std::strncmp(line, key, klen) != 0) continue;
    const char* v = std::strchr(line + klen, ':');
    if (!v) continue;
    v++;
    while (*v == ' ' || *v == '\t') v++;
    std::snprintf(out, size, "%s", v);
    out[std::strcspn(out, "\n")] = 0;
    break;
  }
  std::fclose(f);
}

}  // namespace

extern "C" {

NC_API int32_t nc_device_count(int32_t* out_count) {
  NC_CHECK_NOT_NULL(nullptr, out_count);
  *out_count = 1;
  return NC_OK;
}

NC_API int32_t nc_device_info(int32_t index, NcDeviceInfo* out) {
  NC_CHECK_NOT_NULL(nullptr, out);
  NC_TRY(nc::check_index(nullptr, index, 1, "cpu device"));
  std::memset(out, 0, sizeof *out);
  proc_field("/proc/cpuinfo", "model name", out->name, sizeof out->name);
  if (out->name[0] == 0) std::snprintf(out->name, sizeof out->name, "%s", "cpu");
  out->device = NC_DEVICE_CPU;
  out->index = 0;
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  out->total_memory = pages > 0 && page > 0 ? (int64_t)pages * page : 0;
  char avail[64];
  proc_field("/proc/meminfo", "MemAvailable", avail, sizeof avail);
  long long kib = 0;
  if (std::sscanf(avail, "%lld", &kib) == 1) {
    out->free_memory = (int64_t)kib * 1024;
  } else {
    const long free_pages = sysconf(_SC_AVPHYS_PAGES);
    out->free_memory = free_pages > 0 && page > 0 ? (int64_t)free_pages * page : 0;
  }
  out->cores = omp_get_num_procs();
  out->compute_dtypes = 1u << NC_DTYPE_F32;
  return NC_OK;
}

}  // extern "C"
