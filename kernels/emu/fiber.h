// fiber.h — the emulator's user-space threads: stacks and a context switch that saves and restores
// only the callee-saved registers and the stack pointer (no signal mask, so no system call per switch,
// unlike swapcontext). x86-64 System V only; the emu build is a CI/testing tool for that platform.
#pragma once

#include <cstddef>
#include <vector>

namespace nc_emu {

// Saves the current context's stack pointer into *save_sp and continues on load_sp.
extern "C" void nc_emu_switch(void** save_sp, void* load_sp);

// Prepares a fresh stack so that switching to the returned stack pointer calls entry(arg).
// entry must never return; it ends by switching away for good.
void* fiber_prepare(void* stack_top, void (*entry)(void*), void* arg);

// Stacks for up to `count` fibers, each with a guard page below it so an overflow faults at once.
class StackPool {
 public:
  StackPool() = default;
  StackPool(const StackPool&) = delete;
  StackPool& operator=(const StackPool&) = delete;
  ~StackPool();
  // Makes room for n stacks (keeps the current ones when they suffice); false if mmap fails.
  bool reserve(int n);
  void* top(int i) const;  // 16-byte aligned top of stack i

 private:
  void release();
  unsigned char* base_ = nullptr;
  size_t slot_ = 0, mapped_ = 0;
  int count_ = 0;
};

}  // namespace nc_emu
