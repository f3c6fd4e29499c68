// runtime_state.h — error state shared by the emulator's runtime (runtime.cpp) and scheduler.
#pragma once

#include <string>

#include "cuda_emu.h"

namespace nc_emu {

cudaError_t set_last_error(cudaError_t e);  // returns e
cudaError_t sticky_error();                 // cudaSuccess unless a kernel faulted
void set_sticky_error(cudaError_t e);
void set_fault(const std::string& message);
size_t max_dynamic_smem(const void* kernel);

}  // namespace nc_emu
