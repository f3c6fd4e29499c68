// check_main.cpp — the runner of the CUDA kernel suite (see check.h): runs the registered cases, prints
// one line per case and a closing count, optionally writes the results as JSON, and exits non-zero on
// any failure or when no device can be used.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>

#include "check.h"

namespace nc_test {

namespace {
struct Run {
  int failures = 0;
  std::vector<std::string> messages;
  std::vector<std::pair<std::string, double>> notes;
};
Run* g_run = nullptr;

std::string json_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      o += '\\';
      o += c;
    } else if ((unsigned char)c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      o += buf;
    } else {
      o += c;
    }
  }
  return o;
}
}  // namespace

std::vector<Case>& registry() {
  static std::vector<Case> cases;
  return cases;
}

Failure::Failure(const char* file, int line, const char* expr) {
  const char* base = std::strstr(file, "kernels/");
  msg_ << (base ? base : file) << ":" << line << ": check failed: " << expr;
}
Failure::~Failure() {
  if (!g_run) return;
  g_run->failures++;
  g_run->messages.push_back(msg_.str());
}

void note(const std::string& key, double value) {
  if (g_run) g_run->notes.emplace_back(key, value);
}
bool current_failed() { return g_run && g_run->failures > 0; }

}  // namespace nc_test

int main(int argc, char** argv) {
  using namespace nc_test;
  std::string filter, only, json_path;
  for (int i = 1; i < argc; i++) {
    const std::string a = argv[i];
    if (a == "--list") {
      for (const Case& c : registry()) std::printf("%s\n", c.name);
      return 0;
    } else if (a == "--filter" && i + 1 < argc) {
      filter = argv[++i];
    } else if (a == "--only" && i + 1 < argc) {
      only = argv[++i];
    } else if (a == "--json" && i + 1 < argc) {
      json_path = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--list] [--filter SUBSTRING] [--only NAME] [--json FILE]\n", argv[0]);
      return 2;
    }
  }
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count < 1) {
    const cudaError_t e = cudaGetLastError();
    std::fprintf(stderr, "no usable CUDA device: %s (%s)%s\n", cudaGetErrorString(e), cudaGetErrorName(e),
                 e == cudaErrorInsufficientDriver ? "; no NVIDIA driver, or one older than CUDA 13.0 needs (R580+)" : "");
    return 3;
  }
  int passed = 0, failed = 0;
  std::ostringstream json;
  json << "[";
  for (const Case& c : registry()) {
    if (!filter.empty() && std::string(c.name).find(filter) == std::string::npos) continue;
    if (!only.empty() && only != c.name) continue;
    Run run;
    g_run = &run;
    const auto t0 = std::chrono::steady_clock::now();
    c.fn();
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    g_run = nullptr;
    // A fault in one case must not leak into the next (the emulator's faults are sticky, like CUDA's).
    const cudaError_t pending = cudaDeviceSynchronize();
    if (pending != cudaSuccess) {
      run.failures++;
      run.messages.push_back(std::string("device error after the test: ") + cudaGetErrorString(pending));
      (void)cudaDeviceReset();
    }
    const bool ok = run.failures == 0;
    (ok ? passed : failed)++;
    std::printf("[%s] %s (%.0f ms)", ok ? "  OK  " : "FAILED", c.name, ms);
    for (const auto& n : run.notes) std::printf("  %s=%.3g", n.first.c_str(), n.second);
    std::printf("\n");
    for (size_t i = 0; i < run.messages.size() && i < 10; i++) std::printf("    %s\n", run.messages[i].c_str());
    if (run.messages.size() > 10) std::printf("    ... and %zu more\n", run.messages.size() - 10);
    json << (passed + failed > 1 ? "," : "") << "\n  {\"name\": \"" << c.name << "\", \"ok\": " << (ok ? "true" : "false")
         << ", \"ms\": " << ms << ", \"notes\": {";
    for (size_t i = 0; i < run.notes.size(); i++)
      json << (i ? ", " : "") << "\"" << json_escape(run.notes[i].first) << "\": " << run.notes[i].second;
    json << "}, \"messages\": [";
    for (size_t i = 0; i < run.messages.size(); i++) json << (i ? ", " : "") << "\"" << json_escape(run.messages[i]) << "\"";
    json << "]}";
  }
  json << "\n]\n";
  std::printf("%d passed, %d failed\n", passed, failed);
  if (!json_path.empty()) {
    std::ofstream f(json_path);
    f << json.str();
  }
  if (passed + failed == 0) {
    std::fprintf(stderr, "no test matches '%s'\n", (only.empty() ? filter : only).c_str());
    return 2;
  }
  return failed ? 1 : 0;
}
