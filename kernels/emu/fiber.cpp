// fiber.cpp — stack allocation and the context switch for the emulator's fibers (see fiber.h).
#include "fiber.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>

#if !defined(__x86_64__)
#error "kernels/emu's context switch is written for x86-64 (System V); build with -DNC_BUILD_EMU=OFF elsewhere"
#endif

// nc_emu_switch(save_sp = rdi, load_sp = rsi): push the callee-saved registers, park rsp, load the
// other stack, pop its registers and return into it. A new fiber's stack is laid out by fiber_prepare
// so that this "return" lands in nc_emu_fiber_start with r12 = arg and r13 = entry.
asm(R"(
  .text
  .globl nc_emu_switch
  .type nc_emu_switch, @function
nc_emu_switch:
  .cfi_startproc
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .cfi_endproc
  .size nc_emu_switch, .-nc_emu_switch

  .type nc_emu_fiber_start, @function
nc_emu_fiber_start:
  .cfi_startproc
  .cfi_undefined rip
  movq %r12, %rdi
  callq *%r13
  ud2
  .cfi_endproc
  .size nc_emu_fiber_start, .-nc_emu_fiber_start
  .section .note.GNU-stack,"",@progbits
  .text
)");

extern "C" void nc_emu_fiber_start();

namespace nc_emu {

namespace {
constexpr size_t kStackBytes = 128 * 1024;  // kernels' locals are small; deep host-style code is not run here
size_t page_size() {
  static const size_t p = (size_t)sysconf(_SC_PAGESIZE);
  return p;
}
}  // namespace

void* fiber_prepare(void* stack_top, void (*entry)(void*), void* arg) {
  // From the new stack pointer up: r15 r14 r13 r12 rbx rbp, return address, padding. After the six
  // pops and the ret, rsp = top - 16, 16-byte aligned as the call in nc_emu_fiber_start requires.
  uintptr_t* sp = reinterpret_cast<uintptr_t*>(static_cast<unsigned char*>(stack_top) - 72);
  sp[0] = 0;                                                      // r15
  sp[1] = 0;                                                      // r14
  sp[2] = reinterpret_cast<uintptr_t>(entry);                     // r13
  sp[3] = reinterpret_cast<uintptr_t>(arg);                       // r12
  sp[4] = 0;                                                      // rbx
  sp[5] = 0;                                                      // rbp
  sp[6] = reinterpret_cast<uintptr_t>(&nc_emu_fiber_start);       // return address
  sp[7] = 0;
  sp[8] = 0;
  return sp;
}

StackPool::~StackPool() { release(); }

void StackPool::release() {
  if (base_) munmap(base_, mapped_);
  base_ = nullptr;
  mapped_ = 0;
  count_ = 0;
}

bool StackPool::reserve(int n) {
  if (n <= count_) return true;
  release();
  const size_t page = page_size();
  slot_ = kStackBytes + page;  // guard page at the bottom of each slot
  mapped_ = slot_ * (size_t)n;
  void* p = mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    mapped_ = 0;
    return false;
  }
  base_ = static_cast<unsigned char*>(p);
  for (int i = 0; i < n; i++) mprotect(base_ + (size_t)i * slot_, page, PROT_NONE);
  count_ = n;
  return true;
}

void* StackPool::top(int i) const { return base_ + (size_t)(i + 1) * slot_; }

}  // namespace nc_emu
