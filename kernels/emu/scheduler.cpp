// scheduler.cpp — running a grid: blocks over OpenMP threads, each block's CUDA threads as fibers
// switched at barriers, warp exchanges for shuffles and votes, and the faults the emulator detects
// (see cuda_emu.h for the model).
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cuda_emu.h"
#include "fiber.h"
#include "runtime_state.h"

namespace nc_emu {

thread_local ThreadState* tl_thread = nullptr;
thread_local BlockState* tl_block = nullptr;

namespace {

enum class St : unsigned char { Ready, AtBlockBarrier, AtWarpBarrier, Done };

struct Fiber {
  ThreadState ts;
  void* sp;
  St st;
  int lane, warp;
};

struct WarpSync {
  unsigned present;  // lanes that exist in this warp (a partial last warp has fewer)
  int arrived;
  unsigned round;
  alignas(16) unsigned char slots[2][32 * 16];
};

// One per OS thread: the fibers and stacks of the block it is running.
struct Runner {
  StackPool stacks;
  std::vector<Fiber> fibers;
  std::vector<WarpSync> warps;
  std::vector<unsigned char> smem;
  BlockState block{};
  void* sched_sp = nullptr;
  Fiber* cur = nullptr;
  const char* fault = nullptr;
  void (*invoke)(void*) = nullptr;
  void* ctx = nullptr;

