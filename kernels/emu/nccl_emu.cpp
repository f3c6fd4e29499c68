// nccl_emu.cpp — the emulated build's device communicator (see kernels/cuda/backend/nccl_comm.h): what
// NCCL does on a GPU, Gloo does here. The emulator's "device" memory is host memory and its stream runs
// on the host, so a collective drains the stream first (the work enqueued before it is done, as NCCL's
// stream order guarantees) and then runs on Gloo synchronously; the counts and buffer shapes are NCCL's.
#include <utility>

#include "cuda_emu.h"
#include "nccl_comm.h"

namespace nc::cu_backend {
namespace {

using nc::dist::Errc;
using nc::dist::ReduceOp;
using nc::dist::Status;

class EmuDeviceComm final : public DeviceComm {
 public:
  explicit EmuDeviceComm(std::unique_ptr<nc::dist::Communicator> host) : host_(std::move(host)) {}
  int rank() const override { return host_->rank(); }
  int world_size() const override { return host_->world_size(); }
  const char* transport() const override { return "gloo (emulated device)"; }

  Status all_reduce(float* data, size_t count, ReduceOp op, void* stream) override {
    DIST_TRY(drain(stream));
    return host_->all_reduce(data, count, op, nullptr);
  }
  Status all_reduce_f64(double* data, size_t count, ReduceOp op) override {
    return host_->all_reduce_f64(data, count, op);
  }
  Status reduce_scatter(float* in, float* out, size_t count, ReduceOp op, void* stream) override {
    DIST_TRY(drain(stream));
    return host_->reduce_scatter(in, out, count, op, nullptr);
  }
  Status all_gather(const float* in, float* out, size_t count, void* stream) override {
    DIST_TRY(drain(stream));
    return host_->all_gather(in, out, count, nullptr);
  }
  Status broadcast(float* data, size_t count, int root, void* stream) override {
    DIST_TRY(drain(stream));
    return host_->broadcast(data, count, root, nullptr);
  }
  Status barrier() override { return host_->barrier(); }
  Status synchronize(void* stream) override { return drain(stream); }

 private:
  static Status drain(void* stream) {
    const cudaError_t e = cudaStreamSynchronize(static_cast<cudaStream_t>(stream));
    if (e != cudaSuccess)
      return DIST_ERROR(Errc::kInternal, "cudaStreamSynchronize before a collective: %s", cudaGetErrorString(e));
    return Status::Ok();
  }
  std::unique_ptr<nc::dist::Communicator> host_;
};

}  // namespace

Status create_device_comm(std::unique_ptr<nc::dist::Communicator> host, std::chrono::milliseconds,
                          std::unique_ptr<DeviceComm>* out) {
  out->reset(new EmuDeviceComm(std::move(host)));
  return Status::Ok();
}

}  // namespace nc::cu_backend
