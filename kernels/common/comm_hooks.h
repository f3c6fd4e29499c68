// comm_hooks.h — the communicator hooks of backend.h for a backend whose NcComm (derived from
// nc::CommBase) owns its transport as `impl` (kernels/dist's Communicator or a class derived from it)
// and whose NcModel keeps its communicator as `comm` and its optimizer state as `opt`. Included once, by
// the backend's comm.cpp after its internal.h; that file defines NC_COMM_DIST first where the build links
// kernels/dist (and makes `impl`'s class complete). Only nc_model_dist_attach stays the backend's own.
#pragma once

#include "backend.h"

#ifdef NC_COMM_DIST
#include "abi_comm.h"
#endif

nc::CommBase* nc_comm_base(const NcComm* comm) { return const_cast<NcComm*>(comm); }

int32_t nc_comm_host_allreduce_sum(NcComm* comm, double* inout, int64_t n) {
#ifdef NC_COMM_DIST
  return nc::dist_abi::host_allreduce_sum(comm->ctx, comm->impl, inout, n);
#else
  return NC_OK;  // no transport: a world of one rank
#endif
}

int32_t nc_comm_host_barrier(NcComm* comm) {
#ifdef NC_COMM_DIST
  return nc::dist_abi::host_barrier(comm->ctx, comm->impl);
#else
  return NC_OK;  // no transport: a world of one rank
#endif
}

void nc_comm_release(NcComm* comm) {
  comm->ctx->live_comms--;
#ifdef NC_COMM_DIST
  delete comm->impl;
#endif
  delete comm;
}

NcComm** nc_model_comm(const NcModel* m) { return &const_cast<NcModel*>(m)->comm; }
bool nc_model_has_opt_state(const NcModel* m) { return m->opt.p != nullptr; }