  bool run_block(uint3 bidx, dim3 grid, dim3 bdim, size_t smem_bytes);
};

thread_local std::unique_ptr<Runner> tl_runner;

Runner& runner() {
  if (!tl_runner) tl_runner.reset(new Runner());
  return *tl_runner;
}

void yield_to_scheduler(Runner& r) { nc_emu_switch(&r.cur->sp, r.sched_sp); }

void fiber_main(void* arg) {
  Fiber* f = static_cast<Fiber*>(arg);
  Runner& r = *tl_runner;
  r.invoke(r.ctx);
  f->st = St::Done;
  yield_to_scheduler(r);
  __builtin_unreachable();
}

bool Runner::run_block(uint3 bidx, dim3 grid, dim3 bdim, size_t smem_bytes) {
  const int n = (int)(bdim.x * bdim.y * bdim.z);
  const int nwarps = (n + 31) / 32;
  if (!stacks.reserve(n)) {
    fault = "cannot map fiber stacks";
    return false;
  }
  fibers.resize((size_t)n);
  warps.resize((size_t)nwarps);
  for (int w = 0; w < nwarps; w++) {
    const int lanes = std::min(32, n - 32 * w);
    warps[(size_t)w].present = lanes == 32 ? 0xffffffffu : ((1u << lanes) - 1u);
    warps[(size_t)w].arrived = 0;
    warps[(size_t)w].round = 0;
  }
  for (int i = 0; i < n; i++) {
    Fiber& f = fibers[(size_t)i];
    f.ts.idx = {(unsigned)i % bdim.x, ((unsigned)i / bdim.x) % bdim.y, (unsigned)i / (bdim.x * bdim.y)};
    f.st = St::Ready;
    f.lane = i % 32;
    f.warp = i / 32;
    f.sp = fiber_prepare(stacks.top(i), &fiber_main, &f);
  }
  if (smem.size() < smem_bytes + 64) smem.resize(smem_bytes + 64);
  unsigned char* dyn = smem.data() + ((64 - ((uintptr_t)smem.data() & 63)) & 63);
  std::memset(dyn, 0xFF, smem_bytes);
  block.block_idx = bidx;
  block.block_dim = bdim;
  block.grid_dim = grid;
  block.dyn_smem = dyn;
  tl_block = &block;
  fault = nullptr;

  for (int pass = 0;; pass++) {
    bool ran = false;
    for (int k = 0; k < n; k++) {
      Fiber& f = fibers[(size_t)((pass & 1) ? n - 1 - k : k)];
      if (f.st != St::Ready) continue;
      ran = true;
      cur = &f;
      tl_thread = &f.ts;
      nc_emu_switch(&sched_sp, f.sp);
      if (fault) return false;
    }
    if (ran) continue;
    int done = 0, at_block = 0, at_warp = 0;
    for (const Fiber& f : fibers) {
      done += f.st == St::Done;
      at_block += f.st == St::AtBlockBarrier;
      at_warp += f.st == St::AtWarpBarrier;
    }
    if (done == n) return true;
    if (at_block == n) {
      for (Fiber& f : fibers) f.st = St::Ready;
      continue;
    }
    if (at_block > 0 && at_warp == 0) {
      fault = "__syncthreads() is not reached by every thread of the block (some exited before it)";
    } else if (at_block > 0) {
      fault = "__syncthreads() waits while other threads of the block wait in a warp operation";
    } else {
      fault = "a warp operation waits for lanes of its mask that exited or never reach it";
    }
    return false;
  }
}

WarpSync& this_warp(Runner& r) { return r.warps[(size_t)r.cur->warp]; }

}  // namespace

int lane_id() { return tl_runner->cur->lane; }

[[noreturn]] void kernel_fault(const char* what) {
  Runner& r = *tl_runner;
  if (!r.fault) r.fault = what;
  r.cur->st = St::Done;
  yield_to_scheduler(r);
  __builtin_unreachable();
}

void block_barrier() {
  Runner& r = *tl_runner;
  r.cur->st = St::AtBlockBarrier;
  yield_to_scheduler(r);
}

void warp_barrier(unsigned mask) {
  Runner& r = *tl_runner;
  WarpSync& w = this_warp(r);
  if (mask != w.present) {
    kernel_fault((mask & ~w.present) ? "warp operation mask names lanes that do not exist in this block"
                                     : "warp operation with a partial mask (the emulator supports full warps only)");
  }
  if (++w.arrived == __builtin_popcount(mask)) {
    w.arrived = 0;
    w.round++;
    const int base = r.cur->warp * 32;
    for (int l = 0; l < 32; l++) {
      if (((mask >> l) & 1u) && l != r.cur->lane) r.fibers[(size_t)(base + l)].st = St::Ready;
    }
    return;
  }
  r.cur->st = St::AtWarpBarrier;
  yield_to_scheduler(r);
}

const unsigned char* warp_exchange(unsigned mask, const void* value, size_t size) {
  Runner& r = *tl_runner;
  WarpSync& w = this_warp(r);
  // Every lane of the warp takes part in every round (full masks), so the round parity names the
  // buffer; a lane cannot write round k+2 into it before all have passed round k+1, i.e. finished
  // reading round k.
  unsigned char* slots = w.slots[w.round & 1];
  std::memcpy(slots + 16 * r.cur->lane, value, size);
  warp_barrier(mask);
  return slots;
}

cudaError_t launch(const void* kernel, dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                   void (*invoke)(void*), void* ctx) {
  (void)stream;
  if (cudaError_t sticky = sticky_error()) return set_last_error(sticky);
  const unsigned long long threads = (unsigned long long)block.x * block.y * block.z;
  if (threads == 0 || threads > 1024 || block.z > 64 || grid.x == 0 || grid.y == 0 || grid.z == 0 ||
      grid.y > 65535 || grid.z > 65535 || grid.x > 0x7fffffffu) {
    set_fault("invalid launch configuration (block of " + std::to_string(block.x) + "x" + std::to_string(block.y) +
              "x" + std::to_string(block.z) + ", grid of " + std::to_string(grid.x) + "x" + std::to_string(grid.y) +
              "x" + std::to_string(grid.z) + ")");
    return set_last_error(cudaErrorInvalidConfiguration);
  }
  const size_t limit = max_dynamic_smem(kernel);
  if (smem > limit) {
    set_fault("launch asks for " + std::to_string(smem) + " bytes of dynamic shared memory; the kernel's limit is " +
              std::to_string(limit) + " (raise it with cudaFuncSetAttribute)");
    return set_last_error(cudaErrorInvalidValue);
  }
  const long long nblocks = (long long)grid.x * grid.y * grid.z;
  std::mutex mu;
  std::string failure;
  std::atomic<bool> failed{false};
#pragma omp parallel for schedule(dynamic, 1) if (nblocks > 1)
  for (long long b = 0; b < nblocks; b++) {
    if (failed.load(std::memory_order_relaxed)) continue;
    Runner& r = runner();
    r.invoke = invoke;
    r.ctx = ctx;
    const uint3 bidx{(unsigned)(b % grid.x), (unsigned)((b / grid.x) % grid.y), (unsigned)(b / ((long long)grid.x * grid.y))};
    if (!r.run_block(bidx, grid, block, smem)) {
      std::lock_guard<std::mutex> lock(mu);
      if (!failed.load()) {
        failure = std::string(r.fault) + " (block " + std::to_string(bidx.x) + "," + std::to_string(bidx.y) + "," +
                  std::to_string(bidx.z) + " of a " + std::to_string(grid.x) + "x" + std::to_string(grid.y) + "x" +
                  std::to_string(grid.z) + " grid, " + std::to_string(threads) + " threads per block)";
        failed.store(true);
      }
    }
    tl_block = nullptr;
    tl_thread = nullptr;
  }
  if (failed.load()) {
    set_fault(failure);
    set_sticky_error(cudaErrorLaunchFailure);
    return set_last_error(cudaErrorLaunchFailure);
  }
  return cudaSuccess;
}

}  // namespace nc_emu
